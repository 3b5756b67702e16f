using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Testing;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Engine.Durable.Tests;

/// <summary>
/// RunPipeline on the in-process Durable Task Framework host, running real built-in steps: the same scenarios on the
/// in-memory store and on Azure Storage (Azurite).
/// </summary>
public abstract class OrchestratorScenarios
{
    // 2,000 activities on Azurite take about a minute on an idle 2-core machine, and several times that on a busy one.
    private static readonly TimeSpan LargeRunLimit = TimeSpan.FromMinutes(10);

    private protected abstract Task<DurableHarness> StartAsync(RecordingActivities? activities = null);

    [Fact]
    public async Task Diamond_RunsEveryStepOnceAndPassesOutputsDown()
    {
        await using var h = await StartAsync();
        var output = await h.RunAsync(Pipelines.Diamond);

        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        Assert.All(output.State.Tasks.Values, t => Assert.Equal(TaskStatus.Succeeded, t.Status));
        Assert.Equal("top-b+top-c", output.State.Tasks["d"].Result!.Outputs["both"].GetString());
        Assert.Equal(4, h.Activities.Executions.Count);
        var finished = Assert.Single(h.Activities.Finished);
        Assert.Equal(RunStatus.Succeeded, finished.Status);
    }

    [Fact]
    public async Task AChain_RecordsOneRunSpan_InItsRunsTrace_HoweverOftenItsOrchestrationReplays()
    {
        var spans = new System.Collections.Concurrent.ConcurrentBag<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name == Trainyard.Execution.Telemetry.TrainyardTelemetry.Name,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        await using var h = await StartAsync();

        var runId = await h.StartAsync(Pipelines.Chain(6));
        var (_, output) = await h.WaitAsync(runId);

        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        var run = Assert.Single(spans, a => a.OperationName == "run chain" && (a.GetTagItem(Trainyard.Execution.Telemetry.TrainyardTelemetry.Tags.Run) as string) == runId);
        Assert.Equal(Trainyard.Execution.Telemetry.TrainyardTelemetry.TraceIdOf(runId), run.TraceId);
        Assert.Equal("succeeded", run.GetTagItem(Trainyard.Execution.Telemetry.TrainyardTelemetry.Tags.Outcome));
        Assert.Equal(6, run.GetTagItem("trainyard.tasks"));
        Assert.Equal(6, spans.Count(a => a.OperationName.StartsWith("attempt ", StringComparison.Ordinal) && run.TraceId == a.TraceId));
    }

    [Fact]
    public async Task FanOut_HonoursMaxParallel()
    {
        await using var h = await StartAsync();
        var output = await h.RunAsync(Pipelines.FanOutMaxParallel);

        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        Assert.Equal(7, h.Activities.Executions.Count);
        Assert.InRange(h.Activities.MaxInFlight, 1, 2);
    }

    [Fact]
    public async Task Retries_AreTheDecidersWithBackoffOnDurableTimers()
    {
        await using var h = await StartAsync();
        var output = await h.RunAsync(Pipelines.Retries);

        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        var flaky = output.State.Tasks["flaky"];
        Assert.Equal(3, flaky.Attempt);
        Assert.Equal(3, flaky.Result!.Outputs["attempt"].GetInt32());
        var attempts = h.Activities.Executions.Where(e => e.TaskKey == "flaky").OrderBy(e => e.Attempt).ToList();
        Assert.Equal([1, 2, 3], attempts.Select(a => a.Attempt));

        // Backoff 1 s then 2 s (jitter 0), on durable timers; no Durable retry policy adds attempts of its own.
        Assert.True(attempts[1].At - attempts[0].At >= TimeSpan.FromMilliseconds(950), $"first backoff {attempts[1].At - attempts[0].At}");
        Assert.True(attempts[2].At - attempts[1].At >= TimeSpan.FromMilliseconds(1950), $"second backoff {attempts[2].At - attempts[1].At}");
        Assert.Equal(3, attempts.Select(a => a.DispatchId).Distinct().Count());
    }

