using Microsoft.Extensions.Logging;
using Trainyard.Execution;
using Trainyard.Execution.Contracts;

namespace Trainyard.Runtime;

/// <summary>Source-generated log messages of the engine and the local worker (stable event ids 1000-1099).</summary>
internal static partial class EngineLog
{
    [LoggerMessage(1000, LogLevel.Information, "Run {RunId} started (pipeline {Pipeline}, version {Hash})")]
    public static partial void RunStarted(ILogger logger, string runId, string pipeline, string hash);

    [LoggerMessage(1001, LogLevel.Warning, "Dropped control message {EventId} for run {RunId}: {Reason}")]
    public static partial void Rejected(ILogger logger, string runId, string eventId, string reason);

    [LoggerMessage(1002, LogLevel.Debug, "Run {RunId}: ETag conflict on attempt {Attempt}, reloading")]
    public static partial void Conflict(ILogger logger, string runId, int attempt);

    [LoggerMessage(1003, LogLevel.Error, "Run {RunId}: applying {Count} event(s) failed; the messages will be retried")]
    public static partial void ApplyFailed(ILogger logger, Exception exception, string runId, int count);

    [LoggerMessage(1004, LogLevel.Information, "Run {RunId} finished: {Status}")]
    public static partial void RunFinished(ILogger logger, string runId, string status);

    [LoggerMessage(1005, LogLevel.Debug, "Skipped work {DispatchId} ({TaskKey}): {Reason}")]
    public static partial void WorkSkipped(ILogger logger, string dispatchId, string taskKey, string reason);

    [LoggerMessage(1006, LogLevel.Information, "Task {RunId}/{TaskKey} attempt {Attempt} {Outcome}")]
    public static partial void TaskDone(ILogger logger, string runId, string taskKey, int attempt, string outcome);


    [LoggerMessage(1008, LogLevel.Warning, "Unreadable {Queue} message {MessageId} (dequeue {DequeueCount}): {Reason}")]
    public static partial void BadMessage(ILogger logger, string queue, string messageId, int dequeueCount, string reason);

    [LoggerMessage(1009, LogLevel.Error, "Handling {Queue} message {MessageId} failed (dequeue {DequeueCount}); retrying after {Delay}")]
    public static partial void HandlerFailed(ILogger logger, Exception exception, string queue, string messageId, int dequeueCount, TimeSpan delay);

    [LoggerMessage(1010, LogLevel.Warning, "Lease of {Queue} message {MessageId} was lost: {Reason}")]
    public static partial void LeaseLost(ILogger logger, string queue, string messageId, string reason);

    [LoggerMessage(1011, LogLevel.Error, "Notifier {Notifier} failed for run {RunId}")]
    public static partial void NotifierFailed(ILogger logger, Exception exception, string notifier, string runId);

    [LoggerMessage(1015, LogLevel.Warning, "Run {RunId}: inline attempt {ItemId} could not finish here; it goes through the work queue")]
    public static partial void InlineFailed(ILogger logger, Exception exception, string runId, string itemId);

    [LoggerMessage(1016, LogLevel.Warning, "Run {RunId}: {Count} outbox item(s) pending since the previous sweep with nobody running them (a host died?); delivered to the queues")]
    public static partial void StalledDelivered(ILogger logger, string runId, int count);

    [LoggerMessage(1017, LogLevel.Warning, "Inline attempts were still handing over after 30 s; what is left stays pending in the runs' outboxes until recovered")]
    public static partial void InlineDrainTimedOut(ILogger logger);


    [LoggerMessage(1014, LogLevel.Warning, "{Executor} executor could not {Action}; the remote service's own limits (timeouts) still apply")]
    public static partial void RemoteCallFailed(ILogger logger, Exception exception, string action, string executor);

    [LoggerMessage(1012, LogLevel.Warning, "Message {MessageId} on {Queue} reached dequeue count {DequeueCount}; handed to the poison handler")]
    public static partial void Poison(ILogger logger, string queue, string messageId, int dequeueCount);
}
