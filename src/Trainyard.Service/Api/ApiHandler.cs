using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trainyard.Core.Engine;
using Trainyard.Core.Validation;
using Trainyard.Core.Spec;
using Trainyard.Engine.Durable;
using Trainyard.Execution.Contracts;
using Trainyard.Execution.Registry;

namespace Trainyard.Service;

/// <summary>One HTTP API request, host-neutral: the path is the part after the route prefix (api/).</summary>
/// <param name="Method">HTTP method, upper case.</param>
/// <param name="Path">Path after /api/, without leading or trailing '/'.</param>
/// <param name="Query">Query parameters (last value wins).</param>
/// <param name="Headers">Request headers (values joined by ',').</param>
/// <param name="Body">The body as text (empty when none).</param>
public sealed record ApiRequest(string Method, string Path, IReadOnlyDictionary<string, string> Query, IReadOnlyDictionary<string, string> Headers, string Body);

/// <summary>An HTTP API answer: status code plus a JSON body.</summary>
/// <param name="StatusCode">HTTP status.</param>
/// <param name="Body">JSON body.</param>
public sealed record ApiResponse(int StatusCode, JsonNode Body)
{
    /// <summary>A JSON error <c>{code, message, field}</c> (plus diagnostics for spec errors).</summary>
    public static ApiResponse Error(int status, string code, string message, string? field = null, JsonArray? diagnostics = null)
    {
        var body = new JsonObject { ["code"] = code, ["message"] = message, ["field"] = field };
        if (diagnostics is not null)
        {
            body["diagnostics"] = diagnostics;
        }

        return new ApiResponse(status, body);
    }

    /// <summary>The answer to a body over <see cref="ApiHandler.MaxBodyBytes"/> (hosts check Content-Length before reading).</summary>
    public static ApiResponse BodyTooLarge() =>
        Error(413, "body_too_large", $"the request body is larger than {ApiHandler.MaxBodyBytes / 1024} KiB", "body");

    /// <summary>UTF-8 JSON of the body.</summary>
    public byte[] BodyBytes() => Encoding.UTF8.GetBytes(Body.ToJsonString());
}

/// <summary>
/// The HTTP API (route prefix api/): pipeline registry, runs, cancel, retry, external events, over
/// <see cref="IRunControl"/> and the registry. Every error is <c>{code, message, field}</c> JSON; nothing is changed by
/// a refused request; no answer carries the engine's management URLs or keys.
/// </summary>
public sealed class ApiHandler(PipelineRegistry registry, IRunControl runs, TimeProvider time)
{
    /// <summary>Largest request body accepted by the API (specs have their own, smaller bound).</summary>
    public const int MaxBodyBytes = 1024 * 1024;

    /// <summary>Routes one request.</summary>
    public async Task<ApiResponse> HandleAsync(ApiRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (Encoding.UTF8.GetByteCount(request.Body) > MaxBodyBytes)
        {
            return ApiResponse.BodyTooLarge();
        }

        var seg = request.Path.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();
        try
        {
            return (request.Method, seg) switch
            {
                ("POST", ["pipelines"]) => await PushAsync(request, ct),
                ("GET", ["pipelines"]) => await ListPipelinesAsync(ct),
                ("GET", ["pipelines", var name]) => await ShowPipelineAsync(name, ct),
                ("GET", ["pipelines", var name, "versions", var hash]) => await ShowVersionAsync(name, hash, ct),
                ("POST", ["pipelines", var name, "runs"]) => await StartAsync(name, request, ct),
                ("GET", ["runs"]) => await ListRunsAsync(request, ct),
                ("GET", ["runs", var id]) => await GetRunAsync(id, ct),
                ("POST", ["runs", var id, "cancel"]) => await CancelAsync(id, request, ct),
                ("POST", ["runs", var id, "retry"]) => await RetryAsync(id, ct),
                ("POST", ["runs", var id, "events", var name]) => await RaiseAsync(id, name, request, ct),
                (_, ["pipelines" or "runs", ..]) => ApiResponse.Error(405, "method_not_allowed", $"{request.Method} is not supported on /api/{request.Path}", "method"),
                _ => ApiResponse.Error(404, "not_found", $"no API route /api/{request.Path}; see docs/function-app.md for the routes", "path"),
            };
        }
        catch (ApiException ex)
        {
            return ApiResponse.Error(ex.Status, ex.Code, ex.Message, ex.Field);
        }
        catch (RunControlException ex)
        {
            var status = ex.Error switch { RunControlError.NotFound => 404, RunControlError.Conflict => 409, _ => 400 };
            return ApiResponse.Error(status, ex.Code, ex.Message, ex.Field);
        }
    }

