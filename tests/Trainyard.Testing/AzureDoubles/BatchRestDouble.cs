using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Trainyard.Testing.AzureDoubles;

/// <summary>
/// An HTTP double of the Azure Batch data-plane REST API (api-version 2025-06-01), on Kestrel over HTTPS at
/// 127.0.0.1, following the documented contract: routes (jobs, tasks, task files, terminate), the api-version
/// query parameter, bearer auth, JSON error bodies `{"odata.metadata","code","message":{"lang","value"}}`,
/// 201/409 JobExists/TaskExists, 404 JobNotFound/TaskNotFound, 503 ServerBusy (injectable), paging with
/// `odata.nextLink`, and task states active → preparing → running → completed. Each task's command line really runs
/// as a local process (split into argv the way Batch does: no shell unless the command line asks for one), with
/// resource files downloaded from and output files uploaded to <see cref="ITestBlobStore"/>.
/// </summary>
/// <remarks>
/// Choices where Batch's docs are silent (marked so tests don't mistake them for facts): the timeout failure code
/// (MaxWallClockTimeExpiry) and the exit code after a kill (137, as for SIGKILL).
/// </remarks>
public sealed partial class BatchRestDouble : IAsyncDisposable
{
    /// <summary>The api-version the double accepts.</summary>
    public const string ApiVersion = "2025-06-01";

    private readonly ConcurrentDictionary<string, DoubleJob> _jobs = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly List<Fault> _faults = [];
    private readonly string _workRoot;
    private readonly ITestBlobStore _blobs;
    private readonly TestCertificate _certificate;
    private readonly CancellationTokenSource _stopping = new();
    private WebApplication? _app;

    private BatchRestDouble(ITestBlobStore blobs, string workRoot)
    {
        _blobs = blobs;
        _workRoot = workRoot;
        _certificate = TestCertificate.Create();
    }

    /// <summary>Base URL (https://127.0.0.1:port).</summary>
    public Uri Endpoint { get; private set; } = null!;

    /// <summary>The double's certificate (clients must trust it: <see cref="TestCertificate.CreateTransport"/>).</summary>
    public TestCertificate Certificate => _certificate;

    /// <summary>Largest page the double returns for list calls, whatever maxresults asks (Batch's own cap is 1000).</summary>
    public int ServerPageSize { get; set; } = 1000;

    /// <summary>How long a task stays `active` before a node picks it up.</summary>
    public TimeSpan SchedulingDelay { get; set; } = TimeSpan.Zero;

    /// <summary>Requests received, in order.</summary>
    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary>Starts the double; task working folders go under <paramref name="workRoot"/>.</summary>
    public static async Task<BatchRestDouble> StartAsync(ITestBlobStore blobs, string workRoot, CancellationToken cancellationToken)
    {
        var d = new BatchRestDouble(blobs, workRoot);
        await d.StartServerAsync(cancellationToken);
        return d;
    }

    /// <summary>
    /// Makes the next <paramref name="count"/> requests matching <paramref name="method"/> and a path containing
    /// <paramref name="pathContains"/> fail with an error. <paramref name="afterCommit"/>: the request is carried out
    /// first and only its answer is lost (the case that makes a retried create see 409 *Exists).
    /// </summary>
    public void InjectFault(int count, string method, string pathContains, int status = 503, string code = "ServerBusy", bool afterCommit = false)
    {
        lock (_faults)
        {
            _faults.Add(new Fault(method, pathContains, status, code, afterCommit) { Remaining = count });
        }
    }

    /// <summary>Every job, in no particular order.</summary>
    public IReadOnlyList<DoubleJob> Jobs => [.. _jobs.Values];

    /// <summary>A job, or null.</summary>
    public DoubleJob? FindJob(string jobId) => _jobs.GetValueOrDefault(jobId);

    /// <summary>
    /// Simulates Spot pre-emption of the node running a task: the process is killed, requeueCount grows and the task
    /// goes back to `active`, then runs again from the start on a "new node".
    /// </summary>
    public void Preempt(string jobId, string taskId)
    {
        var task = FindJob(jobId)?.Tasks.GetValueOrDefault(taskId) ?? throw new InvalidOperationException($"no task {jobId}/{taskId} in the double");
        task.Preempt();
    }

