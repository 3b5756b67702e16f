using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Trainyard.FunctionApp;
using Trainyard.Runtime.Contracts;
using Trainyard.Runtime.InMemory;
using Trainyard.Execution.Contracts;

namespace Trainyard.FunctionApp.Tests;

/// <summary>A clock tests move by hand.</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Set(DateTimeOffset now) => _now = now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>
/// The Function App on a real Kestrel server on 127.0.0.1 (a free port), with a backend and clock the test owns,
/// and an HTTP client that talks to it the way the Functions host does.
/// </summary>
internal sealed class AppHarness : IAsyncDisposable
{
    private readonly WebApplication _app;

    private AppHarness(WebApplication app, IBackend backend, ManualClock clock, HttpClient http)
    {
        _app = app;
        Backend = backend;
        Clock = clock;
        Http = http;
    }

    public IBackend Backend { get; }

    public ManualClock Clock { get; }

    public HttpClient Http { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Task keys of the work messages <see cref="DriveAsync"/> handed to ExecuteTask, in order.</summary>
    public List<string> ExecutedTasks { get; } = [];

    public static async Task<AppHarness> StartAsync(IBackend? backend = null, ManualClock? clock = null, string dataContainer = "data")
    {
        clock ??= new ManualClock(new DateTimeOffset(2026, 11, 23, 10, 0, 30, TimeSpan.Zero));
        backend ??= new InMemoryBackend(clock);
        var settings = AppSettings.Read(name => name switch
        {
            AppSettings.DataContainer => dataContainer,
            AppSettings.WorkDir => Path.Combine(Path.GetTempPath(), "trainyard-funcapp-tests"),
            _ => null,
        });
        var app = FunctionAppHost.Build(settings, [], new FunctionAppOverrides { Backend = backend, Time = clock, Url = "http://127.0.0.1:0" });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
        return new AppHarness(app, backend, clock, http);
    }

    /// <summary>POSTs an invocation body to /{function}; returns the status and the parsed response.</summary>
    public async Task<(int Status, JsonObject Body)> InvokeAsync(string function, string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/" + function) { Content = content };
        request.Headers.Add("X-Azure-Functions-InvocationId", Guid.NewGuid().ToString());
        request.Headers.Add("X-Azure-Functions-HostVersion", "4.1040.300.0");
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonNode.Parse(text)!.AsObject());
    }

    /// <summary>Registers a pipeline through the HTTP API (invocation form); returns the res output.</summary>
    public async Task<(int Status, JsonObject Body)> PushAsync(string yaml)
    {
        var (status, result) = await InvokeAsync("Api", Payloads.Http("POST", "pipelines", yaml));
        Assert.Equal(200, status);
        return Payloads.Res(result);
    }

