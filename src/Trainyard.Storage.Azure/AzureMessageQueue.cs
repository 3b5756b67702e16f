using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Azure;

/// <summary>
/// <see cref="IMessageQueue"/> on an Azure Storage queue. Message text is base64 of UTF-8 JSON (the Functions host's
/// default <c>messageEncoding</c>), holding the envelope described in <see cref="QueueEnvelope"/>. Delays use the
/// initial visibility timeout, leases the visibility timeout (renewal returns the new pop receipt); a delay longer than
/// the 7-day maximum is chained: the message carries its due time and is hidden again on every early delivery.
/// </summary>
public sealed class AzureMessageQueue : IMessageQueue
{
    /// <summary>Longest visibility timeout Azure accepts (7 days), less a margin for clock skew.</summary>
    public static readonly TimeSpan MaxVisibility = TimeSpan.FromDays(7) - TimeSpan.FromMinutes(1);

    private const int MaxPerReceive = 32;
    private static readonly TimeSpan NeverExpire = TimeSpan.FromSeconds(-1);
    private readonly QueueClient _queue;
    private readonly Func<CancellationToken, Task> _ensure;
    private readonly TimeProvider _time;

    internal AzureMessageQueue(QueueClient queue, Func<CancellationToken, Task> ensure, TimeProvider time)
    {
        _queue = queue;
        _ensure = ensure;
        _time = time;
    }

    /// <inheritdoc />
    public string Name => _queue.Name;

