using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Artifacts;
using Trainyard.Execution.Contracts;
using Trainyard.Execution.Registry;
using Trainyard.Runtime;
using Trainyard.Runtime.Contracts;
using Trainyard.Service;
using Trainyard.Steps.Ml;

namespace Trainyard.Dashboard;

/// <summary>Settings of a <see cref="DashboardServer"/>.</summary>
public sealed record DashboardOptions
{
    /// <summary>The engine over the store whose runs are shown (and cancelled, retried, approved); null with <see cref="Durable"/>.</summary>
    public RunEngine? Engine { get; init; }

    /// <summary>Runs of a Durable task hub (the durable engine's and the Function App's) instead of an embedded store.</summary>
    public DurableDashboardSource? Durable { get; init; }

    /// <summary>TCP port on 127.0.0.1; 0 picks a free one.</summary>
    public int Port { get; init; }

    /// <summary>Access token; null makes a random one.</summary>
    public string? Token { get; init; }

    /// <summary>Clock.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Where host logs go (never stdout: its first http:// line is the URL for the user).</summary>
    public ILoggerProvider? LoggerProvider { get; init; }

    /// <summary>How often the `run-stuck` sweep runs (null: never).</summary>
    public TimeSpan? StuckSweepEvery { get; init; }

    /// <summary>The sweep itself (the notifications' run-stuck check), given the running runs.</summary>
    public Func<IReadOnlyList<RunState>, CancellationToken, Task>? StuckSweep { get; init; }
}

/// <summary>
/// What the dashboard shows of a Durable task hub: runs through <see cref="IRunControl"/> (a <see cref="DurableRunControl"/>
/// over a client-only connection), pipeline versions and their pointers, and the artifact store with the tasks' logs and models.
/// </summary>
/// <param name="Runs">Run control over the task hub.</param>
/// <param name="Pipelines">Pipeline versions.</param>
/// <param name="Values">Pointers (active versions).</param>
/// <param name="Artifacts">Artifacts, logs and the model registry.</param>
public sealed record DurableDashboardSource(IRunControl Runs, IPipelineStore Pipelines, IKeyValueStore Values, IArtifactStore Artifacts);

