using Trainyard.Compute.Batch;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Runtime;
using Trainyard.Runtime.Contracts;
using Trainyard.Runtime.InMemory;
using Trainyard.Testing;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.Compute.Batch.Tests;

/// <summary>The run engine with the real Batch executor against the Batch double: cancel, run end, redelivered dispatch.</summary>
public sealed class BatchEngineTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private readonly string _work = Path.Combine(Path.GetTempPath(), "trainyard-batch-engine", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_work))
        {
            Directory.Delete(_work, recursive: true);
        }
    }

    private static Task<BatchHarness> Harness() => BatchHarness.StartAsync(o => o with { PollInitialDelay = TimeSpan.FromMilliseconds(100), PollMaxDelay = TimeSpan.FromMilliseconds(300) });

    private RunEngine Engine(BatchHarness h) => new(new SharedArtifactsBackend(new InMemoryBackend(), h.Artifacts), new RunEngineOptions
    {
        WorkRoot = _work,
        Executors = [h.Executor],
    });

    private static LocalWorker Worker(RunEngine engine) => new(engine, new LocalWorkerOptions
    {
        Workers = 2, MinIdleDelay = TimeSpan.FromMilliseconds(5), MaxIdleDelay = TimeSpan.FromMilliseconds(50), RunPollInterval = TimeSpan.FromMilliseconds(50),
    });

    private static StartRunRequest Request(string runId, params string[] command) => TestPipelines.Request(
        "batch-engine",
        [new StepSpec { Id = "train", Executor = ExecutorKind.Batch, Run = new RunSpec { Command = command }, Resources = new ResourceSpec { Pool = "gpu" } }],
        runId: runId);

    [Fact]
    public async Task CancelledRun_TerminatesItsRunningBatchTaskAndJob()
    {
        await using var h = await Harness();
        using var cts = new CancellationTokenSource(Limit);
        var engine = Engine(h);
        var runId = await engine.StartRunAsync(Request("batch-cancel-1", "sleep", "60"), cts.Token);
        using var stopWorker = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        var worker = Worker(engine).RunAsync(stopWorker.Token);
        var jobId = h.JobId(runId);
        while (h.Batch.FindJob(jobId)?.Tasks.Values.FirstOrDefault()?.State != "running")
        {
            await Task.Delay(20, cts.Token);
        }

        await engine.CancelRunAsync(runId, "stop the GPU", cts.Token);
        var task = h.Batch.FindJob(jobId)!.Tasks.Values.Single();
        while (task.State != "completed")
        {
            await Task.Delay(20, cts.Token);
        }

        await stopWorker.CancelAsync();
        try
        {
            await worker;
        }
        catch (OperationCanceledException)
        {
            // The worker stops by cancellation.
        }

        Assert.Equal(RunStatus.Cancelled, (await engine.GetRunAsync(runId, cts.Token))!.Status);
        Assert.Equal("completed", h.Batch.FindJob(jobId)!.State);
        Assert.Contains("TaskEnded", task.ToJsonForTest(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SucceededRun_TerminatesItsBatchJob()
    {
        await using var h = await Harness();
        using var cts = new CancellationTokenSource(Limit);
        var engine = Engine(h);
        var runId = await engine.StartRunAsync(Request("batch-done-1", "true"), cts.Token);
        var state = await Worker(engine).RunUntilCompleteAsync(runId, cts.Token);
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal("completed", h.Batch.FindJob(h.JobId(runId))!.State);
    }

    [Fact]
    public async Task StepsOnTwoPools_RunInOneJobPerPool_OnTheirOwnPool_AndBothJobsEndWithTheRun()
    {
        await using var h = await Harness();
        using var cts = new CancellationTokenSource(Limit);
        var engine = Engine(h);
        StepSpec Step(string id, string pool, params string[] needs) =>
            new() { Id = id, Needs = needs, Executor = ExecutorKind.Batch, Run = new RunSpec { Command = ["true"] }, Resources = new ResourceSpec { Pool = pool } };
        var request = TestPipelines.Request("two-pools", [Step("prep", "cpu"), Step("train", "gpu", "prep")], runId: "two-pools-1");

        var state = await Worker(engine).RunUntilCompleteAsync(await engine.StartRunAsync(request, cts.Token), cts.Token);

        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal("cpu", state.Tasks["prep"].Result!.Outputs[BatchExecutor.PoolOutput].GetString());
        Assert.Equal("gpu", state.Tasks["train"].Result!.Outputs[BatchExecutor.PoolOutput].GetString());
        foreach (var pool in new[] { "cpu", "gpu" })
        {
            var job = h.Batch.FindJob(h.JobId("two-pools-1", pool))!;
            Assert.Equal(pool, job.PoolId);
            Assert.Single(job.Tasks);
            Assert.Equal("completed", job.State);
        }
    }

    [Fact]
    public async Task RedeliveredDispatch_NeverStartsASecondBatchTask()
    {
        await using var h = await Harness();
        using var cts = new CancellationTokenSource(Limit);
        var engine = Engine(h);
        var runId = await engine.StartRunAsync(Request("batch-dup-1", "sleep", "1"), cts.Token);

        // The first delivery starts the task and returns Pending; its ack is "lost", so the same message comes again.
        var leased = Assert.Single(await engine.Backend.Work.ReceiveAsync(1, TimeSpan.FromSeconds(30), cts.Token));
        Assert.True(RunEngine.TryParseWork(leased.Body, out var message, out var error), error);
        Assert.Equal(WorkResultKind.Pending, (await engine.ExecuteWorkAsync(message!, cts.Token)).Kind);
        Assert.Equal(WorkResultKind.Pending, (await engine.ExecuteWorkAsync(message!, cts.Token)).Kind);
        await engine.Backend.Work.CompleteAsync(leased, cts.Token);

        var state = await Worker(engine).RunUntilCompleteAsync(runId, cts.Token);
        Assert.Equal(RunStatus.Succeeded, state.Status);
        var job = h.Batch.FindJob(h.JobId(runId))!;
        Assert.Single(job.Tasks);
        Assert.Equal(2, h.Batch.Requests.Count(r => r.Method == "POST" && r.Path.EndsWith("/tasks", StringComparison.Ordinal)));
        Assert.Equal(1, state.Tasks["train"].Attempt);
    }

    /// <summary>In-memory store and queues, with the artifacts the Batch double's nodes read and write.</summary>
    private sealed class SharedArtifactsBackend(InMemoryBackend inner, IArtifactStore artifacts) : IBackend
    {
        public string Name => "memory+blobs";

        public IRunStore Store => inner.Store;

        public IMessageQueue Control => inner.Control;

        public IMessageQueue Work => inner.Work;

        public IArtifactStore Artifacts => artifacts;

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
