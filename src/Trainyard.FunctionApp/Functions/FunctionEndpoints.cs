using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;
using Trainyard.Core.Engine;
using Trainyard.FunctionApp.Api;
using Trainyard.FunctionApp.Protocol;
using Trainyard.FunctionApp.Triggers;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.FunctionApp.Functions;

/// <summary>
/// The invocation endpoints: the host POSTs <c>/{FunctionName}</c> with <c>{Data, Metadata}</c> and reads back
/// <c>{Outputs, Logs, ReturnValue}</c>. A non-2xx answer fails the invocation (queue messages are retried, then go to
/// the poison queue; Service Bus messages are abandoned, then dead-lettered), so only retry-worthy failures and
/// malformed messages answer non-2xx.
/// </summary>
internal static partial class FunctionEndpoints
{
    /// <summary>Largest invocation body read (blob triggers carry the blob content; see docs/function-app.md).</summary>
    public const long MaxInvocationBytes = 64L * 1024 * 1024;

    /// <summary>Maps every function endpoint plus the forwarded-HTTP form of the API.</summary>
    public static void Map(WebApplication app)
    {
        app.MapGet("/", () => Results.Json(new { status = "ready", functions = FunctionNames.All }));
        app.MapPost("/" + FunctionNames.OnSchedule, (HttpContext c) => Invoke(c, FunctionNames.OnSchedule, OnScheduleAsync));
        app.MapPost("/" + FunctionNames.OnBlobArrived, (HttpContext c) => Invoke(c, FunctionNames.OnBlobArrived, OnBlobAsync));
        app.MapPost("/" + FunctionNames.OnDriftSignal, (HttpContext c) => Invoke(c, FunctionNames.OnDriftSignal, OnDriftAsync));
        app.MapPost("/" + FunctionNames.AdvanceRun, (HttpContext c) => Invoke(c, FunctionNames.AdvanceRun, AdvanceRunAsync));
        app.MapPost("/" + FunctionNames.ExecuteTask, (HttpContext c) => Invoke(c, FunctionNames.ExecuteTask, ExecuteTaskAsync));
        app.MapPost("/" + FunctionNames.Api, (HttpContext c) => Invoke(c, FunctionNames.Api, ApiAsync));

        // With enableForwardingHttpRequest the host forwards the caller's request as is, to its original path.
        app.MapMethods("/api/{**path}", ["GET", "POST"], ForwardedApiAsync);
    }

    private delegate Task<(int Status, InvocationResult Result)> Handler(HttpContext context, InvocationRequest invocation);