/// <summary>
/// The web dashboard (`trainyard ui`): server-rendered pages and a JSON API under /api/ with the Function App API's
/// shapes, on 127.0.0.1 only, behind <see cref="DashboardAccess"/>. Static files are embedded in this assembly.
/// </summary>
public sealed class DashboardServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stop = new();
    private Task _sweep = Task.CompletedTask;

    private DashboardServer(WebApplication app, string token)
    {
        _app = app;
        Token = token;
    }

    /// <summary>The access token.</summary>
    public string Token { get; }

    /// <summary>The port it listens on.</summary>
    public int Port { get; private set; }

    /// <summary>The URL to open: `http://127.0.0.1:PORT/?token=TOKEN`.</summary>
    public Uri Url => new($"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/?token={Token}");

    /// <summary>Starts listening.</summary>
    public static async Task<DashboardServer> StartAsync(DashboardOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.Port, nameof(options));
        if ((options.Engine is null) == (options.Durable is null))
        {
            throw new ArgumentException("give the dashboard either an engine or a durable source", nameof(options));
        }

        var token = options.Token ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (options.LoggerProvider is { } lp)
        {
            builder.Logging.AddProvider(lp);
        }

        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, options.Port));
        // The host process owns Ctrl+C and SIGTERM (the CLI cancels its token); the web host must not swallow them.
        builder.Services.AddSingleton<IHostLifetime, HostOwnedLifetime>();
        builder.WebHost.UseSetting(WebHostDefaults.SuppressStatusMessagesKey, "true");
        var app = builder.Build();
        var server = new DashboardServer(app, token);
        var access = new DashboardAccess(token, () => server.Port);
        var catalog = options.Engine is { } engine ? new RunCatalog(engine) : null;
        var site = new DashboardSite(catalog, options.Durable, options.Time);
        app.Use(async (context, next) =>
        {
            if (access.Check(context) is { } refused)
            {
                DashboardSite.SecurityHeaders(context); // an answer that never reaches the handler, which sets them otherwise
                if (refused.Status == StatusCodes.Status303SeeOther)
                {
                    context.Response.StatusCode = refused.Status;
                    context.Response.Headers.Location = refused.Message;
                    return;
                }

                context.Response.StatusCode = refused.Status;
                await WriteJsonAsync(context, new JsonObject { ["code"] = refused.Status == 421 ? "misdirected" : refused.Status == 401 ? "unauthorized" : "refused", ["message"] = refused.Message, ["field"] = null });
                return;
            }

            await next(context);
        });
        var handler = new DashboardHandler(site, app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Trainyard.Dashboard"));
        app.Run(context => handler.HandleAsync(context, context.Request.Path.ToUriComponent()));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        server.Port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        if (catalog is not null && options.StuckSweep is { } sweep && options.StuckSweepEvery is { } every)
        {
            server._sweep = server.SweepLoopAsync(catalog, sweep, every, options.Time);
        }

        return server;
    }

    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled or the web host stops.</summary>
    public async Task WaitAsync(CancellationToken cancellationToken)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _app.Lifetime.ApplicationStopping);
        await Task.Delay(Timeout.Infinite, either.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _sweep.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    internal static Task WriteJsonAsync(HttpContext context, JsonNode? body)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(body?.ToJsonString(EngineJson.Options) ?? "null");
    }

    private async Task SweepLoopAsync(RunCatalog catalog, Func<IReadOnlyList<RunState>, CancellationToken, Task> sweep, TimeSpan every, TimeProvider time)
    {
        using var timer = new PeriodicTimer(every, time);
        while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
        {
            var running = await catalog.Engine.Backend.Store.ListRunsAsync(new RunQuery { Status = "running", Limit = RunCatalog.MaxRuns }, _stop.Token).ConfigureAwait(false);
            var states = new List<RunState>();
            foreach (var r in running)
            {
                if (await catalog.Engine.GetRunAsync(r.RunId, _stop.Token).ConfigureAwait(false) is { } s)
                {
                    states.Add(s);
                }
            }

            await sweep(states, _stop.Token).ConfigureAwait(false);
        }
    }
}

/// <summary>A host lifetime that leaves process signals to the process that hosts the dashboard.</summary>
internal sealed class HostOwnedLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>The routes: pages, the JSON API and the embedded static files.</summary>
internal sealed class DashboardSite
{
    private static readonly Assembly Self = typeof(DashboardSite).Assembly;
    private readonly RunCatalog? _catalog;
    private readonly RunEngine? _engine;
    private readonly TimeProvider time;
    private readonly IRunControl _runs;
    private readonly IPipelineStore _pipelines;
    private readonly IKeyValueStore _values;
    private readonly IArtifactStore _artifacts;
    private readonly ApiHandler _api;
    private readonly ConcurrentDictionary<string, PipelineSpec?> _specs = new(StringComparer.Ordinal);
    private readonly string _base;

    public DashboardSite(RunCatalog? catalog, DurableDashboardSource? durable, TimeProvider time, string basePath = "/")
    {
        _base = basePath;
        _catalog = catalog;
        _engine = catalog?.Engine;
        this.time = time;
        if (_engine is { } engine)
        {
            (_runs, _pipelines, _values, _artifacts) = (new EngineRunControl(engine, time), engine.Backend.Store, engine.Backend.Store, engine.Backend.Artifacts);
        }
        else
        {
            var d = durable!;
            (_runs, _pipelines, _values, _artifacts) = (d.Runs, d.Pipelines, d.Values, d.Artifacts);
        }

        _api = new(new PipelineRegistry(_pipelines, _values), _runs, time);
    }

