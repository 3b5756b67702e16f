using System.Net;
using System.Text.Json;
using Azure.Core;
using Azure.Core.Pipeline;
using Trainyard.Execution.Contracts;

namespace Trainyard.Messaging.ServiceBus;

/// <summary>
/// Sends drift signals to a Service Bus topic (or queue) with the REST "Send Message" operation:
/// `POST https://{namespace}/{topic}/messages`, an Entra ID token for https://servicebus.azure.net/.default, the JSON
/// signal as body and a `BrokerProperties` header whose MessageId is the signal id, so Service Bus duplicate
/// detection and Trainyard's trigger (run id from the message id) both see a re-sent signal as the same message.
/// Transient answers (408, 429, 5xx) and network errors are retried by the pipeline with exponential backoff.
/// </summary>
public sealed class ServiceBusSignalSink : ISignalSink
{
    /// <summary>Entra ID scope of Service Bus.</summary>
    public const string Scope = "https://servicebus.azure.net/.default";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly HttpPipeline _pipeline;
    private readonly Uri _messagesUri;

    /// <summary>Creates a sink for one entity.</summary>
    /// <param name="fullyQualifiedNamespace">e.g. mynamespace.servicebus.windows.net (or a full https:// URL).</param>
    /// <param name="entityPath">Topic or queue name, e.g. drift-signals.</param>
    /// <param name="credential">Managed identity (DefaultAzureCredential) with the Azure Service Bus Data Sender role.</param>
    /// <param name="options">Pipeline options (retries, transport).</param>
    public ServiceBusSignalSink(string fullyQualifiedNamespace, string entityPath, TokenCredential credential, ServiceBusSenderOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(fullyQualifiedNamespace);
        ArgumentException.ThrowIfNullOrWhiteSpace(entityPath);
        ArgumentNullException.ThrowIfNull(credential);
        var baseUri = fullyQualifiedNamespace.Contains("://", StringComparison.Ordinal)
            ? new Uri(fullyQualifiedNamespace)
            : new Uri("https://" + fullyQualifiedNamespace);
        _messagesUri = new Uri(baseUri, baseUri.AbsolutePath.TrimEnd('/') + "/" + Uri.EscapeDataString(entityPath.Trim('/')) + "/messages");
        _pipeline = HttpPipelineBuilder.Build(options ?? new ServiceBusSenderOptions(), new BearerTokenAuthenticationPolicy(credential, Scope));
    }

    /// <summary>The URL messages are posted to.</summary>
    public Uri MessagesUri => _messagesUri;

    /// <inheritdoc />
    public async Task SendAsync(DriftSignal signal, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(signal);
        ArgumentException.ThrowIfNullOrWhiteSpace(signal.SignalId);
        using var message = _pipeline.CreateMessage();
        var request = message.Request;
        request.Method = RequestMethod.Post;
        request.Uri.Reset(_messagesUri);
        request.Headers.Add("Content-Type", "application/json");
        request.Headers.Add("BrokerProperties", JsonSerializer.Serialize(new BrokerProperties(signal.SignalId, "application/json", "drift"), Json));
        request.Content = RequestContent.Create(JsonSerializer.SerializeToUtf8Bytes(signal, Json));
        await _pipeline.SendAsync(message, cancellationToken).ConfigureAwait(false);
        var response = message.Response;
        if (response.Status != (int)HttpStatusCode.Created)
        {
            var detail = response.Content?.ToString() ?? "";
            if (detail.Length > 300)
            {
                detail = detail[..300];
            }

            throw new InvalidOperationException(
                $"Service Bus refused drift signal {signal.SignalId} to {_messagesUri.Host}{_messagesUri.AbsolutePath}: {response.Status} {response.ReasonPhrase} {detail}. " +
                (response.Status is 401 or 403
                    ? "Grant the app's managed identity the 'Azure Service Bus Data Sender' role on the namespace."
                    : response.Status is 404 or 410 ? "Check that the topic exists (infra creates 'drift-signals')." : "Check the namespace and topic settings."));
        }
    }

    /// <summary>Broker properties sent in the BrokerProperties header (documented names, PascalCase).</summary>
    private sealed record BrokerProperties(
        [property: System.Text.Json.Serialization.JsonPropertyName("MessageId")] string MessageId,
        [property: System.Text.Json.Serialization.JsonPropertyName("ContentType")] string ContentType,
        [property: System.Text.Json.Serialization.JsonPropertyName("Label")] string Label);
}

/// <summary>Pipeline options for <see cref="ServiceBusSignalSink"/>.</summary>
public sealed class ServiceBusSenderOptions : ClientOptions
{
    /// <summary>Creates options with exponential retries on transient errors.</summary>
    public ServiceBusSenderOptions()
    {
        Retry.Mode = RetryMode.Exponential;
        Retry.MaxRetries = 5;
        Retry.Delay = TimeSpan.FromSeconds(0.8);
        Retry.MaxDelay = TimeSpan.FromSeconds(20);
        Retry.NetworkTimeout = TimeSpan.FromSeconds(30);
    }
}
