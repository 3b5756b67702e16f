using System.Text.Json;
using Trainyard.Compute.Batch;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Runtime.Contracts;
using Trainyard.Testing.AzureDoubles;
using Trainyard.Execution.Contracts;

namespace Trainyard.Compute.Batch.Tests;

/// <summary>A Batch double, its storage, a client and an executor wired together; one per test.</summary>
internal sealed class BatchHarness : IAsyncDisposable
{
    private readonly string _root;

    private BatchHarness(string root, ITestBlobStore blobs, BatchRestDouble batch, Uri container, BatchOptions options, FixedTokenCredential credential)
    {
        _root = root;
        Blobs = blobs;
        Batch = batch;
        Container = container;
        Options = options;
        Credential = credential;
        Client = new BatchClient(batch.Endpoint, credential, options.Client);
        Executor = new BatchExecutor(options, Client);
        Artifacts = new BlobStoreArtifactStore(blobs, container, options.ArtifactBlobPrefix);
    }

    public ITestBlobStore Blobs { get; }

    public BatchRestDouble Batch { get; }

    public Uri Container { get; }

    public BatchOptions Options { get; }

    public FixedTokenCredential Credential { get; }

    public BatchClient Client { get; }

    public BatchExecutor Executor { get; }

    public IArtifactStore Artifacts { get; }

    public List<string> Log { get; } = [];

    public static async Task<BatchHarness> StartAsync(Func<BatchOptions, BatchOptions>? configure = null)
    {
        var root = Path.Combine(Path.GetTempPath(), "ty-batch-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(root);
        var blobs = TestBlobStores.Create(Path.Combine(root, "blobs"));
        var container = blobs.ContainerUrl("ty-batch-" + Guid.NewGuid().ToString("N")[..12]);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var batch = await BatchRestDouble.StartAsync(blobs, Path.Combine(root, "nodes"), timeout.Token);
        var clientOptions = new BatchClientOptions { Transport = batch.Certificate.CreateTransport() };
        clientOptions.Retry.Delay = TimeSpan.FromMilliseconds(20);
        clientOptions.Retry.MaxDelay = TimeSpan.FromMilliseconds(200);
        var options = new BatchOptions
        {
            AccountEndpoint = batch.Endpoint,
            ArtifactContainerUrl = container,
            ArtifactBlobPrefix = "artifacts/",
            NodeIdentityResourceId = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-batch",
            DefaultPoolId = "cpu",
            PoolPricesUsdPerNodeHour = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase) { ["gpu"] = 3600, ["cpu"] = 36 },
            Client = clientOptions,
        };
        options = configure?.Invoke(options) ?? options;
        return new BatchHarness(root, blobs, batch, container, options, new FixedTokenCredential());
    }

    public static TaskWorkItem Work(string runId, string step, IReadOnlyList<string> command, int attempt = 1, TimeSpan? timeout = null, string? pool = "gpu", string? image = null) => new()
    {
        RunId = runId,
        TaskKey = step,
        StepId = step,
        Attempt = attempt,
        DispatchId = $"{runId}:{step}:{attempt}",
        PipelineName = "churn",
        PipelineHash = "abc123",
        Executor = ExecutorKind.Batch,
        Command = command,
        Image = image,
        Timeout = timeout,
        Resources = pool is null ? null : new ResourceSpec { Pool = pool },
        Env = new Dictionary<string, string> { ["GREETING"] = "hello $USER `x`" },
    };

    public TaskExecutionContext Context(TaskWorkItem work, JsonElement? resume = null) => new()
    {
        Work = work,
        Artifacts = Artifacts,
        WorkingDirectory = Path.Combine(_root, "scratch"),
        ResumeState = resume,
        Log = (line, _) =>
        {
            lock (Log)
            {
                Log.Add(line);
            }

            return Task.CompletedTask;
        },
    };

    /// <summary>Plays the runtime: calls the executor, and on Pending calls again (after a short pause, not the real delay) with the state.</summary>
    public async Task<TaskOutcome> RunToEndAsync(TaskWorkItem work, CancellationToken cancellationToken, Func<int, JsonElement, Task>? onPending = null)
    {
        JsonElement? state = null;
        for (var calls = 1; ; calls++)
        {
            var outcome = await Executor.ExecuteAsync(Context(work, state), cancellationToken);
            if (outcome is not TaskOutcome.Pending pending)
            {
                return outcome;
            }

            Assert.True(pending.PollAfter > TimeSpan.Zero);
            state = pending.State;
            if (onPending is not null)
            {
                await onPending(calls, pending.State);
            }

            await Task.Delay(40, cancellationToken);
        }
    }

    public string JobId(string runId, string pool = "gpu") => BatchIds.ForRun(Options.JobIdPrefix, runId, pool);

    public static string TaskId(TaskWorkItem work) => BatchIds.ForDispatch(work.DispatchId);

    public async ValueTask DisposeAsync()
    {
        await Batch.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A killed process may still hold a file for a moment; the temp folder is cleaned by the OS later.
        }
    }
}
