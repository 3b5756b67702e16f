using System.Text.Json;
using System.Text.Json.Nodes;
using Trainyard.Core.Engine;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.FunctionApp.Triggers;

/// <summary>A request to start one run of a registered pipeline version.</summary>
internal sealed record RunStartRequest(PipelineVersion Pipeline, IReadOnlyDictionary<string, JsonElement> Params, TriggerInfo Trigger, string? RunId);

/// <summary>Starts runs. Starting an id that already exists returns it and changes nothing.</summary>
internal interface IRunLauncher
{
    /// <summary>Starts (or finds) the run; returns its id and whether this call created it.</summary>
    Task<(string RunId, bool Created)> StartAsync(RunStartRequest request, CancellationToken cancellationToken);
}

/// <summary>Everything the functions ask of the run engine: starts, the single-message entry points and run control.</summary>
internal interface IRunGateway : IRunLauncher
{
    /// <summary>A run's state as JSON, or null when unknown.</summary>
    Task<JsonNode?> GetRunAsync(string runId, CancellationToken cancellationToken);

    /// <summary>Requests cancellation. Throws <see cref="ApiException"/> (404) for an unknown run.</summary>
    Task CancelAsync(string runId, string reason, CancellationToken cancellationToken);

    /// <summary>Starts a retry-from-failure run; returns its id. Throws <see cref="ApiException"/> for an unknown or unfinished run.</summary>
    Task<string> RetryAsync(string runId, CancellationToken cancellationToken);

    /// <summary>Raises an external event on a run. Throws <see cref="ApiException"/> (404) for an unknown run.</summary>
    Task RaiseEventAsync(string runId, string name, JsonElement payload, string eventId, CancellationToken cancellationToken);

    /// <summary>Applies one control-queue message.</summary>
    Task HandleControlAsync(ControlMessage message, CancellationToken cancellationToken);

    /// <summary>Executes one work-queue message (<paramref name="dequeueCount"/> lets the runtime fail a message that keeps crashing).</summary>
    Task ExecuteWorkAsync(WorkMessage message, int dequeueCount, CancellationToken cancellationToken);
}

/// <summary>An API-level failure with an HTTP status, a stable code and the field at fault.</summary>
internal sealed class ApiException(int status, string code, string message, string? field = null) : Exception(message)
{
    /// <summary>HTTP status.</summary>
    public int Status { get; } = status;

    /// <summary>Stable error code.</summary>
    public string Code { get; } = code;

    /// <summary>Field at fault, if any.</summary>
    public string? Field { get; } = field;
}
