namespace Trainyard.FunctionApp.Tests;

public sealed class IdempotencyTests
{
    private const string DriftPipeline = """
        name: retrain
        triggers:
          - type: drift
            id: drifted
            model: churn
            metric: psi
            threshold: 0.2
            cooldown: 6h
        steps:
          - id: hello
            uses: echo
            with:
              message: retrain
        """;

    private const string CronPipeline = """
        name: hourly
        triggers:
          - type: schedule
            id: every-hour
            cron: "0 * * * *"
            catchUp: all
        steps:
          - id: hello
            uses: echo
            with:
              message: tick
        """;

    private static string Signal(double value) =>
        $$"""{"model":"churn","feature":"tenure","metric":"psi","value":{{value.ToString(System.Globalization.CultureInfo.InvariantCulture)}},"threshold":0.2,"window":"2026-11-22/P1D","source":"monitor"}""";

    [Fact]
    public async Task SameServiceBusMessage_TwiceAndConcurrently_StartsOneRun()
    {
        await using var app = await AppHarness.StartAsync();
        await app.PushAsync(DriftPipeline);
        var payload = Payloads.ServiceBus(Signal(0.31), "msg-42");
        var results = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => app.InvokeAsync("OnDriftSignal", payload)));
        Assert.All(results, r => Assert.Equal(200, r.Status));
        Assert.Single(await app.RunsAsync("retrain"));
    }

    [Fact]
    public async Task SignalStorm_DifferentMessages_StartsOneRetraining_WithinCooldown()
    {
        await using var app = await AppHarness.StartAsync();
        await app.PushAsync(DriftPipeline);
        for (int i = 0; i < 5; i++)
        {
            var (status, _) = await app.InvokeAsync("OnDriftSignal", Payloads.ServiceBus(Signal(0.3 + (i / 100.0)), $"storm-{i}"));
            Assert.Equal(200, status);
        }

        Assert.Single(await app.RunsAsync("retrain"));
        app.Clock.Advance(TimeSpan.FromHours(7));
        await app.InvokeAsync("OnDriftSignal", Payloads.ServiceBus(Signal(0.5), "after-cooldown"));
        Assert.Equal(2, (await app.RunsAsync("retrain")).Count);
    }

    [Fact]
    public async Task SignalBelowThreshold_StartsNothing()
    {
        await using var app = await AppHarness.StartAsync();
        await app.PushAsync(DriftPipeline);
        var (status, _) = await app.InvokeAsync("OnDriftSignal", Payloads.ServiceBus(Signal(0.1), "low"));
        Assert.Equal(200, status);
        Assert.Empty(await app.RunsAsync("retrain"));
    }

    [Fact]
    public async Task TimerFiring_RepeatedAndConcurrent_StartsEachScheduledRunOnce()
    {
        await using var app = await AppHarness.StartAsync();
        await app.PushAsync(CronPipeline);
        await app.InvokeAsync("OnSchedule", Payloads.Timer());
        app.Clock.Advance(TimeSpan.FromHours(3));
        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => app.InvokeAsync("OnSchedule", Payloads.Timer(pastDue: true))));
        Assert.All(results, r => Assert.Equal(200, r.Status));
        await app.InvokeAsync("OnSchedule", Payloads.Timer());
        Assert.Equal(3, (await app.RunsAsync("hourly")).Count);
    }
}
