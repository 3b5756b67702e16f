using Azure.Messaging.ServiceBus;
using Microsoft.Extensions.Logging;

namespace Trainyard.Service;

/// <summary>What one drain did with the messages it received.</summary>
public sealed class DrainReport
{
    /// <summary>Messages received.</summary>
    public int Received { get; set; }

    /// <summary>Messages completed (their runs started, found already started, or none matched).</summary>
    public int Completed { get; set; }

    /// <summary>Malformed messages dead-lettered, with the reason.</summary>
    public List<(string MessageId, string Reason)> DeadLettered { get; } = [];

    /// <summary>Messages abandoned after a transient failure (delivered again; dead-lettered by Service Bus at MaxDeliveryCount).</summary>
    public List<(string MessageId, string Reason)> Abandoned { get; } = [];

    /// <summary>Run ids started or found.</summary>
    public List<string> Runs { get; } = [];
}

/// <summary>
/// Drains drift signals from a Service Bus subscription in peek-lock mode (the Service Bus trigger extension is not
/// available to this app, so a timer calls this): receive a batch; for each message start the run, then complete it;
/// dead-letter a malformed message with the reason; abandon on a transient failure so it is delivered again.
/// </summary>
public sealed partial class ServiceBusDrain(ServiceBusReceiver receiver, ILogger<ServiceBusDrain> logger)
{
    /// <summary>Dead-letter reason of a message that is not a valid drift signal.</summary>
    public const string MalformedReason = "MalformedDriftSignal";

    /// <summary>
    /// Receives up to <paramref name="maxBatches"/> batches of <paramref name="batchSize"/> messages (stopping at the
    /// first empty one) and hands each valid signal to <paramref name="triggers"/>.
    /// </summary>
    public async Task<DrainReport> DrainAsync(TriggerService triggers, int batchSize, TimeSpan maxWait, int maxBatches, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(triggers);
        var report = new DrainReport();
        for (int batch = 0; batch < maxBatches; batch++)
        {
            var messages = await receiver.ReceiveMessagesAsync(batchSize, maxWait, cancellationToken).ConfigureAwait(false);
            if (messages.Count == 0)
            {
                break;
            }

            report.Received += messages.Count;
            foreach (var message in messages)
            {
                await HandleAsync(triggers, message, report, cancellationToken).ConfigureAwait(false);
            }
        }

        return report;
    }

    private async Task HandleAsync(TriggerService triggers, ServiceBusReceivedMessage message, DrainReport report, CancellationToken ct)
    {
        Trainyard.Execution.Contracts.DriftSignal signal;
        try
        {
            signal = DriftSignalReader.ReadServiceBus(message.Body, message.MessageId);
        }
        catch (TriggerPayloadException ex)
        {
            LogDeadLetter(message.MessageId, ex.Field, ex.Message);
            await receiver.DeadLetterMessageAsync(message, MalformedReason, Truncate(ex.Message, 1024), ct).ConfigureAwait(false);
            report.DeadLettered.Add((message.MessageId, ex.Message));
            return;
        }

        string? failure;
        try
        {
            var result = await triggers.OnDriftAsync(signal, ct).ConfigureAwait(false);
            report.Runs.AddRange(result.Runs);
            failure = result.Failures.Count == 0 ? null : string.Join("; ", result.Failures);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Storage or the engine failed: the same message later starts the same run (its id derives from the message).
            LogHandlerFailed(ex, message.MessageId);
            failure = ex.Message;
        }

        if (failure is not null)
        {
            LogAbandon(message.MessageId, message.DeliveryCount, failure);
            await receiver.AbandonMessageAsync(message, cancellationToken: ct).ConfigureAwait(false);
            report.Abandoned.Add((message.MessageId, failure));
            return;
        }

        // Completed only once the run exists: a crash before this line redelivers the message, which finds the run.
        await receiver.CompleteMessageAsync(message, ct).ConfigureAwait(false);
        report.Completed++;
    }

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..max];

    [LoggerMessage(EventId = 6301, Level = LogLevel.Warning, Message = "Service Bus message {MessageId} dead-lettered: field {Field}: {Reason}")]
    private partial void LogDeadLetter(string messageId, string field, string reason);

    [LoggerMessage(EventId = 6302, Level = LogLevel.Warning, Message = "Service Bus message {MessageId} abandoned (delivery {DeliveryCount}): {Reason}")]
    private partial void LogAbandon(string messageId, int deliveryCount, string reason);

    [LoggerMessage(EventId = 6303, Level = LogLevel.Error, Message = "Drift signal of Service Bus message {MessageId} could not be handled")]
    private partial void LogHandlerFailed(Exception ex, string messageId);
}
