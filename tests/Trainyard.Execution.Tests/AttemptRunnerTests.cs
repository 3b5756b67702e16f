using System.Collections.Concurrent;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Core.Steps;
using Trainyard.Execution.Artifacts;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Contracts;
using Trainyard.Runtime.InMemory;

namespace Trainyard.Execution.Tests;

/// <summary>
/// AttemptRunner.RunOnceAsync: an attempt's effects are exactly-once per dispatch id although the caller (a Durable
/// activity) is at-least-once. Side effects are counted by the step itself, not by log lines.
/// </summary>
public sealed class AttemptRunnerTests : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly InMemoryRunStore _store = new();
    private readonly InMemoryArtifactStore _artifacts = new();
    private readonly CountingStep _count = new();
    private readonly BlockingStep _block = new();
    private readonly string _work = Path.Combine(Path.GetTempPath(), "ty-attempt-" + Path.GetRandomFileName());

    public ValueTask DisposeAsync()
    {
        _block.Release.TrySetResult();
        if (Directory.Exists(_work))
        {
            Directory.Delete(_work, recursive: true);
        }

        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task RedeliveryAfterTheAttemptFinished_ReturnsTheStoredResult_WithoutRunningTheStepAgain()
    {
        var runner = Runner();
        var work = Work("count", "d-redeliver");

        var first = await runner.RunOnceAsync(work, null, Timeout());
        var second = await runner.RunOnceAsync(work, null, Timeout());
        var third = await Runner().RunOnceAsync(work, null, Timeout()); // another worker (process) gets the redelivery

        Assert.Equal(1, _count.Executions["d-redeliver"]);
        var ok = Assert.IsType<TaskOutcome.Succeeded>(first.Outcome);
        Assert.False(first.Redelivered);
        Assert.True(second.Redelivered);
        Assert.True(third.Redelivered);
        Assert.Equal(ok.Result.Outputs["executions"].GetInt32(), Assert.IsType<TaskOutcome.Succeeded>(third.Outcome).Result.Outputs["executions"].GetInt32());
    }

    [Fact]
    public async Task AFailedAttempt_IsStoredToo_SoARedeliveryReportsTheSameFailure()
    {
        var runner = Runner();
        var work = Work("fail", "d-fail") with { Inputs = new Dictionary<string, JsonElement> { ["message"] = JsonSerializer.SerializeToElement("boom") } };

        var first = await runner.RunOnceAsync(work, null, Timeout());
        var again = await runner.RunOnceAsync(work, null, Timeout());

        var f1 = Assert.IsType<TaskOutcome.Failed>(first.Outcome);
        var f2 = Assert.IsType<TaskOutcome.Failed>(again.Outcome);
        Assert.True(again.Redelivered);
        Assert.Equal(f1.Error, f2.Error);
        Assert.Equal(f1.Retryable, f2.Retryable);
    }

    [Fact]
    public async Task ADuplicateWhileTheAttemptRuns_WaitsForTheLiveClaim_AndGetsItsResult()
    {
        var work = Work("block", "d-busy");
        var original = Runner().RunOnceAsync(work, null, Timeout());
        await _block.Started.Task.WaitAsync(Bound);

        var duplicate = Runner().RunOnceAsync(work, null, Timeout());
        await Task.Delay(300);
        Assert.False(duplicate.IsCompleted); // it waits; it does not run the step a second time
        _block.Release.SetResult();

        var a = await original.WaitAsync(Bound);
        var b = await duplicate.WaitAsync(Bound);
        Assert.Equal(1, _block.Runs);
        Assert.IsType<TaskOutcome.Succeeded>(a.Outcome);
        Assert.IsType<TaskOutcome.Succeeded>(b.Outcome);
        Assert.True(b.Redelivered);
    }

    [Fact]
    public async Task AnAttemptWhoseHolderDied_RunsAgainOnceTheClaimExpires()
    {
        var work = Work("count", "d-dead");
        // A worker claimed the attempt and died: its claim is never renewed or marked done.
        var dead = new DispatchClaims(_store, TimeProvider.System, TimeSpan.FromMilliseconds(300));
        Assert.Equal(DispatchClaims.ClaimOutcome.Claimed, (await dead.TryClaimAsync("d-dead", "dead-worker", Timeout())).Outcome);

        var result = await Runner().RunOnceAsync(work, null, Timeout());

        Assert.IsType<TaskOutcome.Succeeded>(result.Outcome);
        Assert.False(result.Redelivered);
        Assert.Equal(1, _count.Executions["d-dead"]);
    }

    [Fact]
    public async Task AnAttemptWhoseCancelMarkerIsSet_DoesNotRun()
    {
        var runner = Runner();
        await runner.Claims.CancelAsync("d-cancelled", Timeout());

        var result = await runner.RunOnceAsync(Work("count", "d-cancelled"), null, Timeout());

        Assert.Null(result.Outcome);
        Assert.False(_count.Executions.ContainsKey("d-cancelled"));
    }

    [Fact]
    public async Task TheCancelMarkerSetWhileTheAttemptRuns_StopsIt_FromAnotherWorker()
    {
        var runner = Runner(heartbeat: TimeSpan.FromMilliseconds(50));
        var running = runner.RunOnceAsync(Work("block", "d-stop"), null, Timeout());
        await _block.Started.Task.WaitAsync(Bound);

        await Runner().Claims.CancelAsync("d-stop", Timeout()); // the marker, set by someone else

        var result = await running.WaitAsync(Bound);
        Assert.Null(result.Outcome);
        Assert.True(_block.SawCancel);
    }

    [Fact]
    public async Task TheTaskLog_IsStoredBesideTheOutputs_AndCutAtItsBound()
    {
        var runner = Runner(maxLog: 64);
        var work = Work("echo", "d-log") with
        {
            Inputs = new Dictionary<string, JsonElement> { ["message"] = JsonSerializer.SerializeToElement(new string('x', 200)) },
        };

        await runner.RunOnceAsync(work, null, Timeout());

        await using var log = await _artifacts.OpenReadAsync(work.OutputPrefix + "log.txt", Timeout());
        Assert.NotNull(log);
        var text = await new StreamReader(log!).ReadToEndAsync();
        Assert.Contains("[log cut: larger than 64 characters]", text, StringComparison.Ordinal);
    }

    private AttemptRunner Runner(TimeSpan? heartbeat = null, int maxLog = 1 << 20) => new(new AttemptRunnerOptions
    {
        Artifacts = _artifacts,
        Claims = _store,
        Executors = [new BuiltinExecutor(new BuiltinStepRegistry([.. BuiltinStepRegistry.Standard, _count, _block]))],
        WorkRoot = _work,
        ClaimDuration = TimeSpan.FromSeconds(heartbeat is null ? 30 : 1),
        HeartbeatInterval = heartbeat,
        MaxLogChars = maxLog,
        WorkerId = "test-" + Guid.NewGuid().ToString("N")[..6],
    });

    private static TaskWorkItem Work(string uses, string dispatchId) => new()
    {
        RunId = "run-1",
        TaskKey = "t",
        StepId = "t",
        Attempt = 1,
        DispatchId = dispatchId,
        PipelineName = "p",
        PipelineHash = "h",
        Executor = ExecutorKind.Builtin,
        Uses = uses,
    };

    private static CancellationToken Timeout() => new CancellationTokenSource(Bound).Token;

    private sealed class CountingStep : IBuiltinStep
    {
        public ConcurrentDictionary<string, int> Executions { get; } = new();

        public BuiltinStepInfo Info { get; } = new("count", "1", "Counts executions.") { AllowsExtraInputs = true };

        public Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            var n = Executions.AddOrUpdate(context.Work.DispatchId, 1, (_, v) => v + 1);
            return Task.FromResult(new TaskResult { Outputs = new Dictionary<string, JsonElement> { ["executions"] = JsonSerializer.SerializeToElement(n) } });
        }
    }

    private sealed class BlockingStep : IBuiltinStep
    {
        private int _runs;

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Runs => Volatile.Read(ref _runs);

        public bool SawCancel { get; private set; }

        public BuiltinStepInfo Info { get; } = new("block", "1", "Blocks until released.") { AllowsExtraInputs = true };

        public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _runs);
            Started.TrySetResult();
            try
            {
                await Release.Task.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                SawCancel = true;
                throw;
            }

            return new TaskResult();
        }
    }
}
