using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Engine.Durable;
using Trainyard.Engine.Durable.Hosting;
using Trainyard.Execution;
using Trainyard.Execution.Artifacts;
using Trainyard.Execution.Caching;
using Trainyard.Execution.Contracts;
using Trainyard.Notifications;
using Trainyard.Runtime.InMemory;
using Trainyard.Service;
using Trainyard.Storage.Azure;

namespace Trainyard.Cli;

/// <summary>
/// `trainyard run FILE --engine durable`: the Function App's RunPipeline orchestrator and activities, hosted in-process
/// on the Durable Task Framework (docs/engine-durable.md): `--store memory` (default) keeps everything in this process;
/// `--store azure:UseDevelopmentStorage=true` (or an account URL) puts the task hub on Azure Storage and pipeline
/// versions, claims and artifacts in Trainyard's blob containers, as in Azure.
/// </summary>
internal static class DurableRun
{
    /// <summary>The `--engine` values.</summary>
    public const string Embedded = "embedded";

    /// <summary>The Durable engine.</summary>
    public const string Durable = "durable";

    /// <summary>The data container `ingest` reads on Azurite (TRAINYARD_DATA_CONTAINER, default data), as the Function App's setting.</summary>
    public static string DataContainer => Environment.GetEnvironmentVariable("TRAINYARD_DATA_CONTAINER") is { Length: > 0 } c ? c : "data";

    /// <summary>The stores of a durable engine: pipeline versions, claims/cache values, artifacts, and the task hub.</summary>
    internal sealed record Stores(IPipelineStore Pipelines, IKeyValueStore Values, IArtifactStore Artifacts, DurableStore Hub, string Label);

    /// <summary>
    /// Opens the stores named by a `--store` value of the durable engine: memory (this process only) or an Azurite task hub
    /// with Trainyard's blob containers (reachability checked first).
    /// </summary>
    public static async Task<Stores> OpenAsync(string store, string work, CancellationToken ct)
    {
        if (AzureStore.IsAzure(store))
        {
            var stores = AzureStore.TryOpen(store)!;
            await AzureStore.EnsureReachableAsync(stores, ct);
            return new Stores(stores.Pipelines, stores.Values, stores.Artifacts, AzureStore.TaskHub(store, stores),
                $"Azure Storage task hub '{stores.Names.TaskHub}'");
        }

        if (string.Equals(store, "memory", StringComparison.OrdinalIgnoreCase))
        {
            var memory = new InMemoryRunStore();
            return new Stores(memory, memory, new FileSystemArtifactStore(Path.Combine(work, "artifacts")), DurableStore.Memory, "in memory");
        }

        throw new CliInputException($"--store '{store}' is not a durable store: use memory (default for --engine durable) or azure:UseDevelopmentStorage=true (Azurite).");
    }

    /// <summary>The process's `notify:` sender on the durable engine (run-finished alerts, and `serve`'s run-stuck sweep).</summary>
    internal static readonly Lazy<WebhookSender> Webhooks = new(() => new WebhookSender());

    /// <summary>
    /// Starts the in-process host on <paramref name="stores"/> with the CLI's executors and steps (the same as the
    /// embedded engine's), running at most <paramref name="workers"/> activities at once.
    /// </summary>
    public static Task<TrainyardDurableHost> StartHostAsync(Stores stores, int workers, bool noCache, string work, CancellationToken ct, string? dataContainer = null)
    {
        // On Azurite, `ingest` reads blobs of the data container (a blob trigger's url), as in the Function App.
        var (steps, executors) = stores.Hub is AzureStorageStore { Credential: null }
            ? CliStore.Execution(new BlobDataSource(new Azure.Storage.Blobs.BlobServiceClient(Storage.Azure.AzureStorageOptions.DevelopmentStorage), [dataContainer ?? DataContainer]))
            : CliStore.Execution();
        var runner = new AttemptRunner(new AttemptRunnerOptions
        {
            Artifacts = stores.Artifacts,
            Claims = stores.Values,
            Executors = executors,
            TaskCache = new StepCache(stores.Values, stores.Artifacts, steps.Catalog) { ReadEnabled = !noCache },
            WorkRoot = Path.Combine(work, "work"),
        });
        // `notify:` secrets come from environment variables, as with the embedded engine; the sender lives as long as the process.
        return TrainyardDurableHost.StartAsync(
            new DurableHostOptions { Store = stores.Hub, MaxConcurrentActivities = workers },
            new DurableActivities(runner, stores.Pipelines, steps.Catalog)
            {
                OnRunFinished = (spec, run, _) => WebhookNotifier.DeliverAsync(Webhooks.Value, spec, run, CliStore.WebhookFlushLimit),
            },
            null,
            ct);
    }