    /// <summary>Waits until a task reaches a state (bounded by the token).</summary>
    public async Task WaitForStateAsync(string jobId, string taskId, string state, CancellationToken cancellationToken)
    {
        while (FindJob(jobId)?.Tasks.GetValueOrDefault(taskId)?.State != state)
        {
            await Task.Delay(20, cancellationToken);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        foreach (var task in _jobs.Values.SelectMany(j => j.Tasks.Values))
        {
            task.Kill();
            try
            {
                await task.Runner.WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception e) when (e is OperationCanceledException or TimeoutException)
            {
                // Shutting down: a runner that does not stop in time is abandoned with its killed process.
            }
        }

        if (_app is not null)
        {
            await _app.StopAsync(CancellationToken.None);
            await _app.DisposeAsync();
        }

        _stopping.Dispose();
        _certificate.Dispose();
    }

    private async Task StartServerAsync(CancellationToken cancellationToken)
    {
        (_app, var endpoint) = await HttpsDoubleHost.StartAsync(_certificate, app =>
        {
            app.Use(RecordAndCheckAsync);
            app.MapPost("/jobs", (Func<HttpContext, Task<IResult>>)AddJobAsync);
            app.MapGet("/jobs/{jobId}", (string jobId) => GetJob(jobId));
            app.MapPost("/jobs/{jobId}/terminate", (string jobId) => TerminateJob(jobId));
            app.MapPost("/jobs/{jobId}/tasks", (Func<HttpContext, string, Task<IResult>>)AddTaskAsync);
            app.MapGet("/jobs/{jobId}/tasks", (Func<HttpContext, string, IResult>)ListTasks);
            app.MapGet("/jobs/{jobId}/tasks/{taskId}", (string jobId, string taskId) => GetTask(jobId, taskId));
            app.MapPost("/jobs/{jobId}/tasks/{taskId}/terminate", (string jobId, string taskId) => TerminateTask(jobId, taskId));
            app.MapGet("/jobs/{jobId}/tasks/{taskId}/files/{**filePath}", (Func<string, string, string, IResult>)GetTaskFile);
        }, cancellationToken);
        Endpoint = endpoint;
    }

    private async Task RecordAndCheckAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        string? body = null;
        if (request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            request.EnableBuffering();
            using var reader = new StreamReader(request.Body, Encoding.UTF8, leaveOpen: true);
            body = await reader.ReadToEndAsync(context.RequestAborted);
            request.Body.Position = 0;
        }

        _requests.Enqueue(new RecordedRequest(request.Method, request.Path.Value ?? "", request.QueryString.Value ?? "",
            request.Headers.Authorization.ToString(), request.ContentType, body));

        if (!request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.Ordinal))
        {
            await WriteErrorAsync(context, 401, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the Authorization header is a Bearer token.");
            return;
        }

        var version = request.Query["api-version"].ToString();
        if (version.Length == 0)
        {
            await WriteErrorAsync(context, 400, "MissingRequiredQueryParameter", "A query parameter that's mandatory for this request is not specified.", ("QueryParameterName", "api-version"));
            return;
        }

        if (version != ApiVersion)
        {
            await WriteErrorAsync(context, 400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid.", ("QueryParameterName", "api-version"), ("QueryParameterValue", version));
            return;
        }

        if (HttpMethods.IsPost(request.Method) && body is not null && request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) != true)
        {
            await WriteErrorAsync(context, 400, "InvalidContentType", "The content type must be application/json; odata=minimalmetadata.");
            return;
        }

        var fault = TakeFault(request.Method, request.Path.Value ?? "");
        if (fault is null)
        {
            await next(context);
            return;
        }

        if (fault.AfterCommit)
        {
            var original = context.Response.Body;
            context.Response.Body = Stream.Null;
            await next(context);
            context.Response.Body = original;
            context.Response.Headers.Clear();
        }

        await WriteErrorAsync(context, fault.Status, fault.Code, fault.Code == "ServerBusy" ? "The server is currently unable to receive requests. Please retry your request." : "Injected fault.");
    }

