using System.Text.Json;
using Azure.Messaging.ServiceBus;
using Trainyard.Execution.Contracts;

namespace Trainyard.Messaging.ServiceBus;

/// <summary>
/// Sends drift signals to a Service Bus topic with <see cref="ServiceBusSender"/>: the JSON signal (camelCase) as body
/// and the signal id as MessageId, so Service Bus duplicate detection and Trainyard's drain (run id from the message
/// id) both see a re-sent signal as the same message. The client retries transient failures itself.
/// </summary>
public sealed class ServiceBusSignalSink : ISignalSink
{
    /// <summary>Subject of every drift signal message.</summary>
    public const string Subject = "drift";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly ServiceBusSender _sender;

    /// <summary>Creates a sink over a sender of the drift-signals topic (identity with Azure Service Bus Data Sender).</summary>
    public ServiceBusSignalSink(ServiceBusSender sender)
    {
        ArgumentNullException.ThrowIfNull(sender);
        _sender = sender;
    }

    /// <summary>The message a signal is sent as.</summary>
    public static ServiceBusMessage ToMessage(DriftSignal signal)
    {
        ArgumentNullException.ThrowIfNull(signal);
        ArgumentException.ThrowIfNullOrWhiteSpace(signal.SignalId);
        return new ServiceBusMessage(BinaryData.FromObjectAsJson(signal, Json))
        {
            MessageId = signal.SignalId,
            ContentType = "application/json",
            Subject = Subject,
        };
    }

    /// <inheritdoc />
    public async Task SendAsync(DriftSignal signal, CancellationToken cancellationToken)
    {
        var message = ToMessage(signal);
        try
        {
            await _sender.SendMessageAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new InvalidOperationException(
                $"Service Bus refused drift signal {signal.SignalId} to {_sender.FullyQualifiedNamespace}/{_sender.EntityPath}: {ex.Message}. Grant the app's managed identity the 'Azure Service Bus Data Sender' role on the topic.", ex);
        }
        catch (ServiceBusException ex) when (ex.Reason == ServiceBusFailureReason.MessagingEntityNotFound)
        {
            throw new InvalidOperationException(
                $"Service Bus has no topic '{_sender.EntityPath}' in {_sender.FullyQualifiedNamespace} for drift signal {signal.SignalId}; infra creates 'drift-signals' (infra/app/servicebus.bicep).", ex);
        }
    }
}
