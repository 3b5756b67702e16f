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
using Trainyard.Runtime.InMemory;
using Trainyard.Service;

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

    /// <summary>Runs <paramref name="loaded"/> to completion (<paramref name="noCache"/>: skip step-cache lookups); returns the exit code.</summary>
    public static async Task<int> RunAsync(LoadedPipeline loaded, IReadOnlyDictionary<string, JsonElement> assignments, string store, bool noCache, CliOutput output, CancellationToken ct)
    {
        var resolved = Core.Spec.ParamResolver.Resolve(loaded.Spec, assignments);
        if (!resolved.Succeeded)
        {
            throw new CliInputException("--param: " + string.Join("; ", resolved.Errors.Select(e => $"{e.DisplayField}: {e.Message} ({e.Help})")));
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(loaded.Text)));
        var (steps, executors) = CliStore.Execution();
        var work = Directory.CreateTempSubdirectory("trainyard-durable-").FullName;
        IPipelineStore pipelines;
        IKeyValueStore values;
        IArtifactStore artifacts;
        DurableStore durableStore;
        if (AzureStore.IsAzure(store))
        {
            var connection = AzureStore.TaskHubConnection(store);
            var stores = AzureStore.TryOpen(store)!;
            await AzureStore.EnsureReachableAsync(stores, ct);
            (pipelines, values, artifacts) = (stores.Pipelines, stores.Values, stores.Artifacts);
            durableStore = DurableStore.AzureStorage(connection, stores.Names.TaskHub);
        }
        else if (string.Equals(store, "memory", StringComparison.OrdinalIgnoreCase))
        {
            var memory = new InMemoryRunStore();
            (pipelines, values, artifacts) = (memory, memory, new FileSystemArtifactStore(Path.Combine(work, "artifacts")));
            durableStore = DurableStore.Memory;
        }
        else
        {
            throw new CliInputException($"--store '{store}' is not a durable store: use memory (default for --engine durable) or azure:UseDevelopmentStorage=true (Azurite).");
        }

        await pipelines.SavePipelineAsync(new PipelineVersion(loaded.Spec.Name, hash, loaded.Text, DateTimeOffset.UtcNow) { Source = loaded.Spec.Source }, ct);
        var runner = new AttemptRunner(new AttemptRunnerOptions
        {
            Artifacts = artifacts,
            Claims = values,
            Executors = executors,
            TaskCache = new StepCache(values, artifacts, steps.Catalog) { ReadEnabled = !noCache },
            WorkRoot = Path.Combine(work, "work"),
        });
        await using var host = await TrainyardDurableHost.StartAsync(new DurableHostOptions { Store = durableStore }, new DurableActivities(runner, pipelines, steps.Catalog), null, ct);
        var runs = new DurableRunControl(host.Client, NullLogger<DurableRunControl>.Instance);
        var runId = string.Create(CultureInfo.InvariantCulture, $"{loaded.Spec.Name}-{DateTimeOffset.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..6]}");
        await runs.StartAsync(new RunPipelineInput
        {
            RunId = runId,
            PipelineName = loaded.Spec.Name,
            PipelineHash = hash,
            Params = resolved.Values,
            Trigger = new TriggerInfo("manual"),
        }, ct);
        output.Info($"run {runId} started on the durable engine ({(durableStore is AzureStorageStore ? "Azure Storage task hub" : "in memory")}; {loaded.Spec.Name}, {loaded.Spec.Steps.Count} steps)");
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
                    var line = string.Join(", ", progress.Counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Value} {c.Key}"));
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
            output.Error($"interrupted: run {runId} stopped with this process (the in-process durable host ended); start it again.");
            return CliApp.Interrupted;
        }

        var metadata = await done;
        var result = JsonSerializer.Deserialize<RunPipelineOutput>(metadata.SerializedOutput
            ?? throw new InvalidOperationException($"run {runId} ended {metadata.RuntimeStatus} without an output: {metadata.FailureDetails?.ErrorMessage}"), EngineJson.Options)!;
        RunCommands.PrintReport(output, result.State, includeLogHint: false);
        return result.Status == RunStatus.Succeeded ? 0 : 1;
    }
}