    /// <summary>
    /// Answers one request; <paramref name="escapedPath"/> is its path below the dashboard's root, still escaped
    /// (`/runs/a%2Fb`): each segment is unescaped once here, the API's by <see cref="ApiHandler"/>.
    /// </summary>
    public async Task HandleAsync(HttpContext c, string escapedPath)
    {
        var parts = Segments(escapedPath);
        var read = HttpMethods.IsGet(c.Request.Method) || HttpMethods.IsHead(c.Request.Method);
        if (parts is ["api", .. var api])
        {
            switch (api)
            {
                case ["runs", var id, "timeline"] when read:
                    await ApiAsync(c, async ct =>
                    {
                        var runId = Uri.UnescapeDataString(id);
                        var run = await RunAsync(runId, ct) ?? throw new DashboardApiException(404, "unknown_run", $"no run with id '{runId}'; list runs with GET /api/runs", "runId");
                        return (200, new JsonObject { ["runId"] = runId, ["attempts"] = JsonSerializer.SerializeToNode(await AttemptsAsync(run, ct), EngineJson.Options) });
                    });
                    return;
                case ["pipelines", var name, "health"] when read:
                    await ApiAsync(c, async ct =>
                        (200, JsonSerializer.SerializeToNode(await HealthAsync(Uri.UnescapeDataString(name), time.GetUtcNow().AddDays(-30), ct), EngineJson.Options)));
                    return;
                default:
                    // The Function App's HTTP API (Trainyard.Service.ApiHandler) over this store: same routes, same shapes.
                    await ServiceApiAsync(c, string.Join('/', api));
                    return;
            }
        }

        if (!read)
        {
            c.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            await Html(c, Pages.Error(405, $"{c.Request.Method} is not supported on pages; actions go through the JSON API under api/."));
            return;
        }

        string U(string segment) => Uri.UnescapeDataString(segment);
        switch (parts)
        {
            case []:
                await Html(c, await RunsPageAsync(c, partial: false));
                break;
            case ["runs-rows"]:
                await Html(c, await RunsPageAsync(c, partial: true));
                break;
            case ["runs", var id]:
                await RunPageAsync(c, U(id));
                break;
            case ["runs", var id, "tasks", var key]:
                await TaskPanelAsync(c, U(id), U(key));
                break;
            case ["pipelines"]:
                await Html(c, await PipelinesPageAsync(c.RequestAborted));
                break;
            case ["pipelines", var name]:
                await Html(c, await PipelinePageAsync(U(name), c.RequestAborted));
                break;
            case ["models"]:
                await Html(c, await ModelsPageAsync(c.RequestAborted));
                break;
            case ["static", var file]:
                await Static(c, U(file));
                break;
            case ["favicon.ico"]:
                c.Response.StatusCode = StatusCodes.Status204NoContent;
                break;
            default:
                c.Response.StatusCode = 404;
                await Html(c, Pages.Error(404, "No such page."));
                break;
        }
    }

    /// <summary>The path's segments, still escaped: `/runs/a%2Fb/` is ["runs", "a%2Fb"].</summary>
    private static string[] Segments(string escapedPath) => escapedPath.Trim('/') is { Length: > 0 } trimmed ? trimmed.Split('/') : [];

    /// <summary>Headers every answer carries: a strict content security policy, no sniffing, no referrer.</summary>
    public static void SecurityHeaders(HttpContext context)
    {
        context.Response.Headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";
        context.Response.Headers["X-Content-Type-Options"] = "nosniff";
        context.Response.Headers["Referrer-Policy"] = "no-referrer";
    }