    /// <summary>
    /// Plays the host's queue triggers until the run ends: each control and work message goes to AdvanceRun/ExecuteTask
    /// as the Azure backend writes it (an {"id","body"} envelope, JSON-encoded again by the host). Returns the run's JSON.
    /// </summary>
    public async Task<JsonObject> DriveAsync(string runId, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            bool moved = false;
            foreach (var (queue, function) in new[] { (Backend.Control, "AdvanceRun"), (Backend.Work, "ExecuteTask") })
            {
                foreach (var m in await queue.ReceiveAsync(8, TimeSpan.FromSeconds(30), cts.Token))
                {
                    var body = JsonNode.Parse(m.Body);
                    if (function == "ExecuteTask")
                    {
                        ExecutedTasks.Add(body?["work"]?["taskKey"]?.GetValue<string>() ?? "?");
                    }

                    var envelope = new JsonObject { ["id"] = m.Id, ["body"] = body }.ToJsonString();
                    var (code, response) = await InvokeAsync(function, Payloads.Queue(envelope, m.DequeueCount));
                    Assert.Equal(200, code);
                    Payloads.AssertHostShape(response);
                    await queue.CompleteAsync(m, cts.Token);
                    moved = true;
                }
            }

            var (_, result) = await InvokeAsync("Api", Payloads.Http("GET", "runs/" + runId));
            var run = Payloads.Res(result).Body;
            if (run["status"]?.GetValue<string>() is "succeeded" or "failed" or "cancelled")
            {
                return run;
            }

            if (!moved)
            {
                await Task.Delay(50, cts.Token);
            }
        }
    }

    public async Task<IReadOnlyList<RunSummary>> RunsAsync(string? pipeline = null) =>
        await Backend.Store.ListRunsAsync(new RunQuery { PipelineName = pipeline, Limit = 1000 }, CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Invocation payloads in the shapes the Functions host sends (see docs/function-app.md for sources).</summary>
internal static class Payloads
{
    public static string Sys(string method) =>
        $$"""{"MethodName":"{{method}}","UtcNow":"2026-11-23T10:00:30.1234567Z","RandGuid":"{{Guid.NewGuid()}}"}""";

    /// <summary>A timer invocation (TimerInfo serialized by the host).</summary>
    public static string Timer(bool pastDue = false)
    {
        var timer = new JsonObject
        {
            ["Schedule"] = new JsonObject { ["AdjustForDST"] = true },
            ["ScheduleStatus"] = new JsonObject { ["Last"] = "2026-11-23T09:59:00+00:00", ["Next"] = "2026-11-23T10:01:00+00:00", ["LastUpdated"] = "2026-11-23T09:59:00+00:00" },
            ["IsPastDue"] = pastDue,
        };
        return new JsonObject { ["Data"] = new JsonObject { ["timer"] = timer }, ["Metadata"] = new JsonObject { ["sys"] = JsonNode.Parse(Sys("OnSchedule")) } }.ToJsonString();
    }

    /// <summary>A blob trigger invocation (EventGrid source): content in Data, identity in Metadata.</summary>
    public static string Blob(string container, string name, string etag, string content = "a,b\n1,2\n")
    {
        var data = new JsonObject { ["blob"] = JsonSerializer.Serialize(content) };
        var metadata = new JsonObject
        {
            ["name"] = name,
            ["Uri"] = $"https://acct.blob.core.windows.net/{container}/{name}",
            ["Properties"] = new JsonObject { ["ETag"] = etag, ["ContentLength"] = content.Length, ["LastModified"] = "2026-11-23T10:00:00+00:00" },
            ["Metadata"] = new JsonObject(),
            ["sys"] = JsonNode.Parse(Sys("OnBlobArrived")),
        };
        return new JsonObject { ["Data"] = data, ["Metadata"] = metadata }.ToJsonString();
    }

    /// <summary>A Service Bus trigger invocation; the body arrives as a JSON-encoded string.</summary>
    public static string ServiceBus(string messageBody, string messageId, int deliveryCount = 1)
    {
        var data = new JsonObject { ["message"] = JsonSerializer.Serialize(messageBody) };
        var metadata = new JsonObject
        {
            ["MessageId"] = messageId,
            ["DeliveryCount"] = deliveryCount,
            ["EnqueuedTimeUtc"] = "2026-11-23T10:00:00Z",
            ["ContentType"] = "application/json",
            ["ApplicationProperties"] = new JsonObject(),
            ["sys"] = JsonNode.Parse(Sys("OnDriftSignal")),
        };
        return new JsonObject { ["Data"] = data, ["Metadata"] = metadata }.ToJsonString();
    }

    /// <summary>A queue trigger invocation; <paramref name="doubleEncoded"/> mimics the host's string re-encoding.</summary>
    public static string Queue(string messageText, int dequeueCount = 1, bool doubleEncoded = true)
    {
        JsonNode value = doubleEncoded ? JsonValue.Create(JsonSerializer.Serialize(messageText))! : JsonValue.Create(messageText)!;
        var metadata = new JsonObject
        {
            ["DequeueCount"] = dequeueCount,
            ["ExpirationTime"] = "2026-11-30T10:00:00+00:00",
            ["Id"] = Guid.NewGuid().ToString(),
            ["InsertionTime"] = "2026-11-23T10:00:00+00:00",
            ["NextVisibleTime"] = "2026-11-23T10:00:10+00:00",
            ["PopReceipt"] = "AgAAAAMAAAAAAAAAAgtnj8x+1QE=",
            ["sys"] = JsonNode.Parse(Sys("AdvanceRun")),
        };
        return new JsonObject { ["Data"] = new JsonObject { ["message"] = value }, ["Metadata"] = metadata }.ToJsonString();
    }

    /// <summary>An HTTP trigger invocation (Data.req as the host builds it).</summary>
    public static string Http(string method, string path, string body = "", string query = "{}")
    {
        var req = new JsonObject
        {
            ["Url"] = $"https://app.azurewebsites.net/api/{path}",
            ["Method"] = method,
            ["Query"] = JsonNode.Parse(query),
            ["Headers"] = new JsonObject { ["Content-Type"] = new JsonArray("application/json") },
            ["Params"] = new JsonObject { ["path"] = path },
            ["Identities"] = new JsonArray(),
        };
        if (body.Length > 0)
        {
            req["Body"] = body;
        }

        return new JsonObject { ["Data"] = new JsonObject { ["req"] = req }, ["Metadata"] = new JsonObject { ["sys"] = JsonNode.Parse(Sys("Api")) } }.ToJsonString();
    }

    /// <summary>The API's answer inside Outputs.res: its status and parsed body.</summary>
    public static (int Status, JsonObject Body) Res(JsonObject invocationResult)
    {
        var res = invocationResult["Outputs"]!["res"]!.AsObject();
        var body = JsonNode.Parse(res["body"]!.GetValue<string>())!.AsObject();
        return (int.Parse(res["statusCode"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture), body);
    }

    /// <summary>Checks the response shape the host expects, and that no output is a bare string the host would base64-mangle.</summary>
    public static void AssertHostShape(JsonObject result)
    {
        Assert.True(result.ContainsKey("Outputs"), "response lacks Outputs");
        Assert.True(result.ContainsKey("Logs"), "response lacks Logs");
        Assert.True(result.ContainsKey("ReturnValue"), "response lacks ReturnValue");
        Assert.IsType<JsonObject>(result["Outputs"]);
        Assert.IsType<JsonArray>(result["Logs"]);
        foreach (var (name, value) in result["Outputs"]!.AsObject())
        {
            Assert.True(value is JsonObject or JsonArray, $"output '{name}' is {value?.GetValueKind()}, not an object or array; the host base64-decodes strings that look like base64");
        }

        foreach (var log in result["Logs"]!.AsArray())
        {
            Assert.Equal(JsonValueKind.String, log!.GetValueKind());
        }
    }
}
