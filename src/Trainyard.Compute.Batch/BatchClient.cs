using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;

namespace Trainyard.Compute.Batch;

/// <summary>
/// The parts of the Azure Batch data-plane REST API Trainyard uses, over an Azure.Core pipeline with Entra ID tokens.
/// Transient failures (408, 429, 5xx, timeouts) are retried by the pipeline with exponential backoff; any other
/// error becomes a <see cref="BatchException"/> carrying Batch's code and message.
/// </summary>
public sealed class BatchClient
{
    /// <summary>Entra ID scope of the Batch data plane (two slashes, as documented).</summary>
    public const string Scope = "https://batch.core.windows.net//.default";

    private const string JsonContentType = "application/json; odata=minimalmetadata";

    private readonly Uri _endpoint;
    private readonly HttpPipeline _pipeline;
    private readonly string _apiVersion;

    /// <summary>Creates a client for one Batch account.</summary>
    public BatchClient(Uri endpoint, TokenCredential credential, BatchClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(credential);
        options ??= new BatchClientOptions();
        _endpoint = endpoint;
        _apiVersion = options.ApiVersion;
        _pipeline = HttpPipelineBuilder.Build(options, new BearerTokenAuthenticationPolicy(credential, Scope));
    }

    /// <summary>Adds a job. A 409 JobExists (e.g. after a retried create that did succeed) is confirmed by a GET and reported as <see cref="BatchCreateResult.AlreadyExisted"/>.</summary>
    public async Task<BatchCreateResult> CreateJobAsync(BatchJobSpec job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        try
        {
            await SendAsync(RequestMethod.Post, "/jobs", job, [HttpStatusCode.Created], cancellationToken).ConfigureAwait(false);
            return BatchCreateResult.Created;
        }
        catch (BatchException e) when (e.Code == "JobExists")
        {
            _ = await GetJobAsync(job.Id, cancellationToken).ConfigureAwait(false)
                ?? throw new BatchException(e.Status, "JobExists", $"Batch answered JobExists for job '{job.Id}' but GET finds no such job; retry later.");
            return BatchCreateResult.AlreadyExisted;
        }
    }

