using System.Text.Json;
using Azure.Storage.Queues;
using Trainyard.Core.Engine;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Azure;

/// <summary>
/// Sends drift signals to an Azure Storage queue (`drift-signals` by default), which the Function App's
/// `OnDriftSignal` queue trigger reads (and, on a laptop, Azurite's queue that local hosts read). Messages are the
/// signal as JSON, Base64-encoded like the Functions queue extension expects. A re-sent signal keeps its signal id, so
/// the trigger starts one run for it (the run id is made from the signal id).
/// </summary>
public sealed class QueueSignalSink : ISignalSink
{
    /// <summary>The queue the Function App listens on.</summary>
    public const string DefaultQueue = "drift-signals";

    private readonly QueueClient _queue;
    private int _created;

    /// <summary>Creates a sink over a queue client (created with <see cref="ClientOptions"/>, identity-based in Azure).</summary>
    public QueueSignalSink(QueueClient queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        _queue = queue;
    }

    /// <summary>Client options every reader and writer of the queue uses: Base64 messages, as the Functions extension.</summary>
    public static QueueClientOptions ClientOptions() => new() { MessageEncoding = QueueMessageEncoding.Base64 };

    /// <inheritdoc />
    public async Task SendAsync(DriftSignal signal, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(signal);
        if (Interlocked.Exchange(ref _created, 1) == 0)
        {
            await _queue.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        await _queue.SendMessageAsync(JsonSerializer.Serialize(signal, EngineJson.Options), cancellationToken).ConfigureAwait(false);
    }
}
