using System.Collections.Concurrent;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Builtins;
using Trainyard.Runtime.Contracts;
using Trainyard.Runtime.InMemory;
using static Trainyard.Testing.TestPipelines;
using Trainyard.Execution.Contracts;

namespace Trainyard.Runtime.Tests;

/// <summary>The engine tells remote executors (IRemoteTaskExecutor) about cancelled attempts and finished runs.</summary>
public sealed class RemoteExecutorTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "trainyard-remote-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task CancelledRun_StopsTheRemoteAttemptBetweenPolls_AndReleasesTheRun()
    {
        var remote = new FakeRemoteExecutor(pollsBeforeDone: int.MaxValue);
        var engine = Engine(remote);
        using var cts = new CancellationTokenSource(Limit);
        var runId = await engine.StartRunAsync(Request("remote-cancel", [Step("train", "echo") with { Executor = ExecutorKind.Batch }], runId: "remote-cancel-1"), cts.Token);
        using var stopWorker = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        var worker = Worker(engine).RunAsync(stopWorker.Token);
        while (remote.Calls < 3)
        {
            await Task.Delay(10, cts.Token);
        }

        await engine.CancelRunAsync(runId, "stop", cts.Token);
        while (remote.Cancelled.IsEmpty || remote.Finished.IsEmpty)
        {
            await Task.Delay(10, cts.Token);
        }

        await stopWorker.CancelAsync();
        await IgnoreCancelAsync(worker);
        var dispatch = (await engine.GetRunAsync(runId, cts.Token))!.Tasks["train"].DispatchId;
        Assert.Equal([dispatch!], remote.Cancelled.Distinct());
        Assert.Equal(("remote-cancel-1", RunStatus.Cancelled), Assert.Single(remote.Finished));
    }

    [Fact]
    public async Task FinishedRun_WithARemoteStep_IsReleasedOnce_AndRunsWithoutOneAreNot()
    {
        var remote = new FakeRemoteExecutor(pollsBeforeDone: 2);
        var engine = Engine(remote);
        using var cts = new CancellationTokenSource(Limit);
        var withRemote = await engine.StartRunAsync(Request("remote-done", [Step("train", "echo") with { Executor = ExecutorKind.Batch }], runId: "remote-done-1"), cts.Token);
        var state = await Worker(engine).RunUntilCompleteAsync(withRemote, cts.Token);
        Assert.Equal(RunStatus.Succeeded, state.Status);
        var without = await engine.StartRunAsync(Request("local-only", [Step("a", "echo")], runId: "local-only-1"), cts.Token);
        Assert.Equal(RunStatus.Succeeded, (await Worker(engine).RunUntilCompleteAsync(without, cts.Token)).Status);

        Assert.Equal(("remote-done-1", RunStatus.Succeeded), Assert.Single(remote.Finished));
        Assert.Empty(remote.Cancelled);
    }

    [Fact]
    public async Task RunUntilComplete_WaitsForTheRunFinishedDelivery_SoASlowReleaseIsNotCutShort()
    {
        var remote = new FakeRemoteExecutor(pollsBeforeDone: 0) { ReleaseDelay = TimeSpan.FromMilliseconds(600) };
        var engine = Engine(remote);
        using var cts = new CancellationTokenSource(Limit);
        var runId = await engine.StartRunAsync(Request("remote-slow", [Step("train", "echo") with { Executor = ExecutorKind.Batch }], runId: "remote-slow-1"), cts.Token);

        var state = await new LocalWorker(engine, new LocalWorkerOptions { Workers = 2, MinIdleDelay = TimeSpan.FromMilliseconds(2), RunPollInterval = TimeSpan.FromMilliseconds(10) })
            .RunUntilCompleteAsync(runId, cts.Token);

        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal(("remote-slow-1", RunStatus.Succeeded), Assert.Single(remote.Released));
        Assert.Empty((await engine.Backend.Store.LoadAsync(runId, cts.Token))!.PendingOutbox);
    }

    [Fact]
    public async Task RemoteExecutorThatThrowsOnRelease_DoesNotBlockTheRun()
    {
        var remote = new FakeRemoteExecutor(pollsBeforeDone: 0) { FailRelease = true };
        var engine = Engine(remote);
        using var cts = new CancellationTokenSource(Limit);
        var runId = await engine.StartRunAsync(Request("remote-fail", [Step("train", "echo") with { Executor = ExecutorKind.Batch }], runId: "remote-fail-1"), cts.Token);
        var state = await Worker(engine).RunUntilCompleteAsync(runId, cts.Token);
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Single(remote.Finished);
    }

    private RunEngine Engine(ITaskExecutor remote) => new(new InMemoryBackend(), new RunEngineOptions
    {
        WorkRoot = Path.Combine(_dir, "work"),
        Executors = [new BuiltinExecutor(BuiltinStepRegistry.CreateStandard()), remote],
    });

    private static LocalWorker Worker(RunEngine engine) => new(engine, new LocalWorkerOptions
    {
        Workers = 2, MinIdleDelay = TimeSpan.FromMilliseconds(2), MaxIdleDelay = TimeSpan.FromMilliseconds(20), RunPollInterval = TimeSpan.FromMilliseconds(50),
    });

    private static async Task IgnoreCancelAsync(Task task)
    {
        try
        {
            await task;
        }
        catch (OperationCanceledException)
        {
            // The worker stops by cancellation.
        }
    }

    /// <summary>Pending (poll state = number of polls) until <c>pollsBeforeDone</c>, recording the runtime's hook calls.</summary>
    private sealed class FakeRemoteExecutor(int pollsBeforeDone) : IRemoteTaskExecutor
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public bool FailRelease { get; init; }

        public ConcurrentQueue<string> Cancelled { get; } = new();

        public ConcurrentQueue<(string RunId, RunStatus Status)> Finished { get; } = new();

        public ExecutorKind Kind => ExecutorKind.Batch;

        public Task<TaskOutcome> ExecuteAsync(TaskExecutionContext context, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            var polls = context.ResumeState?.GetInt32() ?? 0;
            return Task.FromResult<TaskOutcome>(polls < pollsBeforeDone
                ? new TaskOutcome.Pending(TimeSpan.FromMilliseconds(30), JsonSerializer.SerializeToElement(polls + 1))
                : new TaskOutcome.Succeeded(new TaskResult()));
        }

        public Task CancelAttemptAsync(TaskWorkItem work, CancellationToken cancellationToken)
        {
            Cancelled.Enqueue(work.DispatchId);
            return Task.CompletedTask;
        }

        public TimeSpan ReleaseDelay { get; init; }

        /// <summary>Releases that ran to their end.</summary>
        public ConcurrentQueue<(string RunId, RunStatus Status)> Released { get; } = new();

        public async Task RunFinishedAsync(string runId, RunStatus status, PipelineSpec spec, CancellationToken cancellationToken)
        {
            Finished.Enqueue((runId, status));
            await Task.Delay(ReleaseDelay, cancellationToken);
            if (FailRelease)
            {
                throw new IOException("remote service unreachable");
            }

            Released.Enqueue((runId, status));
        }
    }
}