    /// <summary>A request that failed (a store that cannot be read, or a bug): logged, and answered without a stack trace.</summary>
    public static async Task FailedAsync(HttpContext context, string escapedPath, Exception e, ILogger log)
    {
        log.LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path.Value);
        context.Response.Clear();
        context.Response.StatusCode = StatusCodes.Status500InternalServerError;
        var message = $"the dashboard could not answer: {e.GetType().Name}: {e.Message} (details in the host log)";
        if (Segments(escapedPath) is ["api", ..])
        {
            await DashboardServer.WriteJsonAsync(context, new JsonObject { ["code"] = "internal", ["message"] = message, ["field"] = null });
        }
        else
        {
            context.Response.ContentType = "text/html; charset=utf-8";
            await context.Response.WriteAsync(Pages.Error(500, message));
        }
    }

    private async Task<string> RunsPageAsync(HttpContext c, bool partial)
    {
        var pipeline = c.Request.Query["pipeline"].ToString() is { Length: > 0 } p ? p : null;
        var status = c.Request.Query["status"].ToString() is { Length: > 0 } s && Pages.RunStatuses.Contains(s) ? s : null;
        var runs = await ListAsync(pipeline, status, 200, c.RequestAborted);
        var now = time.GetUtcNow();
        if (partial)
        {
            return Pages.RunRows(runs, now);
        }

        var names = (await ListAsync(null, null, 1000, c.RequestAborted)).Select(r => r.PipelineName).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        return Pages.Runs(runs, names, pipeline, status, now);
    }

    private async Task RunPageAsync(HttpContext c, string id)
    {
        var ct = c.RequestAborted;
        var (run, durable) = await LookupAsync(id, ct);
        var live = false;
        PipelineSpec? spec = null;
        if (run is null && durable is not null)
        {
            // A durable run's tasks are in its output once it has finished; until then the DAG is drawn from the
            // per-step states its progress carries (counts only when a large pipeline's states did not fit).
            if (durable.Progress is { Steps.Count: 0, Total: > 0 } || (spec = await SpecAsync(durable.Version, ct)) is null)
            {
                await Html(c, Pages.Progress(durable));
                return;
            }

            (run, live) = (durable.StateSoFar(), true);
        }

        if (run is null)
        {
            c.Response.StatusCode = 404;
            await Html(c, Pages.Error(404, $"No run '{id}' in this store."));
            return;
        }

        spec ??= await SpecAsync(run.PipelineHash, ct);
        var attempts = live ? [] : await AttemptsAsync(run, ct);
        await Html(c, Pages.Run(run, spec, attempts, time.GetUtcNow(), live));
    }

    private async Task TaskPanelAsync(HttpContext c, string id, string key)
    {
        var (run, durable) = await LookupAsync(id, c.RequestAborted);
        if (run is null && durable is { IsActive: true })
        {
            await c.Response.WriteAsync("<p class=\"empty\">The durable engine records a task's outputs, artifacts and log location in the run's final state: they show here when the run finishes.</p>");
            return;
        }

        if (run?.Tasks.GetValueOrDefault(key) is not { } task)
        {
            c.Response.StatusCode = 404;
            await c.Response.WriteAsync("<p class=\"empty\">No such task.</p>");
            return;
        }

        string? log = null;
        if (task.DispatchId is { } d)
        {
            var path = TaskWorkItem.LogPathOf(run.RunId, task.TaskKey, d);
            await using var stream = await _artifacts.OpenReadAsync(path, c.RequestAborted);
            if (stream is not null)
            {
                using var reader = new StreamReader(stream);
                var buffer = new char[256 * 1024];
                var read = await reader.ReadBlockAsync(buffer, c.RequestAborted);
                log = new string(buffer, 0, read) + (read < buffer.Length ? "" : "\n[log continues: open " + path + " in the artifact store]");
            }
        }

        await Html(c, Pages.TaskPanel(run, task, await SpecAsync(run.PipelineHash, c.RequestAborted), log));
    }

    private async Task<IReadOnlyList<(string Name, int Versions, string? Active, DateTimeOffset Latest)>> PipelineListAsync(CancellationToken ct)
    {
        var registry = new PipelineRegistry(_pipelines, _values);
        var versions = await registry.VersionsAsync(null, ct);
        var result = new List<(string, int, string?, DateTimeOffset)>();
        foreach (var g in versions.GroupBy(v => v.Name, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            result.Add((g.Key, g.Count(), await registry.ActiveHashAsync(g.Key, ct), g.Max(v => v.RegisteredAt)));
        }

        return result;
    }

    private async Task<string> PipelinesPageAsync(CancellationToken ct) => Pages.Pipelines(await PipelineListAsync(ct));

    private async Task<string> PipelinePageAsync(string name, CancellationToken ct)
    {
        var registry = new PipelineRegistry(_pipelines, _values);
        var versions = (await registry.VersionsAsync(name, ct)).OrderByDescending(v => v.RegisteredAt).ToList();
        var active = await registry.ActiveHashAsync(name, ct);
        var shown = versions.FirstOrDefault(v => v.ContentHash == active) ?? versions.FirstOrDefault();
        var spec = shown is null ? null : await SpecAsync(shown.ContentHash, ct);
        var health = await HealthAsync(name, time.GetUtcNow().AddDays(-30), ct);
        return Pages.Pipeline(name, [.. versions.Select(v => (v.ContentHash, v.RegisteredAt, v.ContentHash == active))], spec, health);
    }

    private async Task<string> ModelsPageAsync(CancellationToken ct)
    {
        var registry = new ModelRegistry(_artifacts);
        var models = new List<ModelView>();
        foreach (var name in await registry.ListModelsAsync(ct))
        {
            var stages = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var stage in ModelRegistry.Stages)
            {
                if ((await registry.GetStageAsync(name, stage, ct)).Alias is { } alias)
                {
                    stages[stage] = alias.Version;
                }
            }

            var versions = (await registry.ListVersionsAsync(name, ct)).OrderByDescending(v => v.Version).Select(v => new ModelVersionView(
                v.Version, v.CreatedAt, v.Metrics, v.Producer is { } p ? (p.RunId, p.TaskKey) : null,
                [.. v.Data.Select(d => $"{d.Name} {d.Path} sha256:{(d.Sha256.Length > 12 ? d.Sha256[..12] : d.Sha256)}{(d.ETag is { } e ? " etag " + e : "")}")])).ToList();
            models.Add(new ModelView(name, stages, versions));
        }

        return Pages.Models(models);
    }

    private async Task<RunState?> RunAsync(string id, CancellationToken ct) => (await LookupAsync(id, ct)).Final;

    /// <summary>A run's final state (an embedded run's state at any time), and for a durable run what its task hub says of it.</summary>
    private async Task<(RunState? Final, RunInfo? Durable)> LookupAsync(string id, CancellationToken ct)
    {
        if (_engine is { } engine)
        {
            return (await engine.GetRunAsync(id, ct), null);
        }

        var info = await _runs.GetAsync(id, ct);
        return (info?.State, info);
    }

    private async Task<IReadOnlyList<AttemptBar>> AttemptsAsync(RunState run, CancellationToken ct)
        => _engine is { } engine ? RunTimeline.Of(await engine.ReadJournalAsync(run.RunId, ct)) : RunTimeline.OfState(run);

    private async Task<IReadOnlyList<RunSummary>> ListAsync(string? pipeline, string? status, int limit, CancellationToken ct)
    {
        if (_engine is { } engine)
        {
            return await engine.Backend.Store.ListRunsAsync(new RunQuery { PipelineName = pipeline, Status = status, Limit = limit }, ct);
        }

        var runs = await _runs.ListAsync(new RunListQuery { Pipeline = pipeline, Status = status, Limit = limit }, ct);
        return [.. runs.Select(r => new RunSummary(r.RunId, r.Pipeline, r.Version, r.Status, r.CreatedAt, r.LastUpdatedAt)
        {
            FinishedAt = r.IsActive ? null : r.LastUpdatedAt,
            TriggerKind = r.Trigger?.Kind,
        })];
    }

    private async Task<PipelineSpec?> SpecAsync(string hash, CancellationToken ct)
    {
        if (_catalog is { } catalog)
        {
            return await catalog.SpecAsync(hash, ct);
        }

        if (_specs.TryGetValue(hash, out var known))
        {
            return known;
        }

        var version = await _pipelines.GetPipelineAsync(hash, ct);
        PipelineSpec? spec = null;
        if (version is not null)
        {
            try
            {
                spec = PipelineLoader.LoadOrThrow(version.SpecText, version.Source ?? version.Name);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                spec = null; // a version that no longer parses is shown without its diagram
            }
        }

        return _specs.GetOrAdd(hash, spec);
    }

    private async Task<PipelineHealth> HealthAsync(string pipeline, DateTimeOffset since, CancellationToken ct)
    {
        if (_catalog is { } catalog)
        {
            return await catalog.HealthAsync(pipeline, since, ct);
        }

        var states = new List<RunState>();
        foreach (var r in (await _runs.ListAsync(new RunListQuery { Pipeline = pipeline, Limit = RunCatalog.MaxRuns }, ct)).Where(r => r.CreatedAt >= since && !r.IsActive))
        {
            if ((await _runs.GetAsync(r.RunId, ct))?.State is { } state)
            {
                states.Add(state);
                await SpecAsync(state.PipelineHash, ct);
            }
        }

        return PipelineStats.Compute(pipeline, states, h => _specs.GetValueOrDefault(h), since);
    }

    private async Task ServiceApiAsync(HttpContext c, string apiPath)
    {
        if (await ApiHttp.ReadAsync(c.Request, apiPath) is not { } request)
        {
            c.Response.StatusCode = 413;
            await DashboardServer.WriteJsonAsync(c, ApiResponse.BodyTooLarge().Body);
            return;
        }

        var answer = await _api.HandleAsync(request, c.RequestAborted);
        c.Response.StatusCode = answer.StatusCode;
        await DashboardServer.WriteJsonAsync(c, answer.Body);
    }

    private static async Task ApiAsync(HttpContext c, Func<CancellationToken, Task<(int Status, JsonNode? Body)>> handler)
    {
        int status;
        JsonNode? body;
        try
        {
            (status, body) = await handler(c.RequestAborted);
        }
        catch (DashboardApiException e)
        {
            (status, body) = (e.Status, Error(e.Code, e.Message, e.Field));
        }
        catch (RunRequestException e)
        {
            (status, body) = (400, Error("invalid_request", e.Message, null));
        }

        c.Response.StatusCode = status;
        await DashboardServer.WriteJsonAsync(c, body);
    }

    private static JsonObject Error(string code, string message, string? field) => new() { ["code"] = code, ["message"] = message, ["field"] = field };

    private Task Html(HttpContext c, string html)
    {
        c.Response.ContentType = "text/html; charset=utf-8";
        if (_base != "/")
        {
            // Pages link relative to <base href>: the dashboard's root where this host serves it.
            html = html.Replace("<base href=\"/\">", $"<base href=\"{System.Net.WebUtility.HtmlEncode(_base)}\">", StringComparison.Ordinal);
        }

        return c.Response.WriteAsync(html, c.RequestAborted);
    }

    private static async Task Static(HttpContext c, string file)
    {
        var type = Path.GetExtension(file) switch { ".css" => "text/css; charset=utf-8", ".js" => "text/javascript; charset=utf-8", _ => null };
        await using var stream = type is null ? null : Self.GetManifestResourceStream("wwwroot/" + file);
        if (stream is null)
        {
            c.Response.StatusCode = 404;
            return;
        }

        c.Response.ContentType = type;
        c.Response.Headers.CacheControl = "no-cache";
        await stream.CopyToAsync(c.Response.Body, c.RequestAborted);
    }
}

