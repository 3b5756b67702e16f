using System.Globalization;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.Runtime.InMemory;

/// <summary>
/// An in-memory queue with Azure Storage Queue semantics: delays, leases (visibility timeouts), receipts that
/// change on every receive or renewal, and dequeue counts.
/// </summary>
public sealed class InMemoryMessageQueue(string name, TimeProvider? time = null) : IMessageQueue
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _gate = new();
    private readonly Dictionary<long, Entry> _entries = [];

    // Priority = when the entry becomes visible; stale nodes (older version) are skipped on receive.
    private readonly PriorityQueue<(long Seq, long Version), (DateTimeOffset At, long Seq)> _visible = new();
    private long _nextSeq;

    /// <inheritdoc />
    public string Name { get; } = name;

    /// <inheritdoc />
    public Task SendAsync(IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            foreach (var m in messages)
            {
                var seq = ++_nextSeq;
                var at = m.Delay is { } d && d > TimeSpan.Zero ? now + d : now;
                _entries[seq] = new Entry(m.Id, m.Body) { VisibleAt = at };
                _visible.Enqueue((seq, 0), (at, seq));
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<LeasedMessage>> ReceiveAsync(int max, TimeSpan lease, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var now = _time.GetUtcNow();
        var result = new List<LeasedMessage>();
        lock (_gate)
        {
            while (result.Count < max && _visible.TryPeek(out var node, out var priority) && priority.At <= now)
            {
                _visible.Dequeue();
                if (!_entries.TryGetValue(node.Seq, out var e) || e.Version != node.Version)
                {
                    continue;
                }

                e.Version++;
                e.DequeueCount++;
                e.VisibleAt = now + lease;
                _visible.Enqueue((node.Seq, e.Version), (e.VisibleAt, node.Seq));
                result.Add(new LeasedMessage(e.Id, e.Body, e.DequeueCount, Receipt(node.Seq, e.Version)));
            }
        }

        return Task.FromResult<IReadOnlyList<LeasedMessage>>(result);
    }

    /// <inheritdoc />
    public Task<LeasedMessage> RenewAsync(LeasedMessage message, TimeSpan lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        lock (_gate)
        {
            var (seq, e) = Find(message, "renew");
            e.Version++;
            e.VisibleAt = _time.GetUtcNow() + lease;
            _visible.Enqueue((seq, e.Version), (e.VisibleAt, seq));
            return Task.FromResult(message with { Receipt = Receipt(seq, e.Version) });
        }
    }

    /// <inheritdoc />
    public Task CompleteAsync(LeasedMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        lock (_gate)
        {
            var (seq, _) = Find(message, "complete");
            _entries.Remove(seq);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task AbandonAsync(LeasedMessage message, TimeSpan delay, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        lock (_gate)
        {
            var (seq, e) = Find(message, "abandon");
            e.Version++;
            e.VisibleAt = _time.GetUtcNow() + (delay > TimeSpan.Zero ? delay : TimeSpan.Zero);
            _visible.Enqueue((seq, e.Version), (e.VisibleAt, seq));
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<int> CountAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_entries.Count);
        }
    }

    private (long Seq, Entry Entry) Find(LeasedMessage message, string action)
    {
        var parts = message.Receipt.Split(':');
        if (parts.Length == 2
            && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seq)
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var version)
            && _entries.TryGetValue(seq, out var e)
            && e.Version == version)
        {
            return (seq, e);
        }

        throw new LeaseLostException($"Cannot {action} message '{message.Id}' on queue '{Name}': its lease was lost (received again by someone else, or already completed).");
    }

    private static string Receipt(long seq, long version) => string.Create(CultureInfo.InvariantCulture, $"{seq}:{version}");

    private sealed class Entry(string id, string body)
    {
        public string Id { get; } = id;

        public string Body { get; } = body;

        public long Version { get; set; }

        public int DequeueCount { get; set; }

        public DateTimeOffset VisibleAt { get; set; }
    }
}
