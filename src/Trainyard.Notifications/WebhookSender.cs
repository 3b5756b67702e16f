using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Trainyard.Notifications;

/// <summary>Settings of a <see cref="WebhookSender"/>.</summary>
public sealed record WebhookSenderOptions
{
    /// <summary>Reads a configuration setting by name (environment variables in the CLI, app settings in Azure).</summary>
    public Func<string, string?> Settings { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>Tries per delivery, the first included.</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>Wait before the first retry; doubles per retry up to <see cref="MaxDelay"/>.</summary>
    public TimeSpan InitialDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between tries (also the most a Retry-After header is honoured).</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Time one request may take.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Deliveries waiting at most; when full, the new one is dropped (and logged), never the run held up.</summary>
    public int QueueCapacity { get; init; } = 1000;

    /// <summary>HTTP handler (tests and hosts may pass their own); null: a fresh <see cref="SocketsHttpHandler"/>.</summary>
    public HttpMessageHandler? Handler { get; init; }

    /// <summary>Clock for backoff waits and signature timestamps.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Logging.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}

/// <summary>
/// Sends <see cref="Alert"/>s to their webhooks in the background: <see cref="TryEnqueue"/> returns at once, so a run
/// never waits for (or fails because of) a webhook. Each delivery is POSTed as JSON with `X-Trainyard-Event`,
/// `X-Trainyard-Delivery` and, when its entry names a secret, `X-Trainyard-Signature: sha256=HEX` where HEX is the
/// HMAC-SHA256 of `{X-Trainyard-Timestamp}.{body}` under that secret. Network errors, timeouts, 408, 429 and 5xx are
/// retried with exponential backoff; other answers end the delivery.
/// </summary>
public sealed partial class WebhookSender : IAsyncDisposable, IDisposable
{
    /// <summary>Header with the event name.</summary>
    public const string EventHeader = "X-Trainyard-Event";

    /// <summary>Header with the delivery id (stable across retries and redeliveries).</summary>
    public const string DeliveryHeader = "X-Trainyard-Delivery";

    /// <summary>Header with the signing time (Unix seconds), part of the signed text.</summary>
    public const string TimestampHeader = "X-Trainyard-Timestamp";

    /// <summary>Header with `sha256=` and the hex HMAC-SHA256 of `{timestamp}.{body}`.</summary>
    public const string SignatureHeader = "X-Trainyard-Signature";

    private readonly WebhookSenderOptions _o;
    private readonly ILogger _log;
    private readonly HttpClient _http;
    private readonly Channel<Alert> _queue;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _pending;
    private int _disposed;

    /// <summary>Creates a sender and starts its background loop.</summary>
    public WebhookSender(WebhookSenderOptions? options = null)
    {
        _o = options ?? new WebhookSenderOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_o.MaxAttempts, 1, nameof(options));
        _log = (_o.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<WebhookSender>();
        _http = new HttpClient(_o.Handler ?? new SocketsHttpHandler { AllowAutoRedirect = false }, disposeHandler: _o.Handler is null) { Timeout = Timeout.InfiniteTimeSpan };
        _queue = Channel.CreateBounded<Alert>(new BoundedChannelOptions(_o.QueueCapacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Deliveries queued or in progress.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>Queues a delivery; false (logged) when the queue is full or the sender is stopping.</summary>
    public bool TryEnqueue(Alert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        Interlocked.Increment(ref _pending);
        if (_queue.Writer.TryWrite(alert))
        {
            return true;
        }

        Interlocked.Decrement(ref _pending);
        LogDropped(_log, alert.DeliveryId, alert.Event.ToString());
        return false;
    }

    /// <summary>Waits until every queued delivery is done, at most <paramref name="timeout"/>; true when all were.</summary>
    public async Task<bool> FlushAsync(TimeSpan timeout)
    {
        var until = _o.Time.GetTimestamp();
        while (Pending > 0)
        {
            if (_o.Time.GetElapsedTime(until) >= timeout)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), _o.Time).ConfigureAwait(false);
        }

        return true;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _queue.Writer.TryComplete();
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _http.Dispose();
        _stop.Dispose();
    }

    /// <summary>Stops at once (a container disposed synchronously): deliveries still queued are dropped.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _queue.Writer.TryComplete();
        _stop.Cancel();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // the loop's end is logged by the loop
        }

        _http.Dispose();
        _stop.Dispose();
    }

    /// <summary>The signature header value of <paramref name="body"/> signed at <paramref name="timestamp"/> with <paramref name="secret"/>.</summary>
    public static string Sign(string secret, string timestamp, string body)
    {
        ArgumentNullException.ThrowIfNull(secret);
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(timestamp + "." + body));
        return "sha256=" + Convert.ToHexStringLower(mac);
    }