/// <summary>An API request refused with a status, a code and the field at fault.</summary>
internal sealed class DashboardApiException(int status, string code, string message, string? field) : Exception(message)
{
    public int Status { get; } = status;

    public string Code { get; } = code;

    public string? Field { get; } = field;
}

/// <summary>
/// The dashboard inside another host (the Function App's `Dashboard` function): pages, static files and the JSON API
/// of a Durable task hub below a base path, answered on the host's own <see cref="HttpContext"/>. The host checks
/// access first; this adds the security headers and answers failures without a stack trace.
/// </summary>
public sealed class DashboardHandler
{
    private readonly DashboardSite _site;
    private readonly ILogger _log;

    /// <summary>The dashboard of <paramref name="source"/> served below <paramref name="basePath"/> (ends with '/').</summary>
    public DashboardHandler(DurableDashboardSource source, string basePath, ILogger log, TimeProvider? time = null)
        : this(new DashboardSite(null, source ?? throw new ArgumentNullException(nameof(source)), time ?? TimeProvider.System, basePath), log)
    {
        if (!basePath.StartsWith('/') || !basePath.EndsWith('/'))
        {
            throw new ArgumentException($"the base path must start and end with '/' (got '{basePath}')", nameof(basePath));
        }
    }

    internal DashboardHandler(DashboardSite site, ILogger log)
    {
        _site = site;
        _log = log;
    }

    /// <summary>Answers a request whose path below the base path, still escaped, is <paramref name="escapedPath"/>.</summary>
    public async Task HandleAsync(HttpContext context, string escapedPath)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(escapedPath);
        DashboardSite.SecurityHeaders(context);
        try
        {
            await _site.HandleAsync(context, escapedPath).ConfigureAwait(false);
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted)
        {
            await DashboardSite.FailedAsync(context, escapedPath, e, _log).ConfigureAwait(false);
        }
    }
}
