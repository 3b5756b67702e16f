using System.Collections.Immutable;
using System.Diagnostics;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Builtins;
using Trainyard.Runtime;
using Trainyard.Runtime.InMemory;
using Trainyard.Testing;
using static Trainyard.Testing.TestPipelines;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Notifications.Tests;

/// <summary>`notify:` webhooks against a real HTTP receiver on 127.0.0.1: body, signature, retries, never blocking a run.</summary>
public sealed class WebhookTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly WebhookReceiver _receiver = new();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ty-webhooks-" + Guid.NewGuid().ToString("N"));
    private readonly Dictionary<string, string> _settings = new(StringComparer.Ordinal) { ["ALERT_SECRET"] = "s3cret-for-tests" };
    private WebhookSender? _sender;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_sender is not null)
        {
            await _sender.DisposeAsync();
        }

        await _receiver.DisposeAsync();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private WebhookSender Sender(int maxAttempts = 4) => _sender = new WebhookSender(new WebhookSenderOptions
    {
        Settings = name => _settings.GetValueOrDefault(name),
        MaxAttempts = maxAttempts,
        InitialDelay = TimeSpan.FromMilliseconds(50),
        MaxDelay = TimeSpan.FromMilliseconds(200),
        RequestTimeout = TimeSpan.FromSeconds(2),
    });

    private NotifySpec Hook(params NotifyEvent[] on) => new() { Url = _receiver.Url, SecretFrom = "ALERT_SECRET", On = on.Length == 0 ? null : on };

    [Fact]
    public async Task AFailedRun_SendsASignedSlackAndTeamsUsableBody_RetryingServerErrorsWithBackoff()
    {
        _receiver.Answers.Enqueue(503);
        _receiver.Answers.Enqueue(500);
        var sender = Sender();
        var (engine, _) = Engine(sender);
        var request = Request("fails", [Step("ok", "echo"), Step("boom", "fail", new { message = "disk on fire" }, "ok")], s => s with { Notify = [Hook()] });

        var run = await RunAsync(engine, request);

        Assert.Equal(RunStatus.Failed, run.Status);
        var tries = new[] { await _receiver.NextAsync(Bound), await _receiver.NextAsync(Bound), await _receiver.NextAsync(Bound) };
        Assert.True(await _receiver.QuietForAsync(TimeSpan.FromMilliseconds(500)), "delivered again after a 200");
        Assert.All(tries, t => Assert.Equal(tries[0].Body, t.Body));
        Assert.Single(tries.Select(t => t.Headers[WebhookSender.DeliveryHeader]).Distinct());
        var last = tries[^1];
        Assert.Equal("POST", last.Method);
        Assert.Equal("run-failed", last.Headers[WebhookSender.EventHeader]);
        Assert.StartsWith("application/json", last.Headers["Content-Type"], StringComparison.Ordinal);
        Assert.Equal(WebhookSender.Sign("s3cret-for-tests", last.Headers[WebhookSender.TimestampHeader], last.Body), last.Headers[WebhookSender.SignatureHeader]);
        Assert.NotEqual(WebhookSender.Sign("another secret", last.Headers[WebhookSender.TimestampHeader], last.Body), last.Headers[WebhookSender.SignatureHeader]);
        using var body = JsonDocument.Parse(last.Body);
        var text = body.RootElement.GetProperty("text").GetString()!; // what Slack and Teams show
        Assert.Contains(run.RunId, text, StringComparison.Ordinal);
        Assert.Contains("failed", text, StringComparison.Ordinal);
        Assert.Equal("run-failed", body.RootElement.GetProperty("event").GetString());
        Assert.Equal("failed", body.RootElement.GetProperty("run").GetProperty("status").GetString());
        Assert.Contains("disk on fire", body.RootElement.GetProperty("run").GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AClientError_IsNotRetried_AndASucceededRunOnlyNotifiesWhenAskedTo()
    {
        _receiver.Answers.Enqueue(400);
        var sender = Sender();
        var (engine, _) = Engine(sender);

        var quiet = await RunAsync(engine, Request("quiet", [Step("a", "echo")], s => s with { Notify = [Hook()] }));
        var loud = await RunAsync(engine, Request("loud", [Step("a", "echo")], s => s with { Notify = [Hook(NotifyEvent.RunSucceeded)] }));

        Assert.Equal(RunStatus.Succeeded, quiet.Status);
        var got = await _receiver.NextAsync(Bound);
        Assert.Equal("run-succeeded", got.Headers[WebhookSender.EventHeader]);
        Assert.Contains(loud.RunId, got.Body, StringComparison.Ordinal);
        Assert.True(await sender.FlushAsync(Bound));
        Assert.True(await _receiver.QuietForAsync(TimeSpan.FromMilliseconds(500)), "a 400 was retried, or the default events included run-succeeded");
    }

    [Fact]
    public async Task AReceiverThatNeverAnswers_NeitherBlocksNorFailsTheRun()
    {
        _receiver.Hang = true;
        var sender = new WebhookSender(new WebhookSenderOptions { Settings = name => _settings.GetValueOrDefault(name), MaxAttempts = 3, RequestTimeout = TimeSpan.FromSeconds(30) });
        _sender = sender;
        var (engine, _) = Engine(sender);
        var watch = Stopwatch.StartNew();

        var first = await RunAsync(engine, Request("hang1", [Step("boom", "fail")], s => s with { Notify = [Hook()] }));
        var second = await RunAsync(engine, Request("hang2", [Step("boom", "fail")], s => s with { Notify = [Hook()] }));

        Assert.Equal(RunStatus.Failed, first.Status);
        Assert.Equal(RunStatus.Failed, second.Status);
        await _receiver.NextAsync(Bound); // the first delivery is hanging in the receiver right now
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"runs took {watch.Elapsed} with a hanging webhook");
        Assert.Equal(2, sender.Pending);
    }

    [Fact]
    public void StepNotify_QualityGateFailedAndDriftDetected_ComeFromTheStepsResults()
    {
        var spec = new PipelineSpec
        {
            Name = "retrain",
            Steps =
            [
                Step("watch", "drift") with { Notify = [Hook(NotifyEvent.DriftDetected)] },
                Step("gate", "quality-gate") with { Notify = [Hook()] },
                Step("other", "echo") with { Notify = [Hook()] },
            ],
            Notify = [Hook(NotifyEvent.QualityGateFailed)],
        };
        var run = new RunState
        {
            RunId = "r-1", PipelineName = "retrain", PipelineHash = "h", Status = RunStatus.Succeeded,
            Tasks = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new[]
            {
                TaskOf("watch", TaskStatus.Succeeded, new { drifted = true }),
                TaskOf("gate", TaskStatus.Succeeded, new { passed = false, failures = new[] { "auc >= 0.8: auc = 0.7" } }),
                TaskOf("other", TaskStatus.Succeeded, new { drifted = true, passed = false }),
            }.Select(t => KeyValuePair.Create(t.TaskKey, t))),
        };

        var alerts = RunAlerts.ForFinishedRun(spec, run);

        Assert.Equal(
            ["quality-gate-failed gate (pipeline)", "drift-detected watch (step)", "quality-gate-failed gate (step)"],
            alerts.Select(a => $"{NotifyEvents.NameOf(a.Event)} {JsonDocument.Parse(a.Body).RootElement.GetProperty("task").GetProperty("key").GetString()} ({(ReferenceEquals(a.Target, spec.Notify[0]) ? "pipeline" : "step")})"));
        Assert.Contains("auc >= 0.8: auc = 0.7", JsonDocument.Parse(alerts[0].Body).RootElement.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal(3, alerts.Select(a => a.DeliveryId).Distinct().Count());
        Assert.Equal(alerts.Select(a => a.DeliveryId), RunAlerts.ForFinishedRun(spec, run).Select(a => a.DeliveryId)); // stable for redeliveries
    }

    [Fact]
    public async Task RunStuck_IsSentOncePerRun_AfterStuckAfter_ByAnyNumberOfSweeps()
    {
        var sender = Sender();
        var marks = new InMemoryRunStore();
        var spec = new PipelineSpec { Name = "slow", Steps = [Step("a", "sleep")], Notify = [Hook(NotifyEvent.RunStuck) with { StuckAfter = TimeSpan.FromHours(1) }] };
        var started = new DateTimeOffset(2026, 12, 3, 8, 0, 0, TimeSpan.Zero);
        var run = new RunState { RunId = "slow-1", PipelineName = "slow", PipelineHash = "h", CreatedAt = started };

        var early = await WebhookNotifier.SweepStuckAsync(sender, [new RunWithSpec(run, spec)], marks, started.AddMinutes(59), CancellationToken.None);
        var late = await WebhookNotifier.SweepStuckAsync(sender, [new RunWithSpec(run, spec)], marks, started.AddMinutes(61), CancellationToken.None);
        var again = await WebhookNotifier.SweepStuckAsync(sender, [new RunWithSpec(run, spec)], marks, started.AddHours(5), CancellationToken.None);

        Assert.Equal((0, 1, 0), (early, late, again));
        var got = await _receiver.NextAsync(Bound);
        Assert.Equal("run-stuck", got.Headers[WebhookSender.EventHeader]);
        Assert.Contains("running for 1 h", got.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMissingSecretSetting_SendsNothingUnsigned()
    {
        var sender = Sender();
        var alert = RunAlerts.ForFinishedRun(
            new PipelineSpec { Name = "p", Notify = [new NotifySpec { Url = _receiver.Url, SecretFrom = "NOT_SET" }] },
            new RunState { RunId = "r", PipelineName = "p", PipelineHash = "h", Status = RunStatus.Failed });

        Assert.True(sender.TryEnqueue(Assert.Single(alert)));
        Assert.True(await sender.FlushAsync(Bound));
        Assert.True(await _receiver.QuietForAsync(TimeSpan.FromMilliseconds(300)));
    }

    private static TaskState TaskOf(string key, TaskStatus status, object outputs) => new()
    {
        TaskKey = key, StepId = key, Status = status, Attempt = 1,
        Result = new TaskResult { Outputs = JsonSerializer.SerializeToElement(outputs).EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone()) },
    };

    private (RunEngine Engine, InMemoryBackend Backend) Engine(WebhookSender sender)
    {
        var backend = new InMemoryBackend();
        RunEngine? engine = null;
        var notifier = new WebhookNotifier(sender, async (id, ct) =>
            await engine!.GetRunAsync(id, ct) is { } run ? new RunWithSpec(run, await engine.GetPipelineSpecAsync(run.PipelineHash, ct)) : null);
        engine = new RunEngine(backend, new RunEngineOptions
        {
            WorkRoot = Path.Combine(_dir, "work"),
            Executors = [new BuiltinExecutor(BuiltinStepRegistry.CreateStandard())],
            Notifiers = [notifier],
        });
        return (engine, backend);
    }

    private static async Task<RunState> RunAsync(RunEngine engine, StartRunRequest request)
    {
        using var cts = new CancellationTokenSource(Bound);
        var runId = await engine.StartRunAsync(request, cts.Token);
        var worker = new LocalWorker(engine, new LocalWorkerOptions { Workers = 2, MinIdleDelay = TimeSpan.FromMilliseconds(2), MaxIdleDelay = TimeSpan.FromMilliseconds(20), RunPollInterval = TimeSpan.FromMilliseconds(50) });
        return await worker.RunUntilCompleteAsync(runId, cts.Token);
    }
}
