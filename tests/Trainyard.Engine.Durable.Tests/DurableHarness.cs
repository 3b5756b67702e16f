using System.Text.Json;
using Microsoft.DurableTask.Client;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Engine.Durable.Hosting;
using Trainyard.Testing;

namespace Trainyard.Engine.Durable.Tests;

/// <summary>Which task hub store a test runs on.</summary>
public enum StoreKind
{
    /// <summary>In memory.</summary>
    Memory,

    /// <summary>Azure Storage on Azurite (a fresh task hub per test, deleted afterwards).</summary>
    Azurite,
}

/// <summary>An in-process Durable host with the test activities; one per test.</summary>
internal sealed class DurableHarness : IAsyncDisposable
{
    private readonly bool _deleteHub;

    private DurableHarness(TrainyardDurableHost host, RecordingActivities activities, bool deleteHub)
    {
        Host = host;
        Activities = activities;
        _deleteHub = deleteHub;
    }

    public TrainyardDurableHost Host { get; }

    public RecordingActivities Activities { get; }

    public DurableTaskClient Client => Host.Client;

    public static async Task<DurableHarness> StartAsync(StoreKind store, AzuriteFixture? azurite, RecordingActivities? activities = null, int maxActivities = 10)
    {
        DurableStore where = DurableStore.Memory;
        if (store == StoreKind.Azurite)
        {
            ArgumentNullException.ThrowIfNull(azurite);
            azurite.EnsureAvailable();
            where = DurableStore.AzureStorage(azurite.ConnectionString, AzuriteFixture.NewTaskHub());
        }

        activities ??= new RecordingActivities();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var host = await TrainyardDurableHost.StartAsync(new DurableHostOptions { Store = where, MaxConcurrentActivities = maxActivities }, activities, null, timeout.Token);
        return new DurableHarness(host, activities, store == StoreKind.Azurite);
    }

    /// <summary>Starts a run of <paramref name="yaml"/> (pushed first) and returns its id.</summary>
    public async Task<string> StartAsync(string yaml, string? runId = null, IReadOnlyDictionary<string, JsonElement>? parameters = null, bool withSpecText = false)
    {
        var hash = Activities.Push(yaml);
        var spec = PipelineLoader.LoadOrThrow(yaml, "test.yaml");
        return await StartVersionAsync(spec.Name, hash, runId, parameters ?? ParamDefaults(spec), withSpecText ? yaml : null);
    }

    public async Task<string> StartVersionAsync(string pipeline, string hash, string? runId = null, IReadOnlyDictionary<string, JsonElement>? parameters = null, string? specText = null)
    {
        runId ??= "run-" + Guid.NewGuid().ToString("N")[..12];
        var input = new RunPipelineInput
        {
            RunId = runId,
            PipelineName = pipeline,
            PipelineHash = hash,
            SpecText = specText,
            Params = parameters ?? new Dictionary<string, JsonElement>(),
        };
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await Client.ScheduleNewOrchestrationInstanceAsync(DurableNames.RunPipeline, input, new Microsoft.DurableTask.StartOrchestrationOptions(runId), timeout.Token);
    }

    /// <summary>Waits (bounded) for the run to finish and returns its output.</summary>
    public async Task<(OrchestrationMetadata Metadata, RunPipelineOutput Output)> WaitAsync(string runId, TimeSpan? limit = null)
    {
        using var timeout = new CancellationTokenSource(limit ?? TimeSpan.FromSeconds(60));
        OrchestrationMetadata metadata;
        try
        {
            metadata = await Client.WaitForInstanceCompletionAsync(runId, getInputsAndOutputs: true, timeout.Token);
        }
        catch (OperationCanceledException)
        {
            var now = await Client.GetInstanceAsync(runId, getInputsAndOutputs: false);
            throw new TimeoutException($"run {runId} did not finish within {limit ?? TimeSpan.FromSeconds(60)}; status {now?.RuntimeStatus}, progress {now?.SerializedCustomStatus}");
        }

        Assert.True(metadata.RuntimeStatus == OrchestrationRuntimeStatus.Completed, $"run {runId}: {metadata.RuntimeStatus} {metadata.FailureDetails}");
        return (metadata, metadata.ReadOutputAs<RunPipelineOutput>()!);
    }

    public async Task<RunPipelineOutput> RunAsync(string yaml, TimeSpan? limit = null, IReadOnlyDictionary<string, JsonElement>? parameters = null)
        => (await WaitAsync(await StartAsync(yaml, parameters: parameters), limit)).Output;

    /// <summary>Polls the run's custom status until <paramref name="until"/> holds (bounded).</summary>
    public async Task<RunProgress> WaitForProgressAsync(string runId, Func<RunProgress, bool> until, TimeSpan? limit = null)
    {
        using var timeout = new CancellationTokenSource(limit ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var m = await Client.GetInstanceAsync(runId, getInputsAndOutputs: false, timeout.Token);
            if (m?.SerializedCustomStatus is not null && m.ReadCustomStatusAs<RunProgress>() is { } p && until(p))
            {
                return p;
            }

            await Task.Delay(50, timeout.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_deleteHub)
        {
            await Host.StopAndDeleteTaskHubAsync();
        }

        await Host.DisposeAsync();
        Activities.Dispose();
    }

    private static IReadOnlyDictionary<string, JsonElement> ParamDefaults(PipelineSpec spec)
    {
        var resolved = ParamResolver.Resolve(spec, new Dictionary<string, JsonElement>());
        Assert.True(resolved.Succeeded, string.Join("; ", resolved.Errors));
        return resolved.Values;
    }
}