    /// <summary>Gets a job; null when it does not exist.</summary>
    public async Task<BatchJobInfo?> GetJobAsync(string jobId, CancellationToken cancellationToken)
    {
        return await GetOrNullAsync($"/jobs/{Escape(jobId)}", Read<BatchJobInfo>, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Adds a task. A 409 TaskExists is confirmed by a GET: when the existing task has the same command line it is the
    /// same attempt (a redelivered or retried create) and the result is <see cref="BatchCreateResult.AlreadyExisted"/>.
    /// </summary>
    public async Task<BatchCreateResult> CreateTaskAsync(string jobId, BatchTaskSpec task, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(task);
        try
        {
            await SendAsync(RequestMethod.Post, $"/jobs/{Escape(jobId)}/tasks", task, [HttpStatusCode.Created], cancellationToken).ConfigureAwait(false);
            return BatchCreateResult.Created;
        }
        catch (BatchException e) when (e.Code == "TaskExists")
        {
            var existing = await GetTaskAsync(jobId, task.Id, cancellationToken).ConfigureAwait(false)
                ?? throw new BatchException(e.Status, "TaskExists", $"Batch answered TaskExists for task '{task.Id}' in job '{jobId}' but GET finds no such task; retry later.");
            if (existing.CommandLine is not null && existing.CommandLine != task.CommandLine)
            {
                throw new BatchException(e.Status, "TaskExists",
                    $"Task '{task.Id}' in job '{jobId}' already exists with a different command line; two attempts map to one Batch task id. Delete the job or the task in the Batch account and retry the run.");
            }

            return BatchCreateResult.AlreadyExisted;
        }
    }

    /// <summary>Gets a task; null when it (or its job) does not exist.</summary>
    public async Task<BatchTaskInfo?> GetTaskAsync(string jobId, string taskId, CancellationToken cancellationToken)
    {
        return await GetOrNullAsync($"/jobs/{Escape(jobId)}/tasks/{Escape(taskId)}", Read<BatchTaskInfo>, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Lists a job's tasks, following `odata.nextLink` across pages.</summary>
    public async IAsyncEnumerable<BatchTaskInfo> ListTasksAsync(string jobId, int? maxResults, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var query = maxResults is int m ? $"maxresults={m}" : null;
        Uri? next = BuildUri($"/jobs/{Escape(jobId)}/tasks", query);
        while (next is not null)
        {
            using var message = CreateMessage(RequestMethod.Get, next, body: null);
            await _pipeline.SendAsync(message, cancellationToken).ConfigureAwait(false);
            EnsureStatus(message.Response, [HttpStatusCode.OK]);
            var page = Read<BatchListPage<BatchTaskInfo>>(message.Response);
            foreach (var task in page.Value)
            {
                yield return task;
            }

            next = string.IsNullOrEmpty(page.NextLink) ? null : new Uri(page.NextLink, UriKind.Absolute);
        }
    }

    /// <summary>Terminates a task; no error when it already completed or does not exist.</summary>
    public async Task TerminateTaskAsync(string jobId, string taskId, CancellationToken cancellationToken)
    {
        try
        {
            await SendAsync(RequestMethod.Post, $"/jobs/{Escape(jobId)}/tasks/{Escape(taskId)}/terminate", null,
                [HttpStatusCode.NoContent, HttpStatusCode.OK, HttpStatusCode.Accepted], cancellationToken).ConfigureAwait(false);
        }
        catch (BatchException e) when (e.Status == 404 || e.Code is "TaskCompleted" or "TaskAlreadyCompleted")
        {
            // Already gone or already done: the goal (the task no longer runs) holds.
        }
    }

    /// <summary>Terminates a job and its running tasks; no error when it is already terminated or does not exist.</summary>
    public async Task TerminateJobAsync(string jobId, string reason, CancellationToken cancellationToken)
    {
        try
        {
            await SendAsync(RequestMethod.Post, $"/jobs/{Escape(jobId)}/terminate", new { terminateReason = reason },
                [HttpStatusCode.Accepted, HttpStatusCode.OK, HttpStatusCode.NoContent], cancellationToken).ConfigureAwait(false);
        }
        catch (BatchException e) when (e.Status == 404 || e.Code is "JobCompleted" or "JobBeingTerminated")
        {
            // Nothing left to stop.
        }
    }

    /// <summary>Reads the end (at most <paramref name="maxBytes"/>) of a file in a task's directory, e.g. stdout.txt; null when absent.</summary>
    public async Task<string?> GetTaskFileTailAsync(string jobId, string taskId, string filePath, int maxBytes, CancellationToken cancellationToken)
    {
        // The pipeline buffers the body (files Trainyard reads are logs, kept small by the caller's limit).
        return await GetOrNullAsync($"/jobs/{Escape(jobId)}/tasks/{Escape(taskId)}/files/{Escape(filePath)}", response =>
        {
            var bytes = response.Content.ToMemory().Span;
            if (bytes.Length > maxBytes)
            {
                bytes = bytes[^maxBytes..];
            }

            return Encoding.UTF8.GetString(bytes);
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task SendAsync(RequestMethod method, string path, object? body, HttpStatusCode[] expected, CancellationToken cancellationToken)
    {
        using var message = CreateMessage(method, BuildUri(path, null), body);
        await _pipeline.SendAsync(message, cancellationToken).ConfigureAwait(false);
        EnsureStatus(message.Response, expected);
    }

    private async Task<T?> GetOrNullAsync<T>(string path, Func<Response, T> read, CancellationToken cancellationToken)
        where T : class
    {
        using var message = CreateMessage(RequestMethod.Get, BuildUri(path, null), body: null);
        await _pipeline.SendAsync(message, cancellationToken).ConfigureAwait(false);
        if (message.Response.Status == 404)
        {
            return null;
        }

        EnsureStatus(message.Response, [HttpStatusCode.OK]);
        return read(message.Response);
    }

    private HttpMessage CreateMessage(RequestMethod method, Uri uri, object? body)
    {
        var message = _pipeline.CreateMessage();
        var request = message.Request;
        request.Method = method;
        request.Uri.Reset(uri);
        request.Headers.Add("Accept", "application/json");
        request.Headers.Add("ocp-date", DateTimeOffset.UtcNow.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        if (body is not null)
        {
            request.Headers.Add("Content-Type", JsonContentType);
            request.Content = RequestContent.Create(JsonSerializer.SerializeToUtf8Bytes(body, body.GetType(), BatchJson.Options));
        }
        else if (method == RequestMethod.Post)
        {
            request.Headers.Add("Content-Type", JsonContentType);
            request.Content = RequestContent.Create("{}"u8.ToArray());
        }

        return message;
    }

    private Uri BuildUri(string path, string? query)
    {
        var builder = new UriBuilder(_endpoint)
        {
            Path = _endpoint.AbsolutePath.TrimEnd('/') + path,
            Query = $"api-version={Uri.EscapeDataString(_apiVersion)}" + (query is null ? "" : "&" + query),
        };
        return builder.Uri;
    }

    private static string Escape(string segment) => Uri.EscapeDataString(segment);

    private static T Read<T>(Response response) =>
        JsonSerializer.Deserialize<T>(response.Content.ToMemory().Span, BatchJson.Options)
        ?? throw new BatchException(response.Status, "InvalidResponse", $"Batch returned an empty body for {typeof(T).Name}.");

    private static void EnsureStatus(Response response, HttpStatusCode[] expected)
    {
        if (expected.Contains((HttpStatusCode)response.Status))
        {
            return;
        }

        throw BatchException.FromResponse(response);
    }
}

/// <summary>Outcome of an idempotent create.</summary>
public enum BatchCreateResult
{
    /// <summary>Newly created.</summary>
    Created,

    /// <summary>It existed already (confirmed by a GET): a retried or redelivered create.</summary>
    AlreadyExisted,
}

/// <summary>An error answer from Batch, with its status, code and message.</summary>
public sealed class BatchException(int status, string code, string message) : Exception($"Azure Batch {status} {code}: {message}")
{
    /// <summary>HTTP status.</summary>
    public int Status { get; } = status;

    /// <summary>Batch error code (e.g. TaskExists, ServerBusy, InvalidPropertyValue).</summary>
    public string Code { get; } = code;

    /// <summary>Batch's message text.</summary>
    public string BatchMessage { get; } = message;

    /// <summary>True for statuses that may pass on retry (408, 429, 5xx).</summary>
    public bool IsTransient => Status is 408 or 429 or >= 500;

    internal static BatchException FromResponse(Response response)
    {
        BatchErrorBody? body = null;
        try
        {
            var content = response.Content;
            if (content is not null && content.ToMemory().Length > 0)
            {
                body = JsonSerializer.Deserialize<BatchErrorBody>(content.ToMemory().Span, BatchJson.Options);
            }
        }
        catch (JsonException)
        {
            // Not Batch's JSON error body (e.g. a proxy's HTML page): fall back to the HTTP reason below.
        }

        var code = body?.Code ?? $"Http{response.Status}";
        var message = body?.Message?.Value ?? (string.IsNullOrEmpty(response.ReasonPhrase) ? "no error body" : response.ReasonPhrase);
        if (body?.Values is { Count: > 0 } values)
        {
            message += " (" + string.Join(", ", values.Select(v => $"{v.Key}={v.Value}")) + ")";
        }

        return new BatchException(response.Status, code, message);
    }
}