    /// <summary>Runs <paramref name="loaded"/> to completion (<paramref name="noCache"/>: skip step-cache lookups); returns the exit code.</summary>
    public static async Task<int> RunAsync(LoadedPipeline loaded, IReadOnlyDictionary<string, JsonElement> assignments, string store, int workers, bool noCache, CliOutput output, CancellationToken ct)
    {
        var resolved = Core.Spec.ParamResolver.Resolve(loaded.Spec, assignments);
        if (!resolved.Succeeded)
        {
            throw new CliInputException("--param: " + string.Join("; ", resolved.Errors.Select(e => $"{e.DisplayField}: {e.Message} ({e.Help})")));
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(loaded.Text)));
        var work = Directory.CreateTempSubdirectory("trainyard-durable-").FullName;
        var stores = await OpenAsync(store, work, ct);
        var pipelines = stores.Pipelines;
        await pipelines.SavePipelineAsync(new PipelineVersion(loaded.Spec.Name, hash, loaded.Text, DateTimeOffset.UtcNow) { Source = loaded.Spec.Source }, ct);
        await using var host = await StartHostAsync(stores, workers, noCache, work, ct);
        var runs = new DurableRunControl(host.Client, NullLogger<DurableRunControl>.Instance);
        var runId = string.Create(CultureInfo.InvariantCulture, $"{loaded.Spec.Name}-{DateTimeOffset.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..6]}");
        await runs.StartAsync(new RunPipelineInput
        {
            RunId = runId,
            PipelineName = loaded.Spec.Name,
            PipelineHash = hash,
            SpecText = loaded.Text,
            Params = resolved.Values,
            Trigger = new TriggerInfo("manual"),
        }, ct);
        output.Info($"run {runId} started on the durable engine ({stores.Label}; {loaded.Spec.Name}, {loaded.Spec.Steps.Count} steps, {workers} at once)");
        using var stop = new GracefulStop(ct);
        var done = host.Client.WaitForInstanceCompletionAsync(runId, getInputsAndOutputs: true, stop.Token);
        string? last = null;
        try
        {
            while (!done.IsCompleted)
            {
                await Task.WhenAny(done, Task.Delay(output.Interactive ? 200 : 1000, stop.Token));
                if (await host.Client.GetInstanceAsync(runId, getInputsAndOutputs: false, stop.Token) is { SerializedCustomStatus: { } status }
                    && JsonSerializer.Deserialize<RunProgress>(status, EngineJson.Options) is { } progress)
                {
                    var line = DurableCommands.CountsText(progress);
                    if (line != last && !output.Json)
                    {
                        output.Info($"  {progress.Total} tasks: {line}");
                        last = line;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stop.Token.IsCancellationRequested)
        {
            output.Error(stores.Hub is AzureStorageStore
                ? $"interrupted: run {runId} stays in the task hub and goes on when a worker runs it: `trainyard worker --engine durable --store {store}`; " +
                  $"`trainyard status {runId} --store {store}` shows it."
                : $"interrupted: run {runId} ended with this process (the in-memory task hub is gone); start it again, or use --store azure:UseDevelopmentStorage=true for runs that outlive the process.");
            return CliApp.Interrupted;
        }

        var metadata = await done;
        var result = JsonSerializer.Deserialize<RunPipelineOutput>(metadata.SerializedOutput
            ?? throw new InvalidOperationException($"run {runId} ended {metadata.RuntimeStatus} without an output: {metadata.FailureDetails?.ErrorMessage}"), EngineJson.Options)!;
        RunCommands.PrintReport(output, result.State, includeLogHint: false);
        return result.Status == RunStatus.Succeeded ? 0 : 1;
    }
}