    private async Task LoopAsync()
    {
        try
        {
            await foreach (var alert in _queue.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                try
                {
                    await DeliverAsync(alert, _stop.Token).ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Decrement(ref _pending);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Stopping: what is still queued is given up (logged per delivery is not possible after cancel; count it).
            if (Pending > 0)
            {
                LogAbandoned(_log, Pending);
            }
        }
    }

    private async Task DeliverAsync(Alert alert, CancellationToken ct)
    {
        var target = alert.Target;
        var url = target.Url ?? (target.UrlFrom is { } uf ? _o.Settings(uf) : null);
        if (string.IsNullOrWhiteSpace(url) || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            LogNoUrl(_log, alert.DeliveryId, target.UrlFrom ?? "(url)");
            return;
        }

        string? secret = null;
        if (target.SecretFrom is { } sf && string.IsNullOrEmpty(secret = _o.Settings(sf)))
        {
            // Asked to sign: never send it unsigned instead.
            LogNoSecret(_log, alert.DeliveryId, sf);
            return;
        }

        var eventName = Core.Spec.NotifyEvents.NameOf(alert.Event);
        var delay = _o.InitialDelay;
        for (int attempt = 1; ; attempt++)
        {
            TimeSpan? retryAfter = null;
            string problem;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new StringContent(alert.Body, Encoding.UTF8, "application/json") };
                request.Headers.Add(EventHeader, eventName);
                request.Headers.Add(DeliveryHeader, alert.DeliveryId);
                if (secret is not null)
                {
                    var timestamp = _o.Time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
                    request.Headers.Add(TimestampHeader, timestamp);
                    request.Headers.Add(SignatureHeader, Sign(secret, timestamp, alert.Body));
                }

                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(_o.RequestTimeout);
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                var code = (int)response.StatusCode;
                if (response.IsSuccessStatusCode)
                {
                    LogDelivered(_log, alert.DeliveryId, eventName, code, attempt);
                    return;
                }

                problem = $"HTTP {code}";
                if (!(code is 408 or 429 || code >= 500))
                {
                    LogRejected(_log, alert.DeliveryId, eventName, code);
                    return;
                }

                retryAfter = response.Headers.RetryAfter?.Delta;
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                problem = e is OperationCanceledException ? $"no answer within {_o.RequestTimeout}" : e.Message;
            }

            if (attempt >= _o.MaxAttempts)
            {
                LogGaveUp(_log, alert.DeliveryId, eventName, attempt, problem);
                return;
            }

            var wait = retryAfter is { } ra && ra > delay ? ra : delay;
            wait = wait > _o.MaxDelay ? _o.MaxDelay : wait;
            LogRetrying(_log, alert.DeliveryId, eventName, attempt, problem, wait);
            await Task.Delay(wait, _o.Time, ct).ConfigureAwait(false);
            delay = delay * 2 > _o.MaxDelay ? _o.MaxDelay : delay * 2;
        }
    }

    [LoggerMessage(EventId = 9401, Level = LogLevel.Information, Message = "Webhook delivery {DeliveryId} ({Event}) answered {Status} on try {Attempt}")]
    private static partial void LogDelivered(ILogger logger, string deliveryId, string @event, int status, int attempt);

    [LoggerMessage(EventId = 9402, Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId} ({Event}) failed on try {Attempt}: {Problem}; retrying in {Wait}")]
    private static partial void LogRetrying(ILogger logger, string deliveryId, string @event, int attempt, string problem, TimeSpan wait);

    [LoggerMessage(EventId = 9403, Level = LogLevel.Error, Message = "Webhook delivery {DeliveryId} ({Event}) given up after {Attempts} tries: {Problem}")]
    private static partial void LogGaveUp(ILogger logger, string deliveryId, string @event, int attempts, string problem);

    [LoggerMessage(EventId = 9404, Level = LogLevel.Error, Message = "Webhook delivery {DeliveryId} ({Event}) refused with HTTP {Status}; not retried (fix the webhook URL or the receiver)")]
    private static partial void LogRejected(ILogger logger, string deliveryId, string @event, int status);

    [LoggerMessage(EventId = 9405, Level = LogLevel.Error, Message = "Webhook delivery {DeliveryId} not sent: setting {Setting} holds no absolute URL")]
    private static partial void LogNoUrl(ILogger logger, string deliveryId, string setting);

    [LoggerMessage(EventId = 9406, Level = LogLevel.Error, Message = "Webhook delivery {DeliveryId} not sent: secretFrom names setting {Setting}, which is empty; set it or remove secretFrom")]
    private static partial void LogNoSecret(ILogger logger, string deliveryId, string setting);

    [LoggerMessage(EventId = 9407, Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId} ({Event}) dropped: the queue is full or the sender stopped")]
    private static partial void LogDropped(ILogger logger, string deliveryId, string @event);

    [LoggerMessage(EventId = 9408, Level = LogLevel.Warning, Message = "{Count} webhook deliveries abandoned: the sender stopped before they were sent")]
    private static partial void LogAbandoned(ILogger logger, int count);
}
