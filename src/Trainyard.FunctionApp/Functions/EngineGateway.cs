using System.Text.Json;
using System.Text.Json.Nodes;
using Trainyard.Core.Engine;
using Trainyard.FunctionApp.Triggers;
using Trainyard.Runtime;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Registry;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.FunctionApp.Functions;

/// <summary>The functions' view of <see cref="RunEngine"/>: one message per invocation, never blocking on remote work.</summary>
internal sealed partial class EngineGateway(RunEngine engine, PipelineRegistry registry, TimeProvider time, ILogger<EngineGateway> logger) : IRunGateway
{
    /// <summary>Deliveries after which a crashing work message is reported as a task failure instead of thrown again (the host's maxDequeueCount).</summary>
    public const int MaxDequeueCount = 5;

    /// <inheritdoc />
    public async Task<(string RunId, bool Created)> StartAsync(RunStartRequest request, CancellationToken cancellationToken)
    {
        var spec = registry.Spec(request.Pipeline)
            ?? throw new ApiException(409, "unreadable_pipeline", $"stored version {request.Pipeline.ContentHash} of '{request.Pipeline.Name}' no longer loads; push the pipeline again");
        bool existed = request.RunId is not null && await engine.Backend.Store.LoadAsync(request.RunId, cancellationToken) is not null;
        try
        {
            var id = await engine.StartRunAsync(
                new StartRunRequest { Spec = spec, SpecText = request.Pipeline.SpecText, Params = request.Params, RunId = request.RunId, Trigger = request.Trigger },
                cancellationToken);
            return (id, !existed);
        }
        catch (RunRequestException ex)
        {
            throw new ApiException(400, "invalid_run_request", ex.Message, "params");
        }
    }

    /// <inheritdoc />
    public async Task<JsonNode?> GetRunAsync(string runId, CancellationToken cancellationToken)
    {
        var state = await engine.GetRunAsync(runId, cancellationToken);
        return state is null ? null : JsonSerializer.SerializeToNode(state, EngineJson.Options);
    }

    /// <inheritdoc />
    public Task CancelAsync(string runId, string reason, CancellationToken cancellationToken) => engine.CancelRunAsync(runId, reason, cancellationToken);

    /// <inheritdoc />
    public async Task<string> RetryAsync(string runId, CancellationToken cancellationToken)
    {
        try
        {
            return await engine.RetryRunAsync(runId, cancellationToken);
        }
        catch (RunRequestException ex)
        {
            throw new ApiException(409, "not_retryable", ex.Message, "runId");
        }
    }

    /// <inheritdoc />
    public Task RaiseEventAsync(string runId, string name, JsonElement payload, string eventId, CancellationToken cancellationToken) =>
        engine.RaiseEventAsync(runId, name, payload, cancellationToken, eventId);

    /// <inheritdoc />
    public async Task HandleControlAsync(ControlMessage message, CancellationToken cancellationToken)
    {
        var result = await engine.HandleControlAsync([message], cancellationToken);
        if (result.Failed.Count > 0)
        {
            // Transient (storage, contention): fail the invocation so the host delivers the message again.
            throw new InvalidOperationException($"run {message.RunId} could not apply {message.Event.GetType().Name}: {result.Failed.Values.First().Message}");
        }

        foreach (var r in result.Rejected)
        {
            LogRejected(r.RunId, r.EventId, r.Reason);
        }
    }

    /// <inheritdoc />
    public async Task ExecuteWorkAsync(WorkMessage message, int dequeueCount, CancellationToken cancellationToken)
    {
        WorkResult result;
        try
        {
            result = await engine.ExecuteWorkAsync(message, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && dequeueCount >= MaxDequeueCount)
        {
            // The host would move the message to the poison queue and the task would hang: report it as a failure.
            var work = message.Work;
            LogPoisoned(ex, work.RunId, work.TaskKey, work.DispatchId, dequeueCount);
            var failed = new TaskFailed(work.TaskKey, work.DispatchId, $"the work message failed {dequeueCount} times; last error: {ex.Message}")
            {
                EventId = $"poison:{work.DispatchId}:{message.Poll}",
                At = time.GetUtcNow(),
            };
            var body = JsonSerializer.Serialize(new ControlMessage(work.RunId, failed), EngineJson.Options);
            await engine.Backend.Control.SendAsync([new OutgoingMessage(failed.EventId, body)], cancellationToken);
            return;
        }

        if (result.Kind == WorkResultKind.Busy)
        {
            // The host cannot delay a redelivery: send the message again with the delay asked for, and complete this one.
            var body = JsonSerializer.Serialize(message, EngineJson.Options);
            var delay = result.RetryAfter ?? TimeSpan.FromSeconds(30);
            var id = $"busy:{message.Work.DispatchId}:{time.GetUtcNow().ToUnixTimeMilliseconds()}";
            await engine.Backend.Work.SendAsync([new OutgoingMessage(id, body, delay)], cancellationToken);
        }
    }

    [LoggerMessage(EventId = 6201, Level = LogLevel.Warning, Message = "Control message for run {RunId} (event {EventId}) dropped: {Reason}")]
    private partial void LogRejected(string runId, string eventId, string reason);

    [LoggerMessage(EventId = 6202, Level = LogLevel.Error, Message = "Work message for run {RunId} task {TaskKey} (dispatch {DispatchId}) failed {DequeueCount} times; reported as a task failure")]
    private partial void LogPoisoned(Exception ex, string runId, string taskKey, string dispatchId, int dequeueCount);
}
