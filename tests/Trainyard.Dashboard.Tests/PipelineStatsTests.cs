using System.Collections.Immutable;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using static Trainyard.Testing.TestPipelines;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Dashboard.Tests;

/// <summary>PipelineStats on hand-made run states: percentiles, the critical path and the advice it gives.</summary>
public sealed class PipelineStatsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    // prepare (10 s) -> [fast (1 s), slow (2 items of 15 s, one at a time)] -> join (2 s)
    private static readonly PipelineSpec Spec = new()
    {
        Name = "p",
        ContentHash = "h1",
        Steps =
        [
            Step("prepare", "echo"),
            Step("fast", "echo", null, "prepare"),
            Step("slow", "echo", null, "prepare") with { Foreach = new ForeachSpec { Items = System.Text.Json.JsonSerializer.SerializeToElement(new[] { 1, 2 }), MaxParallel = 1 } },
            Step("join", "echo", null, "fast", "slow"),
        ],
    };

    private static RunState Run(string id, RunStatus status, double scale = 1)
    {
        TaskState T(string key, string step, double start, double end, int? item = null, int attempt = 1) => new()
        {
            TaskKey = key, StepId = step, ItemIndex = item, Status = TaskStatus.Succeeded, Attempt = attempt,
            StartedAt = T0.AddSeconds(start * scale), FinishedAt = T0.AddSeconds(end * scale),
        };
        var tasks = new[]
        {
            T("prepare", "prepare", 0, 10), T("fast", "fast", 10, 11), T("slow", "slow", 10, 40),
            T("slow[0]", "slow", 10, 25, item: 0), T("slow[1]", "slow", 25, 40, item: 1, attempt: 2), T("join", "join", 40, 42),
        };
        return new RunState
        {
            RunId = id, PipelineName = "p", PipelineHash = "h1", Status = status, CreatedAt = T0, FinishedAt = T0.AddSeconds(42 * scale),
            Tasks = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, tasks.Select(t => KeyValuePair.Create(t.TaskKey, t))),
        };
    }

    [Fact]
    public void CriticalPath_FollowsTheNeedThatFinishedLast()
    {
        Assert.Equal(["prepare", "slow[1]", "join"], PipelineStats.CriticalPath(Spec, Run("r", RunStatus.Succeeded)).Select(t => t.TaskKey));
    }

    [Fact]
    public void Compute_GivesRatesPercentilesRetriesSharesAndAdvice()
    {
        RunState[] runs = [Run("r1", RunStatus.Succeeded), Run("r2", RunStatus.Succeeded, scale: 2), Run("r3", RunStatus.Failed), Run("old", RunStatus.Failed) with { CreatedAt = T0.AddDays(-40) }];

        var h = PipelineStats.Compute("p", runs, hash => hash == "h1" ? Spec : null, T0.AddDays(-30));

        Assert.Equal((3, 2, 1), (h.Runs, h.Succeeded, h.Failed));
        Assert.Equal(0.6667, h.SuccessRate);
        Assert.Equal(42, h.RunP50Seconds);
        Assert.Equal(84, h.RunP95Seconds);
        Assert.Equal(3, h.Retries); // slow[1] retried once in each of the three runs
        var slow = h.Steps.Single(s => s.Step == "slow");
        Assert.Equal(6, slow.Tasks); // items only: the foreach step's own task is not work
        Assert.Equal(["slow", "prepare", "join", "fast"], h.Steps.Select(s => s.Step));
        Assert.Equal(Math.Round(30.0 / 42, 4), slow.CriticalPathShare); // both items: the second queued behind the first
        Assert.Equal(Math.Round(10.0 / 42, 4), h.Steps[1].CriticalPathShare);
        Assert.Contains("foreach.maxParallel 1", slow.Advice, StringComparison.Ordinal);
        Assert.Contains("not cached", h.Steps[1].Advice, StringComparison.Ordinal);
        Assert.Null(h.Steps.Single(s => s.Step == "fast").Advice);
    }

    [Theory]
    [InlineData(new double[] { }, 0.5, null)]
    [InlineData(new double[] { 3 }, 0.95, 3.0)]
    [InlineData(new double[] { 4, 1, 3, 2 }, 0.5, 2.0)]
    [InlineData(new double[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 }, 0.95, 19.0)]
    public void Percentile_IsNearestRank(double[] values, double p, double? expected) => Assert.Equal(expected, PipelineStats.Percentile(values, p));
}
