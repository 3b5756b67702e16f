using System.Text.Json;
using Trainyard.Execution.Contracts;

namespace Trainyard.Service.Tests;

/// <summary>The trigger handlers over a real Durable client: duplicate deliveries start one run; bad payloads start nothing.</summary>
public sealed class TriggerTests(DurableHost durable) : IClassFixture<DurableHost>
{
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

    private const string BlobPipeline = """
        name: ingest
        params:
          date:
            type: string
            default: none
        triggers:
          - type: blob
            id: arrivals
            container: data
            path: "daily/{date}/*.csv"
        steps:
          - id: hello
            uses: echo
            with:
              message: "${{ params.date }}"
        """;

    [Fact]
    public async Task ScheduleTick_RepeatedAndConcurrent_StartsEachScheduledRunOnce()
    {
        var app = new ServiceHarness(durable, start: new DateTimeOffset(2026, 11, 23, 10, 30, 0, TimeSpan.Zero));
        await app.PushAsync(CronPipeline);
        var first = await app.Triggers.OnScheduleAsync(CancellationToken.None);
        app.Clock.Advance(TimeSpan.FromHours(3));

        var ticks = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => app.Triggers.OnScheduleAsync(CancellationToken.None)));
        var last = await app.Triggers.OnScheduleAsync(CancellationToken.None);

        Assert.Empty(first.Runs);
        Assert.All(ticks.Append(last), r => Assert.Empty(r.Failures));
        var runs = await app.RunsAsync("hourly");
        Assert.Equal(3, runs.Count);
        Assert.All(runs, r => Assert.Equal("schedule", r.Trigger!.Kind));
        Assert.Equal(
            ["2026-11-23T11:00:00Z", "2026-11-23T12:00:00Z", "2026-11-23T13:00:00Z"],
            runs.Select(r => r.Trigger!.Detail["scheduledTime"]).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task SameBlobEvent_TwiceAndConcurrently_StartsOneRun_WithTheCapturedParam()
    {
        var app = new ServiceHarness(durable);
        await app.PushAsync(BlobPipeline);
        var blob = new BlobArrival("data", "daily/2026-11-22/a.csv", "0x8DDE1", null);

        var reports = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => app.Triggers.OnBlobAsync(blob, CancellationToken.None)));
        var again = await app.Triggers.OnBlobAsync(blob, CancellationToken.None);

        var run = Assert.Single(await app.RunsAsync("ingest"));
        Assert.All(reports.Append(again), r => Assert.Equal([run.RunId], r.Runs));
        Assert.Equal(("blob", "0x8DDE1"), (run.Trigger!.Kind, run.Trigger.Detail["etag"]));
        var started = await durable.WaitRunningAsync(run.RunId);
        Assert.Contains("\"date\":\"2026-11-22\"", started.SerializedInput, StringComparison.Ordinal);

        // A new version of the same blob (new ETag) is new data: a second run.
        await app.Triggers.OnBlobAsync(blob with { ETag = "0x8DDE2" }, CancellationToken.None);
        Assert.Equal(2, (await app.RunsAsync("ingest")).Count);
    }

    [Fact]
    public async Task BlobMatchingNoTrigger_StartsNothing_AndSaysSo()
    {
        var app = new ServiceHarness(durable);
        await app.PushAsync(BlobPipeline);

        var report = await app.Triggers.OnBlobAsync(new BlobArrival("data", "weekly/x.csv", "0x1", null), CancellationToken.None);

        Assert.Empty(report.Runs);
        Assert.Contains(report.Lines, l => l.Contains("matches no blob trigger", StringComparison.Ordinal));
        Assert.Empty(await app.RunsAsync("ingest"));
    }

    [Fact]
    public async Task BurstOfBlobs_WithinDebounceWindow_StartsOneRunWhenTheWindowCloses()
    {
        var app = new ServiceHarness(durable);
        await app.PushAsync("""
            name: drops
            triggers:
              - type: blob
                id: arrivals
                container: data
                path: "drops/*.csv"
                debounce: 2m
            steps:
              - { id: hello, uses: echo, with: { message: hi } }
            """);

        foreach (var i in Enumerable.Range(1, 5))
        {
            var joined = await app.Triggers.OnBlobAsync(new BlobArrival("data", $"drops/part-{i}.csv", $"0x{i}", null), CancellationToken.None);
            Assert.Contains(joined.Lines, l => l.Contains("joined debounce window", StringComparison.Ordinal));
            app.Clock.Advance(TimeSpan.FromSeconds(10));
        }

        var duplicate = await app.Triggers.OnBlobAsync(new BlobArrival("data", "drops/part-5.csv", "0x5", null), CancellationToken.None);
        Assert.Contains(duplicate.Lines, l => l.Contains("duplicate event ignored", StringComparison.Ordinal));
        await app.Triggers.OnScheduleAsync(CancellationToken.None);
        Assert.Empty(await app.RunsAsync("drops"));

        app.Clock.Advance(TimeSpan.FromMinutes(2));
        var closed = await app.Triggers.OnScheduleAsync(CancellationToken.None);
        await app.Triggers.OnScheduleAsync(CancellationToken.None);

        var run = Assert.Single(await app.RunsAsync("drops"));
        Assert.Equal([run.RunId], closed.Runs);
        Assert.Equal(("5", "drops/part-1.csv"), (run.Trigger!.Detail["blobCount"], run.Trigger.Detail["firstPath"]));
    }

    [Fact]
    public async Task SameDriftSignal_TwiceAndConcurrently_StartsOneRun()
    {
        var app = new ServiceHarness(durable);
        await app.PushAsync(TestSpecs.DriftPipeline);

        var reports = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => app.Triggers.OnDriftAsync(TestSpecs.Signal(0.31, "msg-42"), CancellationToken.None)));

        var run = Assert.Single(await app.RunsAsync("retrain"));
        Assert.All(reports, r => Assert.Equal([run.RunId], r.Runs));
        Assert.Equal("msg-42", run.Trigger!.Detail["messageId"]);
    }

    [Fact]
    public async Task DriftSignalStorm_StartsOneRetrainingWithinTheCooldown_AndAnotherAfterIt()
    {
        var app = new ServiceHarness(durable);
        await app.PushAsync(TestSpecs.DriftPipeline);
        for (int i = 0; i < 5; i++)
        {
            await app.Triggers.OnDriftAsync(TestSpecs.Signal(0.3 + (i / 100.0), $"storm-{i}"), CancellationToken.None);
        }

        Assert.Single(await app.RunsAsync("retrain"));
        app.Clock.Advance(TimeSpan.FromHours(7));
        await app.Triggers.OnDriftAsync(TestSpecs.Signal(0.5, "after-cooldown"), CancellationToken.None);
        Assert.Equal(2, (await app.RunsAsync("retrain")).Count);
    }

    [Fact]
    public async Task DriftSignalBelowThreshold_StartsNothing()
    {
        var app = new ServiceHarness(durable);
        await app.PushAsync(TestSpecs.DriftPipeline);

        var report = await app.Triggers.OnDriftAsync(TestSpecs.Signal(0.1, "low"), CancellationToken.None);

        Assert.Contains(report.Lines, l => l.Contains("below the trigger threshold", StringComparison.Ordinal));
        Assert.Empty(await app.RunsAsync("retrain"));
    }

    [Theory]
    [InlineData("""{"model":"churn","metric":"psi"}""", "'value' is missing", "feature")]
    [InlineData("""{"model":"churn","feature":"f","metric":"psi","value":"high","threshold":0.2,"window":"w","source":"s"}""", "'value' must be a finite number", "value")]
    [InlineData("""[1,2]""", "not a JSON object", "body")]
    [InlineData("""{not json""", "not JSON", "body")]
    public void MalformedDriftSignal_RefusedWithTheFieldsAtFault(string body, string reason, string field)
    {
        var queue = Assert.Throws<TriggerPayloadException>(() => DriftSignalReader.ReadQueue(body, "q-1"));
        var bus = Assert.Throws<TriggerPayloadException>(() => DriftSignalReader.ReadServiceBus(BinaryData.FromString(body), "m-1"));

        Assert.Contains(reason, queue.Message, StringComparison.Ordinal);
        Assert.Contains(field, queue.Field.Split(','));
        Assert.Equal(queue.Message, bus.Message);
    }

    [Fact]
    public void DriftSignalIds_ServiceBusMessageIdWins_QueueBodyIdWins()
    {
        var body = JsonSerializer.Serialize(new { signalId = "body-id", model = "m", feature = "f", metric = "psi", value = 0.3, threshold = 0.2, window = "w", source = "s" });

        Assert.Equal("sb-id", DriftSignalReader.ReadServiceBus(BinaryData.FromString(body), "sb-id").SignalId);
        Assert.Equal("body-id", DriftSignalReader.ReadQueue(body, "queue-id").SignalId);
        Assert.Equal("queue-id", DriftSignalReader.ReadQueue(body.Replace("\"signalId\":\"body-id\",", "", StringComparison.Ordinal), "queue-id").SignalId);
        var none = Assert.Throws<TriggerPayloadException>(() => DriftSignalReader.ReadServiceBus(BinaryData.FromString(body.Replace("\"signalId\":\"body-id\",", "", StringComparison.Ordinal)), null));
        Assert.Equal("signalId", none.Field);
    }

    [Fact]
    public async Task TriggerParamsThatDoNotFitThePipeline_StartNothing_AndSayWhy()
    {
        var app = new ServiceHarness(durable);
        await app.PushAsync("""
            name: typed
            params:
              rows:
                type: integer
            triggers:
              - type: blob
                id: arrivals
                container: data
                path: "in/{rows}.csv"
            steps:
              - { id: hello, uses: echo, with: { message: hi } }
            """);

        var report = await app.Triggers.OnBlobAsync(new BlobArrival("data", "in/many.csv", "0x1", null), CancellationToken.None);

        Assert.Empty(report.Runs);
        Assert.Empty(report.Failures);
        Assert.Contains(report.Lines, l => l.Contains("params rejected", StringComparison.Ordinal) && l.Contains("rows", StringComparison.Ordinal));
        Assert.Empty(await app.RunsAsync("typed"));
    }

    [Fact]
    public async Task Upkeep_ReportsRunsWithoutProgress_OnceEveryInterval_AndSkipsRunsWaitingForApproval()
    {
        var app = new ServiceHarness(durable, new TriggerOptions { StuckRunningAfter = TimeSpan.FromHours(1), Retention = null });
        var pipeline = await app.PushAsync(TestSpecs.DriftPipeline);
        await app.Triggers.OnDriftAsync(TestSpecs.Signal(0.3, "quiet"), CancellationToken.None);
        var quiet = Assert.Single(await app.RunsAsync("retrain")).RunId;
        await durable.WaitRunningAsync(quiet);
        app.Clock.Advance(TimeSpan.FromHours(7));
        await app.Triggers.OnDriftAsync(TestSpecs.Signal(0.3, "waiting"), CancellationToken.None);
        var waiting = (await app.RunsAsync("retrain")).Single(r => r.RunId != quiet).RunId;
        await durable.WaitRunningAsync(waiting);
        await durable.Runs.RaiseEventAsync(waiting, "approve", JsonSerializer.SerializeToElement(1), "a1", CancellationToken.None);
        await durable.WaitAsync(waiting, m => m.SerializedCustomStatus?.Contains("approve", StringComparison.Ordinal) == true);
        app.Clock.Advance(TimeSpan.FromHours(2));

        var first = await app.Triggers.OnScheduleAsync(CancellationToken.None);
        var second = await app.Triggers.OnScheduleAsync(CancellationToken.None);

        var stuck = first.Stuck.Where(r => r.Pipeline == pipeline).Select(r => r.RunId).ToList();
        Assert.Equal([quiet], stuck);
        Assert.Contains(first.Lines, l => l.Contains($"run {quiet}", StringComparison.Ordinal) && l.Contains("no progress since", StringComparison.Ordinal));
        Assert.Empty(second.Stuck);
    }

    [Fact]
    public async Task Upkeep_SendsRunStuck_OnceForARunPastStuckAfter()
    {
        await using var hook = new Trainyard.Testing.WebhookReceiver();
        await using var webhooks = new Trainyard.Notifications.WebhookSender();
        var app = new ServiceHarness(durable, new TriggerOptions { Retention = null, Webhooks = webhooks });
        var pipeline = await app.PushAsync(TestSpecs.DriftPipeline.Replace("steps:", $"notify:\n  - url: {hook.Url}\n    on: [run-stuck]\n    stuckAfter: 1h\nsteps:", StringComparison.Ordinal));
        await app.Triggers.OnDriftAsync(TestSpecs.Signal(0.3, "slow"), CancellationToken.None);
        var slow = Assert.Single(await app.RunsAsync("retrain")).RunId;
        await durable.WaitRunningAsync(slow);

        app.Clock.Advance(TimeSpan.FromMinutes(30));
        var early = await app.Triggers.OnScheduleAsync(CancellationToken.None);
        app.Clock.Advance(TimeSpan.FromHours(1));
        var late = await app.Triggers.OnScheduleAsync(CancellationToken.None);
        app.Clock.Advance(TimeSpan.FromMinutes(20));
        var again = await app.Triggers.OnScheduleAsync(CancellationToken.None);

        Assert.DoesNotContain(early.Lines, l => l.StartsWith("run-stuck", StringComparison.Ordinal));
        Assert.Contains("run-stuck: 1 alert(s) sent", late.Lines);
        Assert.DoesNotContain(again.Lines, l => l.StartsWith("run-stuck", StringComparison.Ordinal));
        var alert = Assert.Single(hook.Snapshot());
        Assert.Contains("\"event\":\"run-stuck\"", alert.Body, StringComparison.Ordinal);
        Assert.Contains(slow, alert.Body, StringComparison.Ordinal);
        Assert.Contains(pipeline, alert.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upkeep_PurgesFinishedRunsOlderThanTheRetention()
    {
        var app = new ServiceHarness(durable, new TriggerOptions { Retention = TimeSpan.FromDays(30) });
        await app.PushAsync(TestSpecs.DriftPipeline);
        await app.Triggers.OnDriftAsync(TestSpecs.Signal(0.3, "old"), CancellationToken.None);
        var old = Assert.Single(await app.RunsAsync("retrain")).RunId;
        await durable.WaitRunningAsync(old);
        await durable.Runs.RaiseEventAsync(old, "succeed", JsonSerializer.SerializeToElement(1), "s1", CancellationToken.None);
        await durable.WaitFinishedAsync(old);
        app.Clock.Advance(TimeSpan.FromDays(31));

        var report = await app.Triggers.OnScheduleAsync(CancellationToken.None);

        Assert.True(report.Purged >= 1, string.Join("\n", report.Lines));
        Assert.Null(await durable.Client.GetInstanceAsync(old));
        Assert.Contains(report.Lines, l => l.StartsWith("purge:", StringComparison.Ordinal));
    }
}
