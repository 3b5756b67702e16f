using System.Text.Json;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Trainyard.Compute.Local;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Engine.Durable;
using Trainyard.Engine.Durable.Hosting;
using Trainyard.Execution;
using Trainyard.Execution.Artifacts;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Caching;
using Trainyard.Execution.Contracts;
using Trainyard.Runtime;
using Trainyard.Runtime.InMemory;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Conformance.Tests;

/// <summary>An engine under test: start a run of a pipeline, act on it, and read its final state.</summary>
public interface IEngineUnderTest : IAsyncDisposable
{
    /// <summary>Starts a run; returns its id.</summary>
    Task<string> StartAsync(Scenario scenario, CancellationToken ct);

    /// <summary>The status of a task while the run goes on (null before it exists).</summary>
    Task<TaskStatus?> TaskStatusAsync(string runId, string taskKey, CancellationToken ct);

    /// <summary>Raises a named event on the run.</summary>
    Task RaiseAsync(string runId, string name, JsonElement payload, string eventId, CancellationToken ct);

    /// <summary>Asks the run to cancel.</summary>
    Task CancelAsync(string runId, CancellationToken ct);

    /// <summary>Waits for the run's end and returns its final state.</summary>
    Task<RunState> WaitAsync(string runId, CancellationToken ct);
}

/// <summary>What both engines run steps with: the standard built-ins and local processes.</summary>
internal static class Steps
{
    public static BuiltinStepRegistry Registry { get; } = BuiltinStepRegistry.CreateStandard();

    public static ITaskExecutor[] Executors(string work) => [new BuiltinExecutor(Registry), new LocalProcessExecutor()];

    public static PipelineSpec Load(Scenario scenario) => PipelineLoader.LoadOrThrow(scenario.Yaml, scenario.Name + ".yaml", Registry.Catalog);
}

/// <summary>The embedded engine (Trainyard.Runtime) on its in-memory backend, a LocalWorker running each run.</summary>
public sealed class EmbeddedEngine : IEngineUnderTest
{
    private readonly string _work = Directory.CreateTempSubdirectory("trainyard-conformance-").FullName;
    private readonly InMemoryBackend _backend = new();
    private readonly RunEngine _engine;
    private readonly Dictionary<string, Task<RunState>> _running = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Creates the engine.</summary>
    public EmbeddedEngine()
    {
        _engine = new RunEngine(_backend, new RunEngineOptions
        {
            WorkRoot = Path.Combine(_work, "work"),
            Executors = Steps.Executors(_work),
            TaskCache = new StepCache(_backend.Store, _backend.Artifacts, Steps.Registry.Catalog),
        });
    }

    /// <inheritdoc />
    public async Task<string> StartAsync(Scenario scenario, CancellationToken ct)
    {
        var runId = await _engine.StartRunAsync(new StartRunRequest { Spec = Steps.Load(scenario), SpecText = scenario.Yaml, Params = Corpus.ParamsOf(scenario) }, ct);
        var worker = new LocalWorker(_engine, new LocalWorkerOptions { Workers = 4, MinIdleDelay = TimeSpan.FromMilliseconds(2), MaxIdleDelay = TimeSpan.FromMilliseconds(50), RunPollInterval = TimeSpan.FromMilliseconds(50) });
        _running[runId] = worker.RunUntilCompleteAsync(runId, _stop.Token);
        return runId;
    }

    /// <inheritdoc />
    public async Task<TaskStatus?> TaskStatusAsync(string runId, string taskKey, CancellationToken ct)
        => (await _engine.GetRunAsync(runId, ct))?.Tasks.GetValueOrDefault(taskKey)?.Status;

    /// <inheritdoc />
    public Task RaiseAsync(string runId, string name, JsonElement payload, string eventId, CancellationToken ct)
        => _engine.RaiseEventAsync(runId, name, payload, ct, eventId);

    /// <inheritdoc />
    public Task CancelAsync(string runId, CancellationToken ct) => _engine.CancelRunAsync(runId, "conformance", ct);