    private async Task<ApiResponse> PushAsync(ApiRequest request, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.Body))
        {
            return ApiResponse.Error(400, "empty_body", "POST /api/pipelines takes the pipeline YAML as the request body", "body");
        }

        var source = request.Query.TryGetValue("source", out var s) && !string.IsNullOrWhiteSpace(s) ? s : "pipeline.yaml";
        var result = await registry.RegisterAsync(request.Body, source, ct);
        if (!result.Ok)
        {
            var errors = result.Diagnostics.Where(d => d.Severity == Severity.Error).ToList();
            var first = errors.FirstOrDefault();
            return ApiResponse.Error(
                400,
                "invalid_spec",
                $"the pipeline spec is invalid ({errors.Count} error(s)); first: {first}",
                first is { DisplayField.Length: > 0 } ? first.DisplayField : "body",
                DiagnosticsJson(result.Diagnostics));
        }

        var body = VersionJson(result.Version!);
        body["created"] = result.Created;
        body["warnings"] = DiagnosticsJson(result.Diagnostics.Where(d => d.Severity == Severity.Warning));
        return new ApiResponse(result.Created ? 201 : 200, body);
    }

    private async Task<ApiResponse> ListPipelinesAsync(CancellationToken ct)
    {
        var all = await registry.VersionsAsync(null, ct);
        var items = new JsonArray();
        foreach (var g in all.GroupBy(v => v.Name, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var latest = g.OrderByDescending(v => v.RegisteredAt).First();
            items.Add(new JsonObject
            {
                ["name"] = g.Key,
                ["active"] = await registry.ActiveHashAsync(g.Key, ct),
                ["latest"] = latest.ContentHash,
                ["registeredAt"] = latest.RegisteredAt.ToString("O", CultureInfo.InvariantCulture),
                ["versions"] = g.Count(),
            });
        }

        return new ApiResponse(200, new JsonObject { ["pipelines"] = items });
    }

    private async Task<ApiResponse> ShowPipelineAsync(string name, CancellationToken ct)
    {
        var versions = (await registry.VersionsAsync(name, ct)).Where(v => v.Name == name).OrderByDescending(v => v.RegisteredAt).ToList();
        if (versions.Count == 0)
        {
            throw UnknownPipeline(name);
        }

        var active = await registry.ActiveHashAsync(name, ct);
        var spec = registry.Spec(versions.FirstOrDefault(v => v.ContentHash == active) ?? versions[0]);
        var triggers = new JsonArray();
        foreach (var t in spec?.Triggers ?? [])
        {
            triggers.Add(new JsonObject { ["id"] = t.Id, ["kind"] = t.GetType().Name.Replace("TriggerSpec", "", StringComparison.Ordinal).ToLowerInvariant() });
        }

        return new ApiResponse(200, new JsonObject
        {
            ["name"] = name,
            ["active"] = active,
            ["latest"] = versions[0].ContentHash,
            ["triggers"] = triggers,
            ["versions"] = new JsonArray([.. versions.Select(v => (JsonNode)VersionJson(v))]),
        });
    }

    private async Task<ApiResponse> ShowVersionAsync(string name, string hash, CancellationToken ct)
    {
        var version = await registry.FindAsync(name, hash, ct) ?? throw new ApiException(404, "unknown_version", $"pipeline '{name}' has no version '{hash}'; list versions with GET /api/pipelines/{name}", "version");
        var body = VersionJson(version);
        body["spec"] = version.SpecText;
        return new ApiResponse(200, body);
    }

    private async Task<ApiResponse> StartAsync(string name, ApiRequest request, CancellationToken ct)
    {
        var body = ParseObject(request.Body, allowEmpty: true);
        var versionText = body is not null && Property(body.Value, "version") is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;
        var version = versionText is null
            ? await registry.ActiveVersionAsync(name, ct) ?? throw UnknownPipeline(name)
            : await registry.FindAsync(name, versionText, ct) ?? throw new ApiException(404, "unknown_version", $"pipeline '{name}' has no version '{versionText}'", "version");

        var runParams = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (body is not null && Property(body.Value, "params") is { } p)
        {
            if (p.ValueKind != JsonValueKind.Object)
            {
                throw new ApiException(400, "invalid_params", "'params' must be a JSON object of param name to value", "params");
            }

            foreach (var prop in p.EnumerateObject())
            {
                runParams[prop.Name] = prop.Value.Clone();
            }
        }

        var spec = registry.Spec(version)
            ?? throw new ApiException(409, "invalid_version", $"pipeline '{name}' version {version.ContentHash} no longer passes validation; push a fixed version", "version");
        if (runParams.Keys.FirstOrDefault(k => spec.Params.All(d => d.Name != k)) is { } unknown)
        {
            throw new ApiException(400, "unknown_param", $"pipeline '{name}' declares no param '{unknown}'; declared: {string.Join(", ", spec.Params.Select(d => d.Name))}", $"params.{unknown}");
        }

        var resolved = ParamResolver.Resolve(spec, runParams);
        if (!resolved.Succeeded)
        {
            var first = resolved.Errors[0];
            var field = first.DisplayField is { Length: > 0 } f ? f : "params";
            return ApiResponse.Error(400, "invalid_params", $"the run params do not fit pipeline '{name}': {string.Join("; ", resolved.Errors.Select(e => $"{e.DisplayField}: {e.Message} ({e.Help})"))}", field, DiagnosticsJson(resolved.Errors));
        }

        string? runId = null;
        if (body is not null && Property(body.Value, "runId") is { } r)
        {
            runId = r.ValueKind == JsonValueKind.String ? r.GetString() : throw new ApiException(400, "invalid_run_id", "'runId' must be a string", "runId");
            if (RunIds.Problem(runId!) is { } problem)
            {
                throw new ApiException(400, "invalid_run_id", problem + "; or leave 'runId' out to get a generated one", "runId");
            }
        }

        var input = new RunPipelineInput
        {
            RunId = runId ?? RunIds.NewManual(name, time.GetUtcNow()),
            PipelineName = version.Name,
            PipelineHash = version.ContentHash,
            SpecText = version.SpecText,
            Params = resolved.Values,
            Trigger = new TriggerInfo("manual", "api"),
        };
        var (id, created) = await runs.StartAsync(input, ct);
        return new ApiResponse(created ? 201 : 200, new JsonObject { ["runId"] = id, ["created"] = created, ["pipeline"] = name, ["version"] = version.ContentHash });
    }

    private async Task<ApiResponse> ListRunsAsync(ApiRequest request, CancellationToken ct)
    {
        int limit = 100;
        if (request.Query.TryGetValue("limit", out var l) && (!int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 1000))
        {
            throw new ApiException(400, "invalid_query", "'limit' must be a whole number from 1 to 1000", "limit");
        }

        var query = new RunListQuery
        {
            Pipeline = request.Query.GetValueOrDefault("pipeline") is { Length: > 0 } pn ? pn : null,
            Status = request.Query.GetValueOrDefault("status") is { Length: > 0 } st ? st : null,
            Limit = limit,
        };
        var items = new JsonArray();
        foreach (var run in await runs.ListAsync(query, ct))
        {
            items.Add(RunJson(run));
        }

        return new ApiResponse(200, new JsonObject { ["runs"] = items });
    }

    private async Task<ApiResponse> GetRunAsync(string id, CancellationToken ct)
    {
        var run = await runs.GetAsync(id, ct) ?? throw UnknownRun(id);
        var body = RunJson(run);
        if (run.State is { } state)
        {
            body["tasks"] = JsonSerializer.SerializeToNode(state.Tasks, EngineJson.Options);
            body["params"] = JsonSerializer.SerializeToNode(state.Params, EngineJson.Options);
        }

        return new ApiResponse(200, body);
    }

    private async Task<ApiResponse> CancelAsync(string id, ApiRequest request, CancellationToken ct)
    {
        var body = ParseObject(request.Body, allowEmpty: true);
        var reason = body is not null && Property(body.Value, "reason") is { ValueKind: JsonValueKind.String } r ? r.GetString()! : "cancelled through the API";
        await runs.CancelAsync(id, reason, ct);
        return new ApiResponse(202, new JsonObject { ["runId"] = id, ["cancelRequested"] = true });
    }

    private async Task<ApiResponse> RetryAsync(string id, CancellationToken ct)
    {
        var (newId, created) = await runs.RetryAsync(id, ct);
        return new ApiResponse(created ? 201 : 200, new JsonObject { ["runId"] = newId, ["retryOf"] = id, ["created"] = created });
    }

    private async Task<ApiResponse> RaiseAsync(string id, string name, ApiRequest request, CancellationToken ct)
    {
        JsonElement payload = string.IsNullOrWhiteSpace(request.Body) ? JsonSerializer.SerializeToElement(new { }) : ParseAny(request.Body);
        var eventId = request.Headers.TryGetValue("Idempotency-Key", out var key) && key.Length > 0
            ? "api-" + RunIds.Hash(id + "\n" + name + "\n" + key)
            : "api-" + RunIds.Hash(id + "\n" + name + "\n" + payload.GetRawText());
        await runs.RaiseEventAsync(id, name, payload, eventId, ct);
        return new ApiResponse(202, new JsonObject { ["runId"] = id, ["event"] = name, ["eventId"] = eventId });
    }

    private static JsonObject RunJson(RunInfo run)
    {
        var json = new JsonObject
        {
            ["runId"] = run.RunId,
            ["pipeline"] = run.Pipeline,
            ["version"] = run.Version,
            ["status"] = run.Status,
            ["createdAt"] = run.CreatedAt.ToString("O", CultureInfo.InvariantCulture),
            ["lastUpdatedAt"] = run.LastUpdatedAt.ToString("O", CultureInfo.InvariantCulture),
            ["trigger"] = run.Trigger is null ? null : JsonSerializer.SerializeToNode(run.Trigger, EngineJson.Options),
            ["retryOf"] = run.RetryOf,
            ["error"] = run.Error,
            ["progress"] = run.Progress is null ? null : JsonSerializer.SerializeToNode(run.Progress, EngineJson.Options),
        };
        return json;
    }

    private static JsonElement? Property(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) ? value : null;

    private static JsonElement? ParseObject(string body, bool allowEmpty)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return allowEmpty ? null : throw new ApiException(400, "empty_body", "a JSON object body is required", "body");
        }

        var value = ParseAny(body);
        return value.ValueKind == JsonValueKind.Object ? value : throw new ApiException(400, "invalid_json", "the request body must be a JSON object", "body");
    }

    private static JsonElement ParseAny(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
            return doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new ApiException(400, "invalid_json", $"the request body is not valid JSON: {ex.Message}", "body");
        }
    }

    private static ApiException UnknownPipeline(string name) =>
        new(404, "unknown_pipeline", $"no pipeline named '{name}' is registered; push it with POST /api/pipelines or `trainyard pipelines push`", "pipeline");

    private static ApiException UnknownRun(string id) =>
        new(404, "unknown_run", $"no run with id '{id}'; list runs with GET /api/runs", "runId");

    private static JsonObject VersionJson(PipelineVersion v) => new()
    {
        ["name"] = v.Name,
        ["contentHash"] = v.ContentHash,
        ["registeredAt"] = v.RegisteredAt.ToString("O", CultureInfo.InvariantCulture),
        ["source"] = v.Source,
    };

    private static JsonArray DiagnosticsJson(IEnumerable<Diagnostic> diagnostics) =>
        new([.. diagnostics.Select(d => (JsonNode)new JsonObject
        {
            ["severity"] = d.Severity == Severity.Error ? "error" : "warning",
            ["code"] = d.Code,
            ["message"] = d.Message,
            ["help"] = d.Help,
            ["file"] = d.File,
            ["line"] = d.Line,
            ["column"] = d.Column,
            ["field"] = d.DisplayField,
            ["step"] = d.StepId,
        })]);
}

/// <summary>An API-level refusal with an HTTP status, a stable code and the field at fault.</summary>
internal sealed class ApiException(int status, string code, string message, string? field = null) : Exception(message)
{
    /// <summary>HTTP status.</summary>
    public int Status { get; } = status;

    /// <summary>Stable error code.</summary>
    public string Code { get; } = code;

    /// <summary>Field at fault, if any.</summary>
    public string? Field { get; } = field;
}
