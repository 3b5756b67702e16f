using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.Runtime;

/// <summary>
/// The <see cref="IPoisonHandler"/> for every backend that has poison queues (<see cref="IPoisonQueues"/>): moves the
/// message, with the reason, to the poison queue of the queue it came from, and for a readable work message reports
/// the attempt as a non-retryable task failure, so the run proceeds per the step's onFailure instead of hanging.
/// Crash-safe by order: the copy and the report come before the worker removes the original, and both are idempotent
/// downstream (the report's event id is the attempt's result id).
/// </summary>
public sealed class PoisonQueueHandler(RunEngine engine, IPoisonQueues queues) : IPoisonHandler
{
    /// <summary>A handler for <paramref name="engine"/>'s backend, or null when the backend has no poison queues.</summary>
    public static PoisonQueueHandler? For(RunEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        return engine.Backend is IPoisonQueues queues ? new PoisonQueueHandler(engine, queues) : null;
    }

    /// <inheritdoc />
    public async Task<bool> HandleAsync(IMessageQueue source, LeasedMessage message, string reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(message);
        var poison = new PoisonMessage(source.Name, message.Id, message.Body, reason, message.DequeueCount, engine.Options.Time.GetUtcNow());
        await queues.PoisonQueueFor(source).SendAsync(
            [new OutgoingMessage(message.Id, JsonSerializer.Serialize(poison, EngineJson.Options))], cancellationToken).ConfigureAwait(false);

        if (ReferenceEquals(source, engine.Backend.Work) && RunEngine.TryParseWork(message.Body, out var work, out _))
        {
            await engine.ReportWorkFailedAsync(
                work!,
                $"Task attempt {work!.Work.DispatchId} was quarantined after {message.DequeueCount} deliveries ({reason}); " +
                $"inspect it with `trainyard poison list` and requeue it with `trainyard poison requeue` once the cause is fixed.",
                cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Sends quarantined messages back to the queue they came from, unchanged; returns how many.</summary>
    public static async Task<int> RequeueAsync(IMessageQueue poisonQueue, IMessageQueue target, int max, TimeSpan lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(poisonQueue);
        ArgumentNullException.ThrowIfNull(target);
        var moved = 0;
        while (moved < max)
        {
            var batch = await poisonQueue.ReceiveAsync(Math.Min(32, max - moved), lease, cancellationToken).ConfigureAwait(false);
            if (batch.Count == 0)
            {
                break;
            }

            foreach (var m in batch)
            {
                var original = TryParse(m.Body);
                await target.SendAsync([original is null ? new OutgoingMessage(m.Id, m.Body) : new OutgoingMessage(original.Id, original.Body)], cancellationToken).ConfigureAwait(false);
                await poisonQueue.CompleteAsync(m, cancellationToken).ConfigureAwait(false);
                moved++;
            }
        }

        return moved;
    }

    /// <summary>Reads a poison queue message; null when it is not one this handler wrote.</summary>
    public static PoisonMessage? TryParse(string body)
    {
        try
        {
            var parsed = JsonSerializer.Deserialize<PoisonMessage>(body, EngineJson.Options);
            return parsed is { Id: not null, Body: not null, Source: not null } ? parsed : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