    /// <inheritdoc />
    public async Task SendAsync(IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
        {
            return;
        }

        await _ensure(cancellationToken).ConfigureAwait(false);
        if (messages.Count == 1)
        {
            await SendOneAsync(messages[0], cancellationToken).ConfigureAwait(false);
            return;
        }

        // Queues have no batch send: overlap the requests instead.
        await Parallel.ForEachAsync(messages, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
            async (m, ct) => await SendOneAsync(m, ct).ConfigureAwait(false)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<LeasedMessage>> ReceiveAsync(int max, TimeSpan lease, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        CheckLease(lease);
        await _ensure(cancellationToken).ConfigureAwait(false);
        var received = await _queue.ReceiveMessagesAsync(Math.Min(max, MaxPerReceive), WholeSeconds(lease), cancellationToken).ConfigureAwait(false);
        var result = new List<LeasedMessage>(received.Value.Length);
        var now = _time.GetUtcNow();
        foreach (var m in received.Value)
        {
            var envelope = QueueEnvelope.Decode(m.MessageText, m.MessageId);
            if (envelope.NotBefore is { } due && due > now + TimeSpan.FromSeconds(1))
            {
                // A chained long delay delivered early: hide it again for (at most) another 7 days.
                var rest = due - now < MaxVisibility ? due - now : MaxVisibility;
                await _queue.UpdateMessageAsync(m.MessageId, m.PopReceipt, visibilityTimeout: WholeSeconds(rest), cancellationToken: cancellationToken).ConfigureAwait(false);
                continue;
            }

            result.Add(new LeasedMessage(envelope.Id, envelope.Body, (int)m.DequeueCount, Receipt(m.MessageId, m.PopReceipt)));
        }

        return result;
    }

    /// <inheritdoc />
    public async Task<LeasedMessage> RenewAsync(LeasedMessage message, TimeSpan lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        CheckLease(lease);
        var (id, pop) = ParseReceipt(message);
        try
        {
            var updated = await _queue.UpdateMessageAsync(id, pop, visibilityTimeout: WholeSeconds(lease), cancellationToken: cancellationToken).ConfigureAwait(false);
            return message with { Receipt = Receipt(id, updated.Value.PopReceipt) };
        }
        catch (RequestFailedException e) when (e.Status is 400 or 404)
        {
            throw new LeaseLostException($"Lease on message '{message.Id}' in queue '{Name}' was lost ({e.ErrorCode}); another receiver may process it.");
        }
    }

    /// <inheritdoc />
    public async Task CompleteAsync(LeasedMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var (id, pop) = ParseReceipt(message);
        try
        {
            await _queue.DeleteMessageAsync(id, pop, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status is 400 or 404)
        {
            throw new LeaseLostException($"Lease on message '{message.Id}' in queue '{Name}' was lost before completion ({e.ErrorCode}); it may be delivered again.");
        }
    }

    /// <inheritdoc />
    public async Task AbandonAsync(LeasedMessage message, TimeSpan delay, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var (id, pop) = ParseReceipt(message);
        try
        {
            await _queue.UpdateMessageAsync(id, pop, visibilityTimeout: WholeSeconds(Min(delay, MaxVisibility)), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status is 400 or 404)
        {
            throw new LeaseLostException($"Cannot abandon message '{message.Id}' in queue '{Name}': its lease was lost ({e.ErrorCode}); it is visible again anyway.");
        }
    }

    /// <inheritdoc />
    public async Task<int> CountAsync(CancellationToken cancellationToken)
    {
        await _ensure(cancellationToken).ConfigureAwait(false);
        var properties = await _queue.GetPropertiesAsync(cancellationToken).ConfigureAwait(false);
        return properties.Value.ApproximateMessagesCount;
    }

    /// <summary>Reads up to 32 messages without leasing them (for inspection, e.g. the poison queue).</summary>
    public async Task<IReadOnlyList<LeasedMessage>> PeekAsync(int max, CancellationToken cancellationToken)
    {
        await _ensure(cancellationToken).ConfigureAwait(false);
        var peeked = await _queue.PeekMessagesAsync(Math.Clamp(max, 1, MaxPerReceive), cancellationToken).ConfigureAwait(false);
        return peeked.Value.Select(m =>
        {
            var envelope = QueueEnvelope.Decode(m.MessageText, m.MessageId);
            return new LeasedMessage(envelope.Id, envelope.Body, (int)m.DequeueCount, "");
        }).ToList();
    }

    private async Task SendOneAsync(OutgoingMessage message, CancellationToken cancellationToken)
    {
        var delay = message.Delay is { } d && d > TimeSpan.Zero ? d : TimeSpan.Zero;
        DateTimeOffset? notBefore = delay > MaxVisibility ? _time.GetUtcNow() + delay : null;
        var text = QueueEnvelope.Encode(message.Id, message.Body, notBefore);
        await _queue.SendMessageAsync(text, WholeSeconds(Min(delay, MaxVisibility)), NeverExpire, cancellationToken).ConfigureAwait(false);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>
    /// Queue visibility timeouts are whole seconds on the wire, and the SDK truncates (0.9 s becomes 0: visible at once).
    /// Rounding up keeps "not before" true: a busy duplicate or a 100 ms error backoff waits a second instead of coming
    /// straight back (which had a busy copy reach the poison threshold in about a second).
    /// </summary>
    internal static TimeSpan WholeSeconds(TimeSpan delay) =>
        delay <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Min(Math.Ceiling(delay.TotalSeconds), MaxVisibility.TotalSeconds));

    private static void CheckLease(TimeSpan lease)
    {
        if (lease < TimeSpan.FromSeconds(1) || lease > MaxVisibility)
        {
            throw new ArgumentOutOfRangeException(nameof(lease), lease, "A queue lease must be between 1 second and 7 days (the visibility timeout limits of Azure Storage queues).");
        }
    }

    private static string Receipt(string messageId, string popReceipt) => messageId + "\n" + popReceipt;

    private (string Id, string Pop) ParseReceipt(LeasedMessage message)
    {
        var cut = message.Receipt.IndexOf('\n', StringComparison.Ordinal);
        if (cut <= 0)
        {
            throw new ArgumentException($"Message '{message.Id}' has no receipt of queue '{Name}': only messages received from this queue can be renewed, completed or abandoned.", nameof(message));
        }

        return (message.Receipt[..cut], message.Receipt[(cut + 1)..]);
    }
}
