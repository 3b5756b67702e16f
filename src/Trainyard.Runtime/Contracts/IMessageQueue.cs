using Trainyard.Execution;
using Trainyard.Execution.Contracts;

namespace Trainyard.Runtime.Contracts;

/// <summary>
/// An at-least-once queue with leases (Azure Storage Queue semantics): a received message is invisible until its
/// lease ends, then it is delivered again unless completed.
/// </summary>
public interface IMessageQueue
{
    /// <summary>Queue name.</summary>
    string Name { get; }

    /// <summary>Sends messages; each becomes visible after its delay (null: at once).</summary>
    Task SendAsync(IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken);

    /// <summary>Receives up to <paramref name="max"/> visible messages, leasing each for <paramref name="lease"/>.</summary>
    Task<IReadOnlyList<LeasedMessage>> ReceiveAsync(int max, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Extends a lease; returns the message with its new receipt. Throws <see cref="LeaseLostException"/> if the lease was lost.</summary>
    Task<LeasedMessage> RenewAsync(LeasedMessage message, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Deletes a leased message. Throws <see cref="LeaseLostException"/> if the lease was lost.</summary>
    Task CompleteAsync(LeasedMessage message, CancellationToken cancellationToken);

    /// <summary>Gives a leased message back, visible again after <paramref name="delay"/>.</summary>
    Task AbandonAsync(LeasedMessage message, TimeSpan delay, CancellationToken cancellationToken);

    /// <summary>Approximate number of messages (visible or not).</summary>
    Task<int> CountAsync(CancellationToken cancellationToken);
}

/// <summary>A message to send.</summary>
public sealed record OutgoingMessage(string Id, string Body, TimeSpan? Delay = null);

/// <summary>A received message under lease.</summary>
public sealed record LeasedMessage(string Id, string Body, int DequeueCount, string Receipt);

/// <summary>The lease on a message ended before the holder finished (it may be delivered again).</summary>
public sealed class LeaseLostException(string message) : Exception(message);
