using Trainyard.Compute.Batch;
using Trainyard.Core.Engine;
using Trainyard.Testing.AzureDoubles;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Engine.Durable.Tests;

/// <summary>
/// A Batch step through RunPipeline: the RunRemoteTask sub-orchestration submits the attempt to the Batch REST double,
/// polls it on durable timers and returns its result; a cancelled run terminates the Batch task.
/// </summary>
public sealed class BatchStepTests : IAsyncLifetime
{
    private const string Train = """
        name: batch
        steps:
          - { id: prep, uses: echo, with: { message: hi } }
          - id: train
            needs: [prep]
            executor: batch
            resources: { pool: gpu }
            run: { command: [sh, -c, "echo training; sleep 1; echo done"] }
        """;

    private const string LongTrain = """
        name: batch-long
        steps:
          - id: train
            executor: batch
            resources: { pool: gpu }
            run: { command: [sleep, "60"] }
        """;

    private readonly string _root = Directory.CreateTempSubdirectory("ty-durable-batch-").FullName;
    private BatchRestDouble _batch = null!;
    private BatchExecutor _executor = null!;
    private BatchExecutor _eagerExecutor = null!;
    private BlobStoreArtifactStore _artifacts = null!;

    public async Task InitializeAsync()
    {
        var blobs = TestBlobStores.Create(Path.Combine(_root, "blobs"));
        var container = blobs.ContainerUrl("ty-durable-batch");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        _batch = await BatchRestDouble.StartAsync(blobs, Path.Combine(_root, "nodes"), timeout.Token);
        var clientOptions = new BatchClientOptions { Transport = _batch.Certificate.CreateTransport() };
        clientOptions.Retry.Delay = TimeSpan.FromMilliseconds(20);
        var options = new BatchOptions
        {
            AccountEndpoint = _batch.Endpoint,
            ArtifactContainerUrl = container,
            ArtifactBlobPrefix = "artifacts/",
            DefaultPoolId = "cpu",
            PollInitialDelay = TimeSpan.FromMilliseconds(200),
            PollMaxDelay = TimeSpan.FromMilliseconds(500),
            Client = clientOptions,
        };
        _executor = new BatchExecutor(options, new BatchClient(_batch.Endpoint, new FixedTokenCredential(), clientOptions));
        var eager = options with { PollInitialDelay = TimeSpan.FromMilliseconds(1), PollMaxDelay = TimeSpan.FromMilliseconds(2) };
        _eagerExecutor = new BatchExecutor(eager, new BatchClient(_batch.Endpoint, new FixedTokenCredential(), clientOptions));
        _artifacts = new BlobStoreArtifactStore(blobs, container, options.ArtifactBlobPrefix);
    }

    public async Task DisposeAsync()
    {
        await _batch.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task BatchStep_RunsAsAPolledSubOrchestrationAndReturnsItsResult()
    {
        await using var h = await DurableHarness.StartAsync(StoreKind.Memory, null, new RecordingActivities(_executor, _artifacts));
        var runId = await h.StartAsync(Train);
        var (_, output) = await h.WaitAsync(runId, TimeSpan.FromSeconds(60));

        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        var train = output.State.Tasks["train"];
        Assert.Equal(TaskStatus.Succeeded, train.Status);
        Assert.Equal(0, train.Result!.Outputs[BatchExecutor.ExitCodeOutput].GetInt32());

        // Submitted once, then polled on durable timers until it completed: several RunTask calls, one Batch task.
        var calls = h.Activities.Executions.Count(e => e.TaskKey == "train");
        Assert.True(calls >= 2, $"{calls} RunTask calls for the Batch attempt");
        var job = Assert.Single(_batch.Jobs);
        var task = Assert.Single(job.Tasks.Values);
        Assert.Equal("completed", task.State);
        Assert.Contains(h.Host.History.Instances.Keys, id => id == DurableLimits.SubInstanceId(runId, "remote", train.DispatchId!));
    }

    [Fact]
    public async Task LongPolledBatchStep_RemoteSubOrchestrationContinuesAsNewAndReturnsTheResult()
    {
        // Polls every few milliseconds for a 4 s job: far more than one generation of RunRemoteTask holds.
        const string Yaml = """
            name: batch-polled
            steps:
              - id: train
                executor: batch
                resources: { pool: gpu }
                run: { command: [sh, -c, "sleep 4; echo done"] }
            """;
        await using var h = await DurableHarness.StartAsync(StoreKind.Memory, null, new RecordingActivities(_eagerExecutor, _artifacts));
        var runId = await h.StartAsync(Yaml);
        var (_, output) = await h.WaitAsync(runId, TimeSpan.FromSeconds(90));

        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        var calls = h.Activities.Executions.Count(e => e.TaskKey == "train");
        Assert.True(calls > DurableLimits.PollsPerGeneration, $"{calls} RunTask calls");
        var remote = h.Host.History.Instances[DurableLimits.SubInstanceId(runId, "remote", output.State.Tasks["train"].DispatchId!)];
        // A poll is 8 events (the activity, the timer, two episodes); without continue-as-new it would be 8 x calls.
        Assert.True(remote.Events <= 8 * DurableLimits.PollsPerGeneration + 10, $"RunRemoteTask history {remote.Events} events after {calls} polls");
        Assert.Single(_batch.Jobs.Single().Tasks.Values);
    }

    [Fact]
    public async Task CancelledRun_TerminatesTheRunningBatchTask()
    {
        await using var h = await DurableHarness.StartAsync(StoreKind.Memory, null, new RecordingActivities(_executor, _artifacts));
        var runId = await h.StartAsync(LongTrain);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (_batch.Jobs.SelectMany(j => j.Tasks.Values).FirstOrDefault()?.State != "running")
            {
                await Task.Delay(20, timeout.Token);
            }
        }

        await h.Client.RaiseEventAsync(runId, DurableNames.SignalEvent, new RunSignal { Kind = RunSignal.Cancel, EventId = "stop-gpu", Reason = "stop the GPU" });
        var (_, output) = await h.WaitAsync(runId, TimeSpan.FromSeconds(60));

        Assert.Equal(RunStatus.Cancelled, output.Status);
        var task = _batch.Jobs.Single().Tasks.Values.Single();
        Assert.Equal("completed", task.State);
        Assert.Contains(output.State.Tasks["train"].DispatchId!, h.Activities.Cancelled);
    }
}