    private Fault? TakeFault(string method, string path)
    {
        lock (_faults)
        {
            var fault = _faults.FirstOrDefault(f => f.Remaining > 0 && string.Equals(f.Method, method, StringComparison.OrdinalIgnoreCase) && path.Contains(f.PathContains, StringComparison.Ordinal));
            if (fault is not null)
            {
                fault.Remaining--;
            }

            return fault;
        }
    }

    private async Task<IResult> AddJobAsync(HttpContext context)
    {
        var body = await ReadJsonAsync(context);
        var id = body?["id"]?.GetValue<string>();
        var poolId = body?["poolInfo"]?["poolId"]?.GetValue<string>();
        if (!ValidId(id))
        {
            return Error(400, "InvalidPropertyValue", "The value provided for one of the properties in the request body is invalid.", ("PropertyName", "id"), ("PropertyValue", id ?? ""));
        }

        if (string.IsNullOrEmpty(poolId))
        {
            return Error(400, "MissingRequiredProperty", "A required property was not specified in the request body.", ("PropertyName", "poolInfo"));
        }

        var job = new DoubleJob(id!, poolId, body!.ToJsonString());
        return _jobs.TryAdd(id!, job)
            ? Created(Endpoint + "jobs/" + id)
            : Error(409, "JobExists", "The specified job already exists.");
    }

    private IResult GetJob(string jobId) =>
        FindJob(jobId) is { } job
            ? Json(new JsonObject { ["id"] = job.Id, ["url"] = Endpoint + "jobs/" + job.Id, ["state"] = job.State, ["poolInfo"] = new JsonObject { ["poolId"] = job.PoolId } })
            : Error(404, "JobNotFound", "The specified job does not exist.");

    private IResult TerminateJob(string jobId)
    {
        if (FindJob(jobId) is not { } job)
        {
            return Error(404, "JobNotFound", "The specified job does not exist.");
        }

        if (job.State != "active")
        {
            return Error(409, "JobCompleted", "The specified job is already in a completed state.");
        }

        job.State = "completed";
        foreach (var task in job.Tasks.Values)
        {
            task.Terminate();
        }

        return Results.StatusCode(202);
    }

    private async Task<IResult> AddTaskAsync(HttpContext context, string jobId)
    {
        if (FindJob(jobId) is not { } job)
        {
            return Error(404, "JobNotFound", "The specified job does not exist.");
        }

        if (job.State != "active")
        {
            return Error(409, "JobCompleted", "The specified job is already in a completed state.");
        }

        var body = await ReadJsonAsync(context);
        var id = body?["id"]?.GetValue<string>();
        var commandLine = body?["commandLine"]?.GetValue<string>();
        if (!ValidId(id))
        {
            return Error(400, "InvalidPropertyValue", "The value provided for one of the properties in the request body is invalid.", ("PropertyName", "id"), ("PropertyValue", id ?? ""));
        }

        if (string.IsNullOrWhiteSpace(commandLine))
        {
            return Error(400, "MissingRequiredProperty", "A required property was not specified in the request body.", ("PropertyName", "commandLine"));
        }

        var task = new DoubleTask(this, job, id!, body!);
        if (!job.Tasks.TryAdd(id!, task))
        {
            return Error(409, "TaskExists", "The specified task already exists.");
        }

        task.Runner = Task.Run(() => task.RunAsync(_stopping.Token));
        return Created(Endpoint + $"jobs/{job.Id}/tasks/{id}");
    }