    private static async Task Invoke(HttpContext context, string function, Handler handler)
    {
        var log = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Trainyard.FunctionApp.Functions");
        var invocationId = context.Request.Headers["X-Azure-Functions-InvocationId"].ToString();
        int status;
        InvocationResult result;
        try
        {
            var body = await ReadBodyAsync(context);
            var invocation = InvocationRequest.Parse(body);
            (status, result) = await handler(context, invocation);
        }
        catch (InvocationFormatException ex)
        {
            LogMalformed(log, function, invocationId, ex.Field, ex.Message);
            status = StatusCodes.Status400BadRequest;
            result = new InvocationResult().Log($"{function}: rejected: {ex.Message} (field {ex.Field})");
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            LogMalformed(log, function, invocationId, "body", ex.Message);
            status = StatusCodes.Status413PayloadTooLarge;
            result = new InvocationResult().Log($"{function}: rejected: the invocation body is larger than {MaxInvocationBytes / (1024 * 1024)} MiB");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogFailed(log, ex, function, invocationId);
            status = StatusCodes.Status500InternalServerError;
            result = new InvocationResult().Log($"{function}: failed: {ex.GetType().Name}: {ex.Message}");
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(result.ToJsonBytes(), context.RequestAborted);
    }

    private static async Task<byte[]> ReadBodyAsync(HttpContext context)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxInvocationBytes;
        }

        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        return buffer.ToArray();
    }

    private static async Task<(int, InvocationResult)> OnScheduleAsync(HttpContext context, InvocationRequest invocation)
    {
        if (invocation.Binding(FunctionNames.Bindings.Timer) is { } timer && InvocationRequest.UnwrapJson(timer) is { } t && InvocationRequest.Property(t, "IsPastDue") is { ValueKind: JsonValueKind.True })
        {
            // Past-due firings need no special case: the watermark covers whatever was missed.
            LogPastDue(Logger(context));
        }

        var report = await context.RequestServices.GetRequiredService<TriggerService>().OnScheduleAsync(context.RequestAborted);
        var (status, result) = Reported(report);
        var delivered = await context.RequestServices.GetRequiredService<InlineWork>().SweepAsync(context.RequestAborted);
        if (delivered > 0)
        {
            result.Log($"delivered {delivered} outbox item(s) a stopped instance left pending");
        }

        return (status, result);
    }

    private static async Task<(int, InvocationResult)> OnBlobAsync(HttpContext context, InvocationRequest invocation)
    {
        var settings = context.RequestServices.GetRequiredService<AppSettingsValues>();
        var blob = BlobEventReader.Read(invocation, settings.DataContainer);
        var report = await context.RequestServices.GetRequiredService<TriggerService>().OnBlobAsync(blob, context.RequestAborted);
        return Reported(report);
    }

    private static async Task<(int, InvocationResult)> OnDriftAsync(HttpContext context, InvocationRequest invocation)
    {
        var messageId = invocation.MetadataText("MessageId");
        var signal = DriftSignalReader.Read(invocation.BindingJson(FunctionNames.Bindings.Message), messageId);
        var report = await context.RequestServices.GetRequiredService<TriggerService>().OnDriftAsync(signal, context.RequestAborted);
        return Reported(report);
    }

    private static async Task<(int, InvocationResult)> AdvanceRunAsync(HttpContext context, InvocationRequest invocation)
    {
        if (await DeferIfEarlyAsync(context, invocation, b => b.Control) is { } deferred)
        {
            return deferred;
        }

        var message = ReadMessage<ControlMessage>(invocation, "control");
        await context.RequestServices.GetRequiredService<IRunGateway>().HandleControlAsync(message, context.RequestAborted);
        return (200, new InvocationResult().Log($"applied {message.Event.GetType().Name} to run {message.RunId}"));
    }

    private static async Task<(int, InvocationResult)> ExecuteTaskAsync(HttpContext context, InvocationRequest invocation)
    {
        if (await DeferIfEarlyAsync(context, invocation, b => b.Work) is { } deferred)
        {
            return deferred;
        }

        var message = ReadMessage<WorkMessage>(invocation, "work");
        var dequeueCount = int.TryParse(invocation.MetadataText("DequeueCount"), out var n) ? n : 1;
        await context.RequestServices.GetRequiredService<IRunGateway>().ExecuteWorkAsync(message, dequeueCount, context.RequestAborted);
        return (200, new InvocationResult().Log($"executed {message.Work.TaskKey} attempt {message.Work.Attempt} of run {message.Work.RunId}"));
    }

    private static async Task<(int, InvocationResult)> ApiAsync(HttpContext context, InvocationRequest invocation)
    {
        var request = HttpTriggerRequest.FromInvocation(invocation, FunctionNames.Bindings.Request, FunctionNames.Bindings.RoutePath);
        var response = await context.RequestServices.GetRequiredService<ApiHandler>().HandleAsync(request, context.RequestAborted);
        var result = new InvocationResult();
        result.Outputs[FunctionNames.Bindings.Response] = response.ToHttpOutput();
        result.Log($"{request.Method} /api/{request.Path} -> {response.StatusCode}");

        // The caller's status travels in Outputs.res; the invocation itself succeeded.
        return (200, result);
    }

    private static async Task ForwardedApiAsync(HttpContext context, string? path)
    {
        ApiResponse response;
        if (context.Request.ContentLength > ApiHandler.MaxBodyBytes)
        {
            response = ApiResponse.Error(413, "body_too_large", $"the request body is larger than {ApiHandler.MaxBodyBytes / 1024} KiB", "body");
        }
        else
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            var query = context.Request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            var request = new HttpTriggerRequest(context.Request.Method.ToUpperInvariant(), path ?? "", query, headers, body);
            response = await context.RequestServices.GetRequiredService<ApiHandler>().HandleAsync(request, context.RequestAborted);
        }

        context.Response.StatusCode = response.StatusCode;
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.Body.WriteAsync(response.BodyBytes(), context.RequestAborted);
    }

    /// <summary>
    /// A message whose envelope carries a <c>notBefore</c> still ahead (a delay longer than a queue can hide a message,
    /// delivered early by the host) is sent again with the remaining delay and this delivery completes: nothing runs early.
    /// </summary>
    private static async Task<(int, InvocationResult)?> DeferIfEarlyAsync(HttpContext context, InvocationRequest invocation, Func<IBackend, IMessageQueue> queueOf)
    {
        if (invocation.BindingJson(FunctionNames.Bindings.Message) is not { ValueKind: JsonValueKind.Object } envelope
            || !envelope.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String
            || !envelope.TryGetProperty("notBefore", out var notBefore) || !notBefore.TryGetDateTimeOffset(out var due))
        {
            return null;
        }

        var now = context.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow();
        if (due <= now + TimeSpan.FromSeconds(1))
        {
            return null;
        }

        string? body = envelope.TryGetProperty("body", out var b) ? b.GetRawText()
            : envelope.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (body is null)
        {
            return null;
        }

        var queue = queueOf(context.RequestServices.GetRequiredService<IBackend>());
        await queue.SendAsync([new OutgoingMessage(id.GetString()!, body, due - now)], context.RequestAborted);
        return (200, new InvocationResult().Log($"message {id.GetString()} is not due before {due:O}; sent again to {queue.Name} with that delay"));
    }

    private static T ReadMessage<T>(InvocationRequest invocation, string queue)
    {
        var json = invocation.BindingJson(FunctionNames.Bindings.Message)
            ?? throw new InvocationFormatException($"Data.{FunctionNames.Bindings.Message}", $"the {queue} queue message is missing or not JSON; Trainyard {queue} messages are JSON written by the run engine");
        // The Azure backend wraps every body in an envelope {"id","body"} (see Trainyard.Storage.Azure.QueueEnvelope).
        if (json.ValueKind == JsonValueKind.Object && json.TryGetProperty("id", out var envelopeId) && envelopeId.ValueKind == JsonValueKind.String && json.TryGetProperty("body", out var inner))
        {
            json = inner;
        }

        try
        {
            return json.Deserialize<T>(EngineJson.Options) ?? throw new InvocationFormatException($"Data.{FunctionNames.Bindings.Message}", $"the {queue} queue message is null");
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or ArgumentException)
        {
            throw new InvocationFormatException($"Data.{FunctionNames.Bindings.Message}", $"the {queue} queue message is not a Trainyard {typeof(T).Name}: {ex.Message}");
        }
    }

    private static (int, InvocationResult) Reported(TriggerReport report)
    {
        var result = new InvocationResult();
        result.Logs.AddRange(report.Lines);
        result.Logs.AddRange(report.Failures);
        result.Outputs["runs"] = new JsonArray([.. report.Runs.Select(r => (JsonNode)r)]);
        return (report.Failures.Count == 0 ? 200 : 500, result);
    }

    private static ILogger Logger(HttpContext context) =>
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Trainyard.FunctionApp.Functions");

    [LoggerMessage(EventId = 6001, Level = LogLevel.Warning, Message = "Invocation of {Function} (invocation {InvocationId}) rejected: field {Field}: {Reason}")]
    private static partial void LogMalformed(ILogger logger, string function, string invocationId, string field, string reason);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Error, Message = "Invocation of {Function} (invocation {InvocationId}) failed")]
    private static partial void LogFailed(ILogger logger, Exception ex, string function, string invocationId);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Information, Message = "Timer firing is past due; the schedule watermark catches up")]
    private static partial void LogPastDue(ILogger logger);
}