    /// <inheritdoc />
    public Task<RunState> WaitAsync(string runId, CancellationToken ct) => _running[runId].WaitAsync(ct);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _stop.Dispose();
        await _backend.DisposeAsync();
        Directory.Delete(_work, recursive: true);
    }
}

/// <summary>The Durable engine (RunPipeline + DurableActivities over AttemptRunner) on the in-process host.</summary>
public sealed class DurableEngine : IEngineUnderTest
{
    private readonly string _work;
    private readonly TrainyardDurableHost _host;

    private DurableEngine(string work, TrainyardDurableHost host)
    {
        _work = work;
        _host = host;
    }

    private DurableTaskClient Client => _host.Client;

    /// <summary>Starts a host on <paramref name="store"/>.</summary>
    public static async Task<DurableEngine> StartAsync(DurableStore store)
    {
        var work = Directory.CreateTempSubdirectory("trainyard-conformance-").FullName;
        var values = new InMemoryRunStore();
        var artifacts = new InMemoryArtifactStore();
        var runner = new AttemptRunner(new AttemptRunnerOptions
        {
            Artifacts = artifacts,
            Claims = values,
            Executors = Steps.Executors(work),
            TaskCache = new StepCache(values, artifacts, Steps.Registry.Catalog),
            WorkRoot = Path.Combine(work, "work"),
        });
        var host = await TrainyardDurableHost.StartAsync(new DurableHostOptions { Store = store }, new DurableActivities(runner, values, Steps.Registry.Catalog));
        return new DurableEngine(work, host);
    }

    /// <inheritdoc />
    public async Task<string> StartAsync(Scenario scenario, CancellationToken ct)
    {
        var spec = Steps.Load(scenario);
        var resolved = Core.Spec.ParamResolver.Resolve(spec, Corpus.ParamsOf(scenario));
        Assert.True(resolved.Succeeded, string.Join("; ", resolved.Errors.Select(e => e.Message)));
        var runId = $"{scenario.Name}-{Guid.NewGuid():N}";
        var input = new RunPipelineInput { RunId = runId, PipelineName = spec.Name, PipelineHash = spec.ContentHash, SpecText = scenario.Yaml, Params = resolved.Values };
        return await Client.ScheduleNewOrchestrationInstanceAsync(DurableNames.RunPipeline, input, new StartOrchestrationOptions(runId), ct);
    }

    /// <inheritdoc />
    public async Task<TaskStatus?> TaskStatusAsync(string runId, string taskKey, CancellationToken ct)
    {
        var progress = (await Client.GetInstanceAsync(runId, getInputsAndOutputs: false, ct))?.ReadCustomStatusAs<RunProgress>();
        return progress?.Running.Contains(taskKey) == true ? TaskStatus.Running : null;
    }

    /// <inheritdoc />
    public Task RaiseAsync(string runId, string name, JsonElement payload, string eventId, CancellationToken ct)
        => Client.RaiseEventAsync(runId, DurableNames.SignalEvent, new RunSignal { Kind = RunSignal.Event, EventId = eventId, Name = name, Payload = payload }, ct);

    /// <inheritdoc />
    public Task CancelAsync(string runId, CancellationToken ct)
        => Client.RaiseEventAsync(runId, DurableNames.SignalEvent, new RunSignal { Kind = RunSignal.Cancel, EventId = "cancel", Reason = "conformance" }, ct);

    /// <inheritdoc />
    public async Task<RunState> WaitAsync(string runId, CancellationToken ct)
    {
        var done = await Client.WaitForInstanceCompletionAsync(runId, getInputsAndOutputs: true, ct);
        Assert.True(done.RuntimeStatus == OrchestrationRuntimeStatus.Completed, $"{runId}: {done.RuntimeStatus} {done.FailureDetails?.ErrorMessage}");
        return done.ReadOutputAs<RunPipelineOutput>()!.State;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_host.Options.Store is AzureStorageStore)
        {
            await _host.StopAndDeleteTaskHubAsync();
        }

        await _host.DisposeAsync();
        Directory.Delete(_work, recursive: true);
    }
}
