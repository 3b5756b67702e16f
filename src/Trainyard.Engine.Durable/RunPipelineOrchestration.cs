using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;

namespace Trainyard.Engine.Durable;

/// <summary>
/// The one orchestrator of every pipeline run: it interprets the run through Core's decider (docs/engine.md). Hosted by
/// the Function App's <c>[Function]</c> wrapper and by the in-process Durable Task Framework hosts alike.
/// </summary>
/// <remarks>
/// Deterministic by construction: time is <see cref="TaskOrchestrationContext.CurrentUtcDateTime"/>, ids come from the
/// decider's hashes, and the only I/O is through activities. The run is pinned to the pipeline version in its input.
/// </remarks>
public sealed class RunPipelineOrchestration : TaskOrchestrator<RunPipelineInput, RunPipelineOutput>
{
    /// <inheritdoc />
    public override Task<RunPipelineOutput> RunAsync(TaskOrchestrationContext context, RunPipelineInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        return new RunInterpreter(context, input).RunAsync();
    }
}

/// <summary>Replay-safe logs of the Durable engine's orchestrators.</summary>
internal static partial class DurableLog
{
    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "Run {RunId} ({Pipeline}@{Version}) started generation {Generation}")]
    public static partial void GenerationStarted(ILogger logger, string runId, string pipeline, string version, int generation);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "Run {RunId} finished: {Status}")]
    public static partial void RunFinished(ILogger logger, string runId, string status);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Warning, Message = "Run {RunId} cannot start: {Error}")]
    public static partial void RunRejected(ILogger logger, string runId, string error);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Information, Message = "Run {RunId} continues as new after about {HistoryEvents} history events (generation {Generation}, {Held} attempts held)")]
    public static partial void ContinuingAsNew(ILogger logger, string runId, int historyEvents, int generation, int held);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Warning, Message = "Run {RunId} ignored a signal with event id {EventId}: {Reason}")]
    public static partial void SignalIgnored(ILogger logger, string runId, string eventId, string reason);

    [LoggerMessage(EventId = 4105, Level = LogLevel.Warning, Message = "Run {RunId}: {Activity} failed: {Error}")]
    public static partial void HousekeepingFailed(ILogger logger, string runId, string activity, string error);
}
