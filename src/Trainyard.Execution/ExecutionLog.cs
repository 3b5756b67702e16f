using Microsoft.Extensions.Logging;

namespace Trainyard.Execution;

internal static partial class ExecutionLog
{
    [LoggerMessage(3001, LogLevel.Warning, "Heartbeat of dispatch {DispatchId} stopped: {Reason}")]
    public static partial void HeartbeatFailed(ILogger logger, string dispatchId, string reason);

    [LoggerMessage(3002, LogLevel.Information, "Stopped remote work of dispatch {DispatchId} ({Executor})")]
    public static partial void RemoteStopped(ILogger logger, string dispatchId, string executor);

    [LoggerMessage(3003, LogLevel.Warning, "Remote call failed: {Action} ({Executor})")]
    public static partial void RemoteCallFailed(ILogger logger, Exception exception, string action, string executor);

    [LoggerMessage(3004, LogLevel.Information, "Dispatch {DispatchId} ({TaskKey}) ran already: returning its stored result")]
    public static partial void Redelivered(ILogger logger, string dispatchId, string taskKey);
}
