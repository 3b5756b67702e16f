using Trainyard.Core.Spec;


namespace Trainyard.Service.Tests;

public sealed class ScheduleEvaluatorTests
{
    private static readonly DateTimeOffset OutageStart = new(2026, 11, 23, 10, 30, 0, TimeSpan.Zero);

    private static ScheduleTriggerSpec Hourly(CatchUpPolicy policy, int max = 100) =>
        new() { Id = "hourly", Cron = "0 * * * *", CatchUp = policy, MaxCatchUp = max };

    [Theory]
    [InlineData(CatchUpPolicy.Latest, 1)]
    [InlineData(CatchUpPolicy.All, 3)]
    [InlineData(CatchUpPolicy.None, 0)]
    public void ThreeHourOutage_FollowsCatchUpPolicy(CatchUpPolicy policy, int expectedRuns)
    {
        var now = OutageStart.AddHours(3);
        var decision = ScheduleEvaluator.Evaluate(Hourly(policy), OutageStart, now);
        Assert.Equal(expectedRuns, decision.Due.Count);
        Assert.Equal(3 - expectedRuns, decision.Skipped);
        Assert.Equal(now, decision.Watermark);
        if (policy == CatchUpPolicy.Latest)
        {
            Assert.Equal(new DateTimeOffset(2026, 11, 23, 13, 0, 0, TimeSpan.Zero), decision.Due[0]);
        }
    }

    [Fact]
    public void AllPolicy_IsBoundedByMaxCatchUp_KeepingTheNewest()
    {
        var decision = ScheduleEvaluator.Evaluate(Hourly(CatchUpPolicy.All, max: 2), OutageStart, OutageStart.AddHours(3));
        Assert.Equal([OutageStart.AddMinutes(90), OutageStart.AddMinutes(150)], decision.Due);
    }

    [Fact]
    public void FirstEvaluation_StartsNothing_AndSetsWatermark()
    {
        var decision = ScheduleEvaluator.Evaluate(Hourly(CatchUpPolicy.All), null, OutageStart);
        Assert.Empty(decision.Due);
        Assert.Equal(OutageStart, decision.Watermark);
    }

    [Fact]
    public void OnTimeOccurrence_StartsUnderEveryPolicy()
    {
        var now = new DateTimeOffset(2026, 11, 23, 11, 0, 20, TimeSpan.Zero);
        foreach (var policy in Enum.GetValues<CatchUpPolicy>())
        {
            var decision = ScheduleEvaluator.Evaluate(Hourly(policy), now.AddMinutes(-1), now);
            Assert.Equal([new DateTimeOffset(2026, 11, 23, 11, 0, 0, TimeSpan.Zero)], decision.Due);
        }
    }

    [Fact]
    public void DailyInAmsterdam_FollowsDst()
    {
        var trigger = new ScheduleTriggerSpec { Id = "nightly", Cron = "0 2 * * *", TimeZone = "Europe/Amsterdam", CatchUp = CatchUpPolicy.All };
        var summer = ScheduleEvaluator.Evaluate(trigger, new DateTimeOffset(2026, 7, 1, 23, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 7, 2, 0, 1, 0, TimeSpan.Zero));
        var winter = ScheduleEvaluator.Evaluate(trigger, new DateTimeOffset(2026, 12, 1, 23, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 2, 1, 1, 0, TimeSpan.Zero));
        Assert.Equal([new DateTimeOffset(2026, 7, 2, 0, 0, 0, TimeSpan.Zero)], summer.Due);
        Assert.Equal([new DateTimeOffset(2026, 12, 2, 1, 0, 0, TimeSpan.Zero)], winter.Due);
    }

    [Theory]
    [InlineData("daily/{date}/*.csv", "daily/2026-11-22/a.csv", "2026-11-22")]
    [InlineData("daily/{date}/*.csv", "daily/2026-11-22/sub/a.csv", null)]
    [InlineData("**/{date}.csv", "x/y/2026.csv", "2026")]
    public void BlobPattern_MatchesWithCaptures(string glob, string path, string? date)
    {
        var captures = BlobPathPattern.Parse(glob).Match(path);
        Assert.Equal(date, captures?["date"]);
    }
}
