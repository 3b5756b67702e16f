using System.Text.Json;
using System.Text.Json.Nodes;
using Trainyard.Core.Engine;

namespace Trainyard.Service.Tests;

/// <summary>The HTTP API handler's routes and errors, over the registry and a real Durable client.</summary>
public sealed class ApiTests(DurableHost durable) : IClassFixture<DurableHost>
{
    private const string Hello = """
        name: hello
        params:
          rows:
            type: integer
            default: 10
        steps:
          - id: greet
            uses: echo
            with:
              message: hi
        """;

    private static ApiRequest Request(string method, string path, string body = "", Dictionary<string, string>? query = null, Dictionary<string, string>? headers = null) =>
        new(method, path, query ?? [], headers ?? [], body);

    private static async Task<(int Status, JsonObject Body)> Call(ServiceHarness app, string method, string path, string body = "", Dictionary<string, string>? query = null, Dictionary<string, string>? headers = null)
    {
        var response = await app.Api.HandleAsync(Request(method, path, body, query, headers), CancellationToken.None);
        var json = response.Body.ToJsonString();
        Assert.DoesNotContain("statusQueryGetUri", json, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("code=", json, StringComparison.Ordinal);
        Assert.DoesNotContain("runtime/webhooks", json, StringComparison.Ordinal);
        return (response.StatusCode, response.Body.AsObject());
    }

    private static void AssertError(JsonObject body, string code, string field)
    {
        Assert.Equal(code, body["code"]!.GetValue<string>());
        Assert.Equal(field, body["field"]?.GetValue<string>());
        Assert.False(string.IsNullOrWhiteSpace(body["message"]!.GetValue<string>()));
        Assert.DoesNotContain("   at ", body["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    private static string Named(ServiceHarness app, string yaml) => yaml.Replace("name: hello", "name: " + app.Name("hello"), StringComparison.Ordinal);

    [Fact]
    public async Task PushListShow_PipelineAndVersion()
    {
        var app = new ServiceHarness(durable);
        var name = app.Name("hello");

        var (created, pushed) = await Call(app, "POST", "pipelines", Named(app, Hello));
        var (again, _) = await Call(app, "POST", "pipelines", Named(app, Hello));
        var (_, list) = await Call(app, "GET", "pipelines");
        var (_, show) = await Call(app, "GET", $"pipelines/{name}");
        var hash = pushed["contentHash"]!.GetValue<string>();
        var (_, version) = await Call(app, "GET", $"pipelines/{name}/versions/{hash[..12]}");

        Assert.Equal((201, 200), (created, again));
        Assert.Contains(list["pipelines"]!.AsArray(), p => p!["name"]!.GetValue<string>() == name && p["active"]!.GetValue<string>() == hash);
        Assert.Equal(hash, show["active"]!.GetValue<string>());
        Assert.Contains("uses: echo", version["spec"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PushSpecWithCycle_400WithDiagnostics_NothingStored()
    {
        var app = new ServiceHarness(durable);
        var (status, body) = await Call(app, "POST", "pipelines", """
            name: loop
            steps:
              - id: a
                uses: echo
                needs: [b]
              - id: b
                uses: echo
                needs: [a]
            """);

        Assert.Equal(400, status);
        Assert.Equal("invalid_spec", body["code"]!.GetValue<string>());
        Assert.NotEmpty(body["diagnostics"]!.AsArray());
        Assert.Empty(await app.Registry.VersionsAsync(null, CancellationToken.None));
    }

    [Fact]
    public async Task BodyOverOneMiB_413BodyTooLarge_NothingStored()
    {
        var app = new ServiceHarness(durable);
        var huge = "name: big\n# " + new string('x', (1024 * 1024) + 10) + "\nsteps:\n  - { id: a, uses: echo }\n";

        var (status, body) = await Call(app, "POST", "pipelines", huge);

        Assert.Equal(413, status);
        AssertError(body, "body_too_large", "body");
        Assert.Empty(await app.Registry.VersionsAsync(null, CancellationToken.None));
    }

    [Fact]
    public async Task StartRun_WithRunId_Twice_CreatesOnce_AndShowsIt()
    {
        var app = new ServiceHarness(durable);
        await app.PushAsync(Hello);
        var name = app.Name("hello");
        var runId = "api-" + app.Suffix;

        var (first, started) = await Call(app, "POST", $"pipelines/{name}/runs", $$$"""{"runId":"{{{runId}}}","params":{"rows":3}}""");
        var (second, again) = await Call(app, "POST", $"pipelines/{name}/runs", $$"""{"runId":"{{runId}}"}""");
        await durable.WaitRunningAsync(runId);
        var (shown, run) = await Call(app, "GET", $"runs/{runId}");

        Assert.Equal((201, 200), (first, second));
        Assert.Equal((true, false), (started["created"]!.GetValue<bool>(), again["created"]!.GetValue<bool>()));
        Assert.Equal(200, shown);
        Assert.Equal((name, "running", "manual"), (run["pipeline"]!.GetValue<string>(), run["status"]!.GetValue<string>(), run["trigger"]!["kind"]!.GetValue<string>()));
        var input = JsonSerializer.Deserialize<Trainyard.Engine.Durable.RunPipelineInput>((await durable.Client.GetInstanceAsync(runId, true))!.SerializedInput!, EngineJson.Options)!;
        Assert.Equal(3, input.Params["rows"].GetInt32());
    }

    [Fact]
    public async Task StartRun_Errors_NameTheField()
    {
        var app = new ServiceHarness(durable);
        await app.PushAsync(Hello);
        var name = app.Name("hello");

        var (unknownPipeline, b1) = await Call(app, "POST", "pipelines/nope/runs", "{}");
        var (unknownParam, b2) = await Call(app, "POST", $"pipelines/{name}/runs", """{"params":{"colour":"red"}}""");
        var (badType, b3) = await Call(app, "POST", $"pipelines/{name}/runs", """{"params":{"rows":"many"}}""");
        var (badRunId, b4) = await Call(app, "POST", $"pipelines/{name}/runs", """{"runId":"a/b"}""");
        var (badJson, b5) = await Call(app, "POST", $"pipelines/{name}/runs", "{not json");
        var (badVersion, b6) = await Call(app, "POST", $"pipelines/{name}/runs", """{"version":"deadbeefdeadbeef"}""");

        Assert.Equal((404, 400, 400, 400, 400, 404), (unknownPipeline, unknownParam, badType, badRunId, badJson, badVersion));
        AssertError(b1, "unknown_pipeline", "pipeline");
        AssertError(b2, "unknown_param", "params.colour");
        AssertError(b3, "invalid_params", "params.rows");
        AssertError(b4, "invalid_run_id", "runId");
        AssertError(b5, "invalid_json", "body");
        AssertError(b6, "unknown_version", "version");
        Assert.Empty(await app.RunsAsync("hello"));
    }

    [Fact]
    public async Task ListRuns_FiltersAndValidatesTheQuery()
    {
        var app = new ServiceHarness(durable);
        await app.PushAsync(Hello);
        var name = app.Name("hello");
        await Call(app, "POST", $"pipelines/{name}/runs", "{}");
        await Call(app, "POST", $"pipelines/{name}/runs", "{}");

        var (status, list) = await Call(app, "GET", "runs", query: new() { ["pipeline"] = name });
        var (badLimit, b1) = await Call(app, "GET", "runs", query: new() { ["limit"] = "0" });
        var (badStatus, b2) = await Call(app, "GET", "runs", query: new() { ["status"] = "done" });

        Assert.Equal(200, status);
        Assert.Equal(2, list["runs"]!.AsArray().Count);
        Assert.Equal((400, 400), (badLimit, badStatus));
        AssertError(b1, "invalid_query", "limit");
        AssertError(b2, "invalid_query", "status");
    }

    [Fact]
    public async Task CancelRetryAndEvents_ThroughTheApi()
    {
        var app = new ServiceHarness(durable);
        await app.PushAsync(Hello);
        var name = app.Name("hello");
        var runId = "steer-" + app.Suffix;
        await Call(app, "POST", $"pipelines/{name}/runs", $$"""{"runId":"{{runId}}"}""");
        await durable.WaitRunningAsync(runId);

        var key = new Dictionary<string, string> { ["Idempotency-Key"] = "k-1" };
        var (e1, ev1) = await Call(app, "POST", $"runs/{runId}/events/approve", """{"by":"ana"}""", headers: key);
        var (e2, ev2) = await Call(app, "POST", $"runs/{runId}/events/approve", """{"by":"bob"}""", headers: key);
        var (retryRunning, r1) = await Call(app, "POST", $"runs/{runId}/retry");
        var (cancel, _) = await Call(app, "POST", $"runs/{runId}/cancel", """{"reason":"enough"}""");
        await durable.WaitFinishedAsync(runId);
        var (cancelAgain, c2) = await Call(app, "POST", $"runs/{runId}/cancel");
        var (retry, r2) = await Call(app, "POST", $"runs/{runId}/retry");
        var (eventFinished, e3) = await Call(app, "POST", $"runs/{runId}/events/approve", "{}");
        var (unknown, u) = await Call(app, "POST", "runs/nobody-here/cancel");

        Assert.Equal((202, 202), (e1, e2));
        Assert.Equal(ev1["eventId"]!.GetValue<string>(), ev2["eventId"]!.GetValue<string>());
        Assert.Equal(409, retryRunning);
        AssertError(r1, "run_not_retryable", "runId");
        Assert.Equal(202, cancel);
        Assert.Equal(409, cancelAgain);
        AssertError(c2, "run_finished", "runId");
        Assert.Equal(201, retry);
        Assert.Equal(runId, r2["retryOf"]!.GetValue<string>());
        Assert.Equal(409, eventFinished);
        AssertError(e3, "run_finished", "runId");
        Assert.Equal(404, unknown);
        AssertError(u, "unknown_run", "runId");
        var (_, cancelled) = await Call(app, "GET", $"runs/{runId}");
        Assert.Equal(("cancelled", "enough"), (cancelled["status"]!.GetValue<string>(), cancelled["error"]!.GetValue<string>()));
    }

    [Fact]
    public async Task UnknownRoutesAndMethods_404And405()
    {
        var app = new ServiceHarness(durable);

        var (notFound, b1) = await Call(app, "GET", "nothing/here");
        var (notAllowed, b2) = await Call(app, "DELETE", "runs/x");

        Assert.Equal((404, 405), (notFound, notAllowed));
        AssertError(b1, "not_found", "path");
        AssertError(b2, "method_not_allowed", "method");
    }
}
