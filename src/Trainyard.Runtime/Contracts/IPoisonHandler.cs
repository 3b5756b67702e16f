using Trainyard.Execution;
using Trainyard.Execution.Contracts;

namespace Trainyard.Runtime.Contracts;

/// <summary>
/// What a worker does with a message delivered too often (<see cref="LocalWorker"/>'s PoisonThreshold) or unreadable:
/// e.g. copy it to a poison queue and report the task as failed. None by default (the message keeps being retried
/// with backoff, unreadable ones are dropped with a log line).
/// </summary>
public interface IPoisonHandler
{
    /// <summary>Takes the message over; return true when the worker should complete (remove) it.</summary>
    Task<bool> HandleAsync(IMessageQueue source, LeasedMessage message, string reason, CancellationToken cancellationToken);
}