    private IResult ListTasks(HttpContext context, string jobId)
    {
        if (FindJob(jobId) is not { } job)
        {
            return Error(404, "JobNotFound", "The specified job does not exist.");
        }

        var max = int.TryParse(context.Request.Query["maxresults"], NumberStyles.None, CultureInfo.InvariantCulture, out var m) ? Math.Clamp(m, 1, 1000) : 1000;
        var pageSize = Math.Min(max, ServerPageSize);
        var skip = int.TryParse(context.Request.Query["$skiptoken"], NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 0;
        var all = job.Tasks.Values.OrderBy(t => t.Created).ThenBy(t => t.Id, StringComparer.Ordinal).ToList();
        var page = new JsonArray([.. all.Skip(skip).Take(pageSize).Select(t => (JsonNode)t.ToJson())]);
        var result = new JsonObject
        {
            ["odata.metadata"] = Endpoint + "$metadata#tasks",
            ["value"] = page,
        };
        if (skip + pageSize < all.Count)
        {
            result["odata.nextLink"] = Endpoint + $"jobs/{job.Id}/tasks?api-version={ApiVersion}&maxresults={max}&$skiptoken={skip + pageSize}";
        }

        return Json(result);
    }

    private IResult GetTask(string jobId, string taskId)
    {
        if (FindJob(jobId) is not { } job)
        {
            return Error(404, "JobNotFound", "The specified job does not exist.");
        }

        return job.Tasks.GetValueOrDefault(taskId) is { } task
            ? Json(task.ToJson())
            : Error(404, "TaskNotFound", "The specified task does not exist.");
    }

    private IResult TerminateTask(string jobId, string taskId)
    {
        if (FindJob(jobId)?.Tasks.GetValueOrDefault(taskId) is not { } task)
        {
            return Error(404, "TaskNotFound", "The specified task does not exist.");
        }

        if (task.State == "completed")
        {
            return Error(409, "TaskCompleted", "The specified task is already completed.");
        }

        task.Terminate();
        return Results.NoContent();
    }

    private IResult GetTaskFile(string jobId, string taskId, string filePath)
    {
        if (FindJob(jobId)?.Tasks.GetValueOrDefault(taskId) is not { } task)
        {
            return Error(404, "TaskNotFound", "The specified task does not exist.");
        }

        var full = Path.GetFullPath(Path.Combine(task.TaskDirectory, filePath));
        if (!full.StartsWith(task.TaskDirectory, StringComparison.Ordinal) || !File.Exists(full))
        {
            return Error(404, "FileNotFound", "The specified file does not exist.");
        }

        return Results.File(File.ReadAllBytes(full), "application/octet-stream");
    }

    private static async Task<JsonNode?> ReadJsonAsync(HttpContext context)
    {
        try
        {
            return await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static bool ValidId(string? id) => id is { Length: > 0 and <= 64 } && IdPattern().IsMatch(id);

    private static IResult Created(string location) => Results.Created(location, null);

    private static IResult Json(JsonNode node) => Results.Text(node.ToJsonString(), "application/json; odata=minimalmetadata", Encoding.UTF8);

    private static JsonObject ErrorBody(string code, string message, params (string Key, string Value)[] values)
    {
        var body = new JsonObject
        {
            ["odata.metadata"] = "https://batch.double/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
            ["code"] = code,
            ["message"] = new JsonObject { ["lang"] = "en-US", ["value"] = message },
        };
        if (values.Length > 0)
        {
            body["values"] = new JsonArray([.. values.Select(v => (JsonNode)new JsonObject { ["key"] = v.Key, ["value"] = v.Value })]);
        }

        return body;
    }

    private static IResult Error(int status, string code, string message, params (string Key, string Value)[] values) =>
        Results.Text(ErrorBody(code, message, values).ToJsonString(), "application/json; odata=minimalmetadata", Encoding.UTF8, status);

    private static async Task WriteErrorAsync(HttpContext context, int status, string code, string message, params (string Key, string Value)[] values)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; odata=minimalmetadata";
        await context.Response.WriteAsync(ErrorBody(code, message, values).ToJsonString());
    }

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex IdPattern();

    internal ITestBlobStore Blobs => _blobs;

    internal string WorkRoot => _workRoot;

    private sealed record Fault(string Method, string PathContains, int Status, string Code, bool AfterCommit)
    {
        public int Remaining { get; set; }
    }
}

/// <summary>A request the double received.</summary>
public sealed record RecordedRequest(string Method, string Path, string Query, string Authorization, string? ContentType, string? Body);

/// <summary>A job in the double.</summary>
public sealed class DoubleJob(string id, string poolId, string json)
{
    /// <summary>Id as created.</summary>
    public string Id { get; } = id;

    /// <summary>Pool.</summary>
    public string PoolId { get; } = poolId;

    /// <summary>Request body it was created with.</summary>
    public string Json { get; } = json;

    /// <summary>active or completed.</summary>
    public string State { get; set; } = "active";

    /// <summary>Tasks by id (case-insensitive, as in Batch).</summary>
    public ConcurrentDictionary<string, DoubleTask> Tasks { get; } = new(StringComparer.OrdinalIgnoreCase);
}
