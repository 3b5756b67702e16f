using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Trainyard.Testing.AzureDoubles;

/// <summary>
/// An HTTP double of Service Bus "Send Message" (`POST /{queue-or-topic}/messages`) on Kestrel over HTTPS at
/// 127.0.0.1: it checks the bearer token is there, answers 201 for known entities and 404 otherwise, records every
/// message (headers and body), and can fail the next requests with a chosen status (e.g. 503) to test retries.
/// </summary>
public sealed class ServiceBusSendDouble : IAsyncDisposable
{
    private readonly ConcurrentQueue<ReceivedMessage> _messages = new();
    private readonly HashSet<string> _entities;
    private readonly TestCertificate _certificate = TestCertificate.Create();
    private WebApplication? _app;
    private int _failNext;
    private int _failStatus;

    private ServiceBusSendDouble(IEnumerable<string> entities) => _entities = new HashSet<string>(entities, StringComparer.OrdinalIgnoreCase);

    /// <summary>Base URL (https://127.0.0.1:port), standing in for https://{namespace}.servicebus.windows.net.</summary>
    public Uri Endpoint { get; private set; } = null!;

    /// <summary>The certificate clients must trust.</summary>
    public TestCertificate Certificate => _certificate;

    /// <summary>Messages accepted (201), in order.</summary>
    public IReadOnlyList<ReceivedMessage> Messages => [.. _messages];

    /// <summary>Requests received, accepted or not.</summary>
    public int RequestCount => _requestCount;

    private int _requestCount;

    /// <summary>Starts a double that knows the given topics/queues.</summary>
    public static async Task<ServiceBusSendDouble> StartAsync(IEnumerable<string> entities, CancellationToken cancellationToken)
    {
        var d = new ServiceBusSendDouble(entities);
        (d._app, d.Endpoint) = await HttpsDoubleHost.StartAsync(d._certificate, app =>
            app.MapPost("/{entity}/messages", (Func<HttpContext, string, Task<IResult>>)d.SendAsync), cancellationToken);
        return d;
    }

    /// <summary>Fails the next <paramref name="count"/> requests with <paramref name="status"/>.</summary>
    public void FailNext(int count, int status)
    {
        _failStatus = status;
        Volatile.Write(ref _failNext, count);
    }

    private async Task<IResult> SendAsync(HttpContext context, string entity)
    {
        Interlocked.Increment(ref _requestCount);
        if (Interlocked.Decrement(ref _failNext) >= 0)
        {
            return Results.StatusCode(_failStatus);
        }

        var auth = context.Request.Headers.Authorization.ToString();
        if (!auth.StartsWith("Bearer ", StringComparison.Ordinal) && !auth.StartsWith("SharedAccessSignature ", StringComparison.Ordinal))
        {
            return Results.StatusCode(401);
        }

        if (!_entities.Contains(entity))
        {
            return Results.NotFound();
        }

        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        var custom = context.Request.Headers
            .Where(h => !h.Key.Equals("BrokerProperties", StringComparison.OrdinalIgnoreCase))
            .ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        _messages.Enqueue(new ReceivedMessage(context.Request.Method, entity, context.Request.Path.Value ?? "", auth,
            context.Request.ContentType, context.Request.Headers["BrokerProperties"].ToString(), body, custom));
        return Results.StatusCode(201);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync(CancellationToken.None);
            await _app.DisposeAsync();
        }

        _certificate.Dispose();
    }
}

/// <summary>A message the Service Bus double accepted.</summary>
public sealed record ReceivedMessage(string Method, string Entity, string Path, string Authorization, string? ContentType, string BrokerProperties, string Body, IReadOnlyDictionary<string, string> Headers);