    [Fact]
    public async Task Timeout_CancelsTheRunningAttemptAndFailsTheStep()
    {
        await using var h = await StartAsync();
        var started = DateTimeOffset.UtcNow;
        var output = await h.RunAsync(Pipelines.Timeout, TimeSpan.FromSeconds(40));

        Assert.Equal(RunStatus.Failed, output.Status);
        var slow = output.State.Tasks["slow"];
        Assert.Equal(TaskStatus.Failed, slow.Status);
        Assert.Contains("timed out", slow.Message, StringComparison.Ordinal);
        Assert.Equal(TaskStatus.Cancelled, output.State.Tasks["after"].Status);

        // The 60 s sleep was stopped (by the attempt's own timeout or by the decider's timer and the cancel marker,
        // whichever came first), not waited out.
        Assert.True(DateTimeOffset.UtcNow - started < TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Approval_EventRaisedWhileWaiting_LetsTheGatedStepRun()
    {
        await using var h = await StartAsync();
        var runId = await h.StartAsync(Pipelines.Approval);
        var waiting = await h.WaitForProgressAsync(runId, p => p.Waiting.Contains("approval"));
        Assert.Equal(RunStatus.Running, waiting.Status);

        var payload = JsonSerializer.SerializeToElement(new { ok = true, by = "ops" });
        var signal = new RunSignal { Kind = RunSignal.Event, EventId = "approve-1", Name = "approval", Payload = payload };
        await h.Client.RaiseEventAsync(runId, DurableNames.SignalEvent, signal);
        await h.Client.RaiseEventAsync(runId, DurableNames.SignalEvent, signal);
        var (_, output) = await h.WaitAsync(runId);

        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        Assert.Equal(TaskStatus.Succeeded, output.State.Tasks["deploy"].Status);
        Assert.Equal("ops", output.State.Tasks["deploy"].Result!.Outputs["by"].GetString());
        Assert.Contains("approve-1", output.State.SeenEventIds);
    }

    [Fact]
    public async Task StartedWithItsSpecText_RunsWithoutLoadPipelineOrRunFinished_AndAMismatchedTextFailsTheRun()
    {
        await using var h = await StartAsync();
        var hash = h.Activities.Push(Pipelines.Diamond);
        var wrongHash = h.Activities.Push(Pipelines.Approval);
        async Task<RunPipelineOutput> Run(string runId, string pinned, string text)
        {
            var input = new RunPipelineInput { RunId = runId, PipelineName = "diamond", PipelineHash = pinned, SpecText = text };
            await h.Client.ScheduleNewOrchestrationInstanceAsync(DurableNames.RunPipeline, input, new Microsoft.DurableTask.StartOrchestrationOptions(runId));
            return (await h.WaitAsync(runId)).Output;
        }

        var ok = await Run("with-text", hash, Pipelines.Diamond);
        var mismatch = await Run("mismatch", wrongHash, Pipelines.Diamond);

        Assert.True(ok.Status == RunStatus.Succeeded, ok.Error);
        Assert.Equal(4, h.Activities.Executions.Count);
        Assert.Empty(h.Activities.LoadedVersions);
        Assert.Empty(h.Activities.Finished);
        Assert.Equal(RunStatus.Failed, mismatch.Status);
        Assert.Contains($"for version {wrongHash}", mismatch.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Approval_NotGivenBeforeTheGate_FailsTheGatedStepSayingWhy()
    {
        // The decider evaluates `when` once, when the step becomes ready: an event not raised by then has no value.
        await using var h = await StartAsync();
        var output = await h.RunAsync(Pipelines.Approval);

        Assert.Equal(RunStatus.Failed, output.Status);
        Assert.Equal(TaskStatus.Failed, output.State.Tasks["deploy"].Status);
        Assert.Contains("'events.approval.ok' has no value", output.State.Tasks["deploy"].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancel_StopsTheRunningAttemptAndCancelsTheRest()
    {
        await using var h = await StartAsync();
        var runId = await h.StartAsync(Pipelines.LongSleep);
        var live = await h.WaitForProgressAsync(runId, p => p.Running.Contains("slow"));
        await WaitUntilAsync(() => h.Activities.Executions.Any(e => e.TaskKey == "slow"));

        // The per-step states the dashboard draws live nodes from: what ran, what runs, nothing for what has not started.
        Assert.Equal(TaskStatus.Succeeded, live.Steps["first"].Status);
        Assert.True(live.Steps["slow"].Status is TaskStatus.Dispatched or TaskStatus.Running, live.Steps["slow"].Status.ToString());
        Assert.True(!live.Steps.TryGetValue("after", out var after) || after.Status == TaskStatus.Pending);

        await h.Client.RaiseEventAsync(runId, DurableNames.SignalEvent, new RunSignal { Kind = RunSignal.Cancel, EventId = "cancel-1", Reason = "test" });
        var (metadata, output) = await h.WaitAsync(runId, TimeSpan.FromSeconds(40));

        Assert.Equal(RunStatus.Cancelled, output.Status);
        Assert.Equal(TaskStatus.Cancelled, output.State.Tasks["slow"].Status);
        Assert.Equal(TaskStatus.Cancelled, output.State.Tasks["after"].Status);
        Assert.Single(h.Activities.Cancelled);
        Assert.Equal(RunStatus.Cancelled, metadata.ReadCustomStatusAs<RunProgress>()!.Status);
        Assert.Equal(RunStatus.Cancelled, Assert.Single(h.Activities.Finished).Status);
    }

    [Fact]
    public async Task When_False_SkipsTheStepAndItsDependents()
    {
        await using var h = await StartAsync();
        var output = await h.RunAsync(Pipelines.WhenSkip);

        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        Assert.Equal(TaskStatus.Skipped, output.State.Tasks["deploy"].Status);
        Assert.Contains("was false", output.State.Tasks["deploy"].Message, StringComparison.Ordinal);
        Assert.Equal(TaskStatus.Skipped, output.State.Tasks["notify"].Status);
        Assert.Single(h.Activities.Executions);
    }

    [Fact]
    public async Task OnFailureContinue_FailedStepDoesNotFailTheRun()
    {
        await using var h = await StartAsync();
        var output = await h.RunAsync(Pipelines.OnFailureContinue);

        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        Assert.Equal(TaskStatus.Failed, output.State.Tasks["optional"].Status);
        Assert.Equal(TaskStatus.Skipped, output.State.Tasks["dependent"].Status);
        Assert.Equal(TaskStatus.Succeeded, output.State.Tasks["independent"].Status);
    }

    [Fact]
    public async Task Foreach2000_CompletesWithHistoryBoundedIndependentOfTheFanOut()
    {
        await using var h = await StartAsync();
        var output = await h.RunAsync(Pipelines.Foreach(2000), LargeRunLimit);

        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        Assert.Equal(2000, output.State.Tasks["each"].Items);
        Assert.Equal(2000, output.State.Tasks["done"].Result!.Outputs["count"].GetArrayLength());
        Assert.Equal(2002, h.Activities.Executions.Count);

        var largest = h.Host.History.Largest!;
        ForeachReport.Record($"{GetType().Name} foreach 2000 (chunks): largest history {largest.Events} events ({largest.Name}), instances {h.Host.History.Instances.Count}");
        Assert.True(largest.Events <= DurableLimits.HistoryBound + 2 * DurableLimits.ChunkSize + 50, $"largest history {largest.Events} events in {largest.InstanceId}");
    }

    [Fact]
    public async Task Foreach600StartedWithItsSpecText_GoesOutInChunksOf250_WithEveryHistoryBounded()
    {
        await using var h = await StartAsync();
        var runId = await h.StartAsync(Pipelines.Foreach(600), withSpecText: true);
        var output = (await h.WaitAsync(runId, LargeRunLimit)).Output;

        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        Assert.Equal(602, h.Activities.Executions.Count);
        var chunks = h.Host.History.Instances.Values.Where(i => i.Name == DurableNames.RunTaskChunk).ToList();
        Assert.Equal(3, chunks.Count); // 250 + 250 + 100
        var largest = h.Host.History.Largest!;
        Assert.True(largest.Events <= DurableLimits.HistoryBound + 2 * DurableLimits.LargeChunkSize + 50, $"largest history {largest.Events} events in {largest.InstanceId}");
    }

    [Fact]
    public async Task Foreach2000OneAtATime_ContinuesAsNewAndKeepsEveryHistoryBounded()
    {
        // foreach.maxParallel makes every round dispatch a single item: no chunks, so the orchestrator's own history
        // would grow with the fan-out; it continues as new instead, carrying the decider's state.
        await using var h = await StartAsync();
        var runId = await h.StartAsync(Pipelines.Foreach(2000, maxParallel: 8));
        var (metadata, output) = await h.WaitAsync(runId, LargeRunLimit);

        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        Assert.Equal(2000, output.State.Tasks["each"].Items);
        Assert.All(output.State.Tasks.Values, t => Assert.Equal(TaskStatus.Succeeded, t.Status));
        Assert.InRange(h.Activities.MaxInFlight, 1, 8);
        var executions = h.Activities.Executions.ToList();
        Assert.Equal(2002, executions.Select(e => e.DispatchId).Distinct().Count());

        var progress = metadata.ReadCustomStatusAs<RunProgress>()!;
        Assert.True(progress.Generation >= 2, $"generation {progress.Generation}");
        var largest = h.Host.History.Largest!;
        ForeachReport.Record($"{GetType().Name} foreach 2000 maxParallel 8 (continue-as-new, {progress.Generation} generations): largest history {largest.Events} events ({largest.Name})");
        Assert.True(largest.Events <= DurableLimits.HistoryBound + 100, $"largest history {largest.Events} events in {largest.InstanceId}");
    }

    [Fact]
    public async Task SignalsSentAcrossContinueAsNew_AreAllApplied()
    {
        // A run that continues as new many times, and events raised all along until it has: none may be lost between
        // generations. The run ends with a 2 s step, so every event sent while the foreach runs arrives in time.
        await using var h = await StartAsync();
        var runId = await h.StartAsync(Pipelines.ForeachThenSleep(800, maxParallel: 4, sleep: "2s"));
        var sent = new List<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        for (int i = 0; i < 400; i++)
        {
            var id = $"note-{i}";
            await h.Client.RaiseEventAsync(runId, DurableNames.SignalEvent, new RunSignal { Kind = RunSignal.Event, EventId = id, Name = $"note{i % 5}", Payload = JsonSerializer.SerializeToElement(i) }, timeout.Token);
            sent.Add(id);
            await Task.Delay(15, timeout.Token);
            if (i % 10 == 9 && (await h.Client.GetInstanceAsync(runId, timeout.Token))?.ReadCustomStatusAs<RunProgress>() is { Generation: >= 2 })
            {
                break;
            }
        }

        var (metadata, output) = await h.WaitAsync(runId, TimeSpan.FromMinutes(3));

        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        Assert.True(metadata.ReadCustomStatusAs<RunProgress>()!.Generation >= 1);
        Assert.True(sent.Count >= 20, $"{sent.Count} signals sent");
        Assert.Empty(sent.Except(output.State.SeenEventIds));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(20, timeout.Token);
        }
    }
}

/// <summary>The scenarios on the in-memory task hub.</summary>
public sealed class MemoryOrchestratorTests : OrchestratorScenarios
{
    private protected override Task<DurableHarness> StartAsync(RecordingActivities? activities = null)
        => DurableHarness.StartAsync(StoreKind.Memory, null, activities);

    [Fact]
    public async Task Foreach2000WithATimeoutEach_KeepsTimersOutOfTheHistory()
    {
        // 2,000 timeout timers: the decider's timers are data, one durable alarm wakes the run for the earliest. (Memory
        // only: the alarm does not depend on the store, and Azurite's timer behaviour is covered by the retry tests.)
        await using var h = await StartAsync();
        var output = await h.RunAsync(Pipelines.Foreach(2000, timeout: "10m"), TimeSpan.FromMinutes(5));

        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        Assert.Equal(2000, output.State.Tasks["each"].Items);
        var run = h.Host.History.Instances[output.State.RunId];
        Assert.True(run.Events < 200, $"RunPipeline history {run.Events} events");
        Assert.True(h.Host.History.Largest!.Events <= DurableLimits.HistoryBound, $"largest history {h.Host.History.Largest}");
    }
}

/// <summary>The scenarios on Azure Storage (Azurite), a fresh task hub per test.</summary>
[NeedsAzurite]
public sealed class AzuriteOrchestratorTests(AzuriteFixture azurite) : OrchestratorScenarios, IClassFixture<AzuriteFixture>
{
    private protected override Task<DurableHarness> StartAsync(RecordingActivities? activities = null)
        => DurableHarness.StartAsync(StoreKind.Azurite, azurite, activities);
}

/// <summary>Measured history sizes, written to the test output folder for the report.</summary>
internal static class ForeachReport
{
    private static readonly Lock Gate = new();

    public static void Record(string line)
    {
        lock (Gate)
        {
            File.AppendAllText(Path.Combine(AppContext.BaseDirectory, "history-sizes.txt"), $"{DateTimeOffset.UtcNow:O} {line}\n");
        }
    }
}
