using Trainyard.Execution;
using Trainyard.Execution.Contracts;

namespace Trainyard.Runtime.Contracts;

/// <summary>A backend that keeps quarantined messages, one poison queue per queue (Azure: `&lt;queue&gt;-poison`).</summary>
public interface IPoisonQueues
{
    /// <summary>The poison queue of <paramref name="source"/> (the backend's control or work queue).</summary>
    IMessageQueue PoisonQueueFor(IMessageQueue source);
}

/// <summary>
/// Body of a message in a poison queue: the original message untouched (so it can be requeued as it was) and why it
/// was quarantined. Serialized camelCase.
/// </summary>
public sealed record PoisonMessage(string Source, string Id, string Body, string Reason, int DequeueCount, DateTimeOffset At);
