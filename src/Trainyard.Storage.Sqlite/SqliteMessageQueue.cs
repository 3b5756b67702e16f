using System.Globalization;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Sqlite;

/// <summary>
/// A leased queue in the `queue` table. Receive is one atomic UPDATE ... RETURNING, so several processes never lease
/// the same message at once; receipts change on every receive and renewal.
/// </summary>
internal sealed class SqliteMessageQueue(SqliteDatabase db, string name, TimeProvider time) : IMessageQueue
{
    public string Name { get; } = name;

    public Task SendAsync(IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
        {
            return Task.CompletedTask;
        }

        var now = time.GetUtcNow();
        db.InTransaction(d =>
        {
            foreach (var m in messages)
            {
                var at = m.Delay is { } delay && delay > TimeSpan.Zero ? now + delay : now;
                d.Exec("INSERT INTO queue (queue, id, body, visible_at) VALUES ($q, $id, $body, $at)",
                    ("$q", Name), ("$id", m.Id), ("$body", m.Body), ("$at", at.UtcTicks));
            }

            return 0;
        });
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<LeasedMessage>> ReceiveAsync(int max, TimeSpan lease, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var now = time.GetUtcNow();
        var token = SqliteRunStore.NewETag();
        return Task.FromResult(db.Run(d =>
        {
            var list = new List<LeasedMessage>();
            using var r = d.Command("""
                UPDATE queue SET visible_at = $until, dequeue_count = dequeue_count + 1, receipt = seq || ':' || $token
                WHERE seq IN (SELECT seq FROM queue WHERE queue = $q AND visible_at <= $now ORDER BY visible_at, seq LIMIT $max)
                RETURNING id, body, dequeue_count, receipt
                """,
                ("$until", (now + lease).UtcTicks), ("$token", token), ("$q", Name), ("$now", now.UtcTicks), ("$max", max)).ExecuteReader();
            while (r.Read())
            {
                list.Add(new LeasedMessage(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetString(3)));
            }

            return (IReadOnlyList<LeasedMessage>)list;
        }));
    }

    public Task<LeasedMessage> RenewAsync(LeasedMessage message, TimeSpan lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var seq = Seq(message, "renew");
        var receipt = string.Create(CultureInfo.InvariantCulture, $"{seq}:{SqliteRunStore.NewETag()}");
        var until = (time.GetUtcNow() + lease).UtcTicks;
        var changed = db.Run(d => d.Exec("UPDATE queue SET visible_at = $until, receipt = $new WHERE seq = $seq AND receipt = $old",
            ("$until", until), ("$new", receipt), ("$seq", seq), ("$old", message.Receipt)));
        return changed == 1 ? Task.FromResult(message with { Receipt = receipt }) : throw Lost(message, "renew");
    }

    public Task CompleteAsync(LeasedMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var seq = Seq(message, "complete");
        var changed = db.Run(d => d.Exec("DELETE FROM queue WHERE seq = $seq AND receipt = $receipt", ("$seq", seq), ("$receipt", message.Receipt)));
        return changed == 1 ? Task.CompletedTask : throw Lost(message, "complete");
    }

    public Task AbandonAsync(LeasedMessage message, TimeSpan delay, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var seq = Seq(message, "abandon");
        var at = (time.GetUtcNow() + (delay > TimeSpan.Zero ? delay : TimeSpan.Zero)).UtcTicks;
        var changed = db.Run(d => d.Exec("UPDATE queue SET visible_at = $at, receipt = NULL WHERE seq = $seq AND receipt = $receipt",
            ("$at", at), ("$seq", seq), ("$receipt", message.Receipt)));
        return changed == 1 ? Task.CompletedTask : throw Lost(message, "abandon");
    }

    public Task<int> CountAsync(CancellationToken cancellationToken)
        => Task.FromResult(db.Run(d => Convert.ToInt32(d.Scalar("SELECT COUNT(*) FROM queue WHERE queue = $q", ("$q", Name)), CultureInfo.InvariantCulture)));

    private long Seq(LeasedMessage message, string action)
    {
        var colon = message.Receipt.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && long.TryParse(message.Receipt.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var seq)
            ? seq
            : throw Lost(message, action);
    }

    private LeaseLostException Lost(LeasedMessage message, string action)
        => new($"Cannot {action} message '{message.Id}' on queue '{Name}': its lease was lost (received again by someone else, or already completed).");
}
