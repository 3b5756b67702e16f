using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trainyard.Core.Engine;
using Trainyard.Core.Validation;
using Trainyard.FunctionApp.Protocol;
using Trainyard.FunctionApp.Triggers;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Registry;
using Trainyard.Execution.Contracts;

namespace Trainyard.FunctionApp.Api;

/// <summary>
/// The HTTP API (route prefix api/): pipeline registry, runs, cancel, retry, external events. Every error is
/// <c>{code, message, field}</c> JSON; nothing is changed by a refused request.
/// </summary>
internal sealed class ApiHandler(PipelineRegistry registry, IRunStore store, IRunGateway runs)
{
    /// <summary>Largest request body accepted by the API (specs have their own, smaller bound).</summary>
    public const int MaxBodyBytes = 1024 * 1024;

    /// <summary>Routes one request.</summary>
    public async Task<ApiResponse> HandleAsync(HttpTriggerRequest request, CancellationToken ct)
    {
        if (Encoding.UTF8.GetByteCount(request.Body) > MaxBodyBytes)
        {
            return ApiResponse.Error(413, "body_too_large", $"the request body is larger than {MaxBodyBytes / 1024} KiB", "body");
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
    }

    private async Task<ApiResponse> PushAsync(HttpTriggerRequest request, CancellationToken ct)
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

    private async Task<ApiResponse> StartAsync(string name, HttpTriggerRequest request, CancellationToken ct)
    {
        var body = ParseObject(request.Body, allowEmpty: true);
        var versionText = body is not null && InvocationRequest.Property(body.Value, "version") is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;
        var version = versionText is null
            ? await registry.ActiveVersionAsync(name, ct) ?? throw UnknownPipeline(name)
            : await registry.FindAsync(name, versionText, ct) ?? throw new ApiException(404, "unknown_version", $"pipeline '{name}' has no version '{versionText}'", "version");

        var runParams = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (body is not null && InvocationRequest.Property(body.Value, "params") is { } p)
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

        var spec = registry.Spec(version);
        if (spec is not null)
        {
            foreach (var key in runParams.Keys)
            {
                if (spec.Params.All(d => d.Name != key))
                {
                    throw new ApiException(400, "unknown_param", $"pipeline '{name}' declares no param '{key}'; declared: {string.Join(", ", spec.Params.Select(d => d.Name))}", $"params.{key}");
                }
            }
        }

        string? runId = body is not null && InvocationRequest.Property(body.Value, "runId") is { ValueKind: JsonValueKind.String } r ? r.GetString() : null;
        var (id, created) = await runs.StartAsync(new RunStartRequest(version, runParams, new TriggerInfo("manual", "api"), runId), ct);
        return new ApiResponse(created ? 201 : 200, new JsonObject { ["runId"] = id, ["created"] = created, ["pipeline"] = name, ["version"] = version.ContentHash });
    }

    private async Task<ApiResponse> ListRunsAsync(HttpTriggerRequest request, CancellationToken ct)
    {
        int limit = 100;
        if (request.Query.TryGetValue("limit", out var l) && (!int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 1000))
        {
            throw new ApiException(400, "invalid_query", "'limit' must be a whole number from 1 to 1000", "limit");
        }

        var query = new RunQuery
        {
            PipelineName = request.Query.GetValueOrDefault("pipeline") is { Length: > 0 } pn ? pn : null,
            Status = request.Query.GetValueOrDefault("status") is { Length: > 0 } st ? st : null,
            Limit = limit,
        };
        var list = await store.ListRunsAsync(query, ct);
        var items = new JsonArray();
        foreach (var s in list)
        {
            items.Add(JsonSerializer.SerializeToNode(s, EngineJson.Options));
        }

        return new ApiResponse(200, new JsonObject { ["runs"] = items });
    }

    private async Task<ApiResponse> GetRunAsync(string id, CancellationToken ct)
    {
        var run = await runs.GetRunAsync(id, ct) ?? throw UnknownRun(id);
        return new ApiResponse(200, run);
    }

    private async Task<ApiResponse> CancelAsync(string id, HttpTriggerRequest request, CancellationToken ct)
    {
        var body = ParseObject(request.Body, allowEmpty: true);
        var reason = body is not null && InvocationRequest.Property(body.Value, "reason") is { ValueKind: JsonValueKind.String } r ? r.GetString()! : "cancelled through the API";
        _ = await runs.GetRunAsync(id, ct) ?? throw UnknownRun(id);
        await runs.CancelAsync(id, reason, ct);
        return new ApiResponse(202, new JsonObject { ["runId"] = id, ["cancelRequested"] = true });
    }

    private async Task<ApiResponse> RetryAsync(string id, CancellationToken ct)
    {
        _ = await runs.GetRunAsync(id, ct) ?? throw UnknownRun(id);
        var newId = await runs.RetryAsync(id, ct);
        return new ApiResponse(201, new JsonObject { ["runId"] = newId, ["retryOf"] = id });
    }

    private async Task<ApiResponse> RaiseAsync(string id, string name, HttpTriggerRequest request, CancellationToken ct)
    {
        JsonElement payload = string.IsNullOrWhiteSpace(request.Body) ? JsonSerializer.SerializeToElement(new { }) : ParseAny(request.Body);
        _ = await runs.GetRunAsync(id, ct) ?? throw UnknownRun(id);
        var eventId = request.Headers.TryGetValue("Idempotency-Key", out var key) && key.Length > 0
            ? "api-" + TriggerRunIds.Hash(id + "\n" + name + "\n" + key)
            : "api-" + TriggerRunIds.Hash(id + "\n" + name + "\n" + payload.GetRawText());
        await runs.RaiseEventAsync(id, name, payload, eventId, ct);
        return new ApiResponse(202, new JsonObject { ["runId"] = id, ["event"] = name, ["eventId"] = eventId });
    }

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

    internal static JsonArray DiagnosticsJson(IEnumerable<Diagnostic> diagnostics) =>
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
