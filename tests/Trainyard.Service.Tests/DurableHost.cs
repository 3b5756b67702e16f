using System.Collections.Immutable;
using System.Text.Json;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Converters;
using Microsoft.DurableTask.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Core.Engine;
using Trainyard.Engine.Durable;
using CoreTaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Service.Tests;

/// <summary>
/// The one place tests get a real Durable Task client: today Microsoft.DurableTask.InProcessTestHost (a gRPC sidecar
/// over its in-memory orchestration service, real client and worker), with <see cref="ScriptedRunPipeline"/> registered
/// under the name RunPipeline. Swap this class for the in-process DTFx host (Trainyard.Engine.Durable.Hosting) and the
/// real orchestrator when they are on main; nothing else changes.
/// </summary>
public sealed class DurableHost : IAsyncLifetime
{
    private DurableTaskTestHost? _host;

    /// <summary>The client (payloads in EngineJson, as in the Function App).</summary>
    public DurableTaskClient Client => _host?.Client ?? throw new InvalidOperationException("the Durable host is not started");

    /// <summary>Run control over <see cref="Client"/>.</summary>
    public DurableRunControl Runs => new(Client, NullLogger<DurableRunControl>.Instance);

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        _host = await DurableTaskTestHost.StartAsync(
            tasks => tasks.AddOrchestrator(DurableNames.RunPipeline, () => new ScriptedRunPipeline()),
            new DurableTaskTestHostOptions { ConfigureServices = services => services.AddSingleton<DataConverter>(new JsonDataConverter(EngineJson.Options)) },
            limit.Token);
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }

    /// <summary>Waits (bounded) until the run's engine status satisfies <paramref name="done"/>.</summary>
    public async Task<OrchestrationMetadata> WaitAsync(string runId, Func<OrchestrationMetadata, bool> done, TimeSpan? timeout = null)
    {
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var metadata = await Client.GetInstanceAsync(runId, getInputsAndOutputs: true, limit.Token);
            if (metadata is not null && done(metadata))
            {
                return metadata;
            }

            await Task.Delay(50, limit.Token);
        }
    }

    /// <summary>Waits (bounded) until the run has finished.</summary>
    public Task<OrchestrationMetadata> WaitFinishedAsync(string runId) => WaitAsync(runId, m => m.IsCompleted);

    /// <summary>Waits (bounded) until the run is running and has published its progress.</summary>
    public Task<OrchestrationMetadata> WaitRunningAsync(string runId) =>
        WaitAsync(runId, m => m.RuntimeStatus == OrchestrationRuntimeStatus.Running && m.SerializedCustomStatus is not null);
}

/// <summary>
/// A stand-in RunPipeline for run-control tests: publishes progress, then obeys its <see cref="RunSignal"/>s: cancel
/// finishes it cancelled; events "fail" / "succeed" finish it so; other events are counted (each event id once).
/// </summary>
public sealed class ScriptedRunPipeline : TaskOrchestrator<RunPipelineInput, RunPipelineOutput>
{
    /// <inheritdoc />
    public override async Task<RunPipelineOutput> RunAsync(TaskOrchestrationContext context, RunPipelineInput input)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var events = new List<string>();
        context.SetCustomStatus(Progress(input, events));
        while (true)
        {
            var signal = await context.WaitForExternalEvent<RunSignal>(DurableNames.SignalEvent);
            if (!seen.Add(signal.EventId))
            {
                continue;
            }

            if (signal.Kind == RunSignal.Cancel)
            {
                return Output(input, RunStatus.Cancelled, signal.Reason);
            }

            switch (signal.Name)
            {
                case "fail":
                    return Output(input, RunStatus.Failed, "task b failed");
                case "succeed":
                    return Output(input, RunStatus.Succeeded, null);
                default:
                    events.Add($"{signal.Name}:{signal.Payload?.GetRawText()}");
                    context.SetCustomStatus(Progress(input, events));
                    break;
            }
        }
    }

    private static RunProgress Progress(RunPipelineInput input, List<string> events) => new()
    {
        Pipeline = input.PipelineName,
        Version = input.PipelineHash,
        Status = RunStatus.Running,
        Trigger = input.Trigger.Kind,
        Total = 2,
        Waiting = [.. events],
    };

    private static RunPipelineOutput Output(RunPipelineInput input, RunStatus status, string? error)
    {
        var a = new TaskState
        {
            TaskKey = "a",
            StepId = "a",
            Status = CoreTaskStatus.Succeeded,
            Result = new TaskResult { Outputs = new Dictionary<string, JsonElement> { ["rows"] = JsonSerializer.SerializeToElement(5) } },
        };
        var b = new TaskState { TaskKey = "b", StepId = "b", Status = status == RunStatus.Succeeded ? CoreTaskStatus.Succeeded : CoreTaskStatus.Failed };
        return new RunPipelineOutput
        {
            Status = status,
            Error = error,
            State = new RunState
            {
                RunId = input.RunId,
                PipelineName = input.PipelineName,
                PipelineHash = input.PipelineHash,
                Status = status,
                Tasks = ImmutableSortedDictionary.CreateRange<string, TaskState>(StringComparer.Ordinal, [new("a", a), new("b", b)]),
            },
        };
    }
}
