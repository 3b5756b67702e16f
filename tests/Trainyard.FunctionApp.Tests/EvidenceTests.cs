using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Trainyard.FunctionApp.Tests;

/// <summary>Bad input that must change nothing, blob debounce, the step cache and delayed queue messages.</summary>
public sealed class EvidenceTests
{
    [Fact]
    public async Task ApiBodyOverOneMiB_413BodyTooLarge_InBothRequestForms_NothingStored()
    {
        await using var app = await AppHarness.StartAsync();
        var huge = "name: big\n# " + new string('x', (1024 * 1024) + 10) + "\nsteps:\n  - { id: a, uses: echo }\n";

        var (status, result) = await app.InvokeAsync("Api", Payloads.Http("POST", "pipelines", huge));
        using var forwarded = await app.Http.PostAsync("/api/pipelines", new StringContent(huge, Encoding.UTF8, "application/yaml"));
        var forwardedBody = JsonNode.Parse(await forwarded.Content.ReadAsStringAsync())!.AsObject();

        Assert.Equal(200, status);
        var (resStatus, body) = Payloads.Res(result);
        Assert.Equal(413, resStatus);
        Assert.Equal("body_too_large", body["code"]!.GetValue<string>());
        Assert.Equal("body", body["field"]!.GetValue<string>());
        Assert.Contains("1024 KiB", body["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, forwarded.StatusCode);
        Assert.Equal("body_too_large", forwardedBody["code"]!.GetValue<string>());
        Assert.Empty(await app.Backend.Store.ListPipelinesAsync(null, CancellationToken.None));
    }

    [Fact]
    public async Task InvocationOver64MiB_413WithReason_NoRunStarted()
    {
        await using var app = await AppHarness.StartAsync();
        await app.PushAsync(BlobPipeline(debounce: null));

        // Announce a body one byte over the limit and send none of it, as a client would before streaming 64 MiB:
        // the handler must answer from the Content-Length alone (HttpClient would fail on the closed connection instead).
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(app.Http.BaseAddress!.Host, app.Http.BaseAddress.Port);
        var stream = tcp.GetStream();
        var head = $"POST /OnBlobArrived HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {(64L * 1024 * 1024) + 1}\r\nX-Azure-Functions-InvocationId: big-1\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var statusLine = await reader.ReadLineAsync(timeout.Token);
        string? line;
        while (!string.IsNullOrEmpty(line = await reader.ReadLineAsync(timeout.Token)))
        {
            // Headers.
        }

        var answer = new char[4096];
        var read = await reader.ReadAsync(answer, timeout.Token);
        var json = new string(answer, 0, read);

        Assert.StartsWith("HTTP/1.1 413", statusLine, StringComparison.Ordinal);
        var body = JsonNode.Parse(json[json.IndexOf('{', StringComparison.Ordinal)..(json.LastIndexOf('}') + 1)])!.AsObject();
        Payloads.AssertHostShape(body);
        Assert.Contains("larger than 64 MiB", body["Logs"]!.AsArray()[0]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Empty(await app.RunsAsync());
    }

    [Fact]
    public async Task BurstOfBlobs_WithinDebounceWindow_StartsOneRunWhenTheWindowCloses()
    {
        await using var app = await AppHarness.StartAsync();
        await app.PushAsync(BlobPipeline(debounce: "2m"));

        foreach (var i in Enumerable.Range(1, 5))
        {
            var (status, body) = await app.InvokeAsync("OnBlobArrived", Payloads.Blob("data", $"drops/part-{i}.csv", $"0x{i}"));
            Assert.Equal(200, status);
            Assert.Contains("joined debounce window", string.Join("\n", body["Logs"]!.AsArray()), StringComparison.Ordinal);
            app.Clock.Advance(TimeSpan.FromSeconds(10));
        }

        // The same event again (at-least-once delivery) is not counted twice.
        var (_, duplicate) = await app.InvokeAsync("OnBlobArrived", Payloads.Blob("data", "drops/part-5.csv", "0x5"));
        Assert.Contains("duplicate event ignored", string.Join("\n", duplicate["Logs"]!.AsArray()), StringComparison.Ordinal);

        await app.InvokeAsync("OnSchedule", Payloads.Timer());
        Assert.Empty(await app.RunsAsync());

        app.Clock.Advance(TimeSpan.FromMinutes(2));
        var (timerStatus, closed) = await app.InvokeAsync("OnSchedule", Payloads.Timer());
        await app.InvokeAsync("OnSchedule", Payloads.Timer());

        Assert.Equal(200, timerStatus);
        var run = Assert.Single(await app.RunsAsync("drops"));
        Assert.Equal(run.RunId, closed["Outputs"]!["runs"]!.AsArray().Single()!.GetValue<string>());
        var (_, state) = await app.InvokeAsync("Api", Payloads.Http("GET", "runs/" + run.RunId));
        var trigger = Payloads.Res(state).Body["trigger"]!;
        Assert.Equal("5", trigger["detail"]!["blobCount"]!.GetValue<string>());
        Assert.Equal("drops/part-1.csv", trigger["detail"]!["firstPath"]!.GetValue<string>());

        // A later file opens a new window: a second run, not a change to the first.
        await app.InvokeAsync("OnBlobArrived", Payloads.Blob("data", "drops/late.csv", "0x9"));
        app.Clock.Advance(TimeSpan.FromMinutes(3));
        await app.InvokeAsync("OnSchedule", Payloads.Timer());
        Assert.Equal(2, (await app.RunsAsync("drops")).Count);
    }

    [Fact]
    public async Task CachedStep_SecondRunThroughTheQueueFunctions_IsServedFromTheStepCache()
    {
        await using var app = await AppHarness.StartAsync();
        await app.PushAsync("""
            name: cached
            steps:
              - id: gen
                uses: generate-churn-data
                cache: true
                with: { rows: 200, seed: 5 }
            """);

        var first = await StartAndDrive(app);
        var second = await StartAndDrive(app);

        Assert.Equal("succeeded", first["status"]!.GetValue<string>());
        Assert.Equal("succeeded", second["status"]!.GetValue<string>());
        Assert.Equal("succeeded", first["tasks"]!["gen"]!["status"]!.GetValue<string>());
        Assert.Equal("cached", second["tasks"]!["gen"]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task ControlMessageDeliveredBeforeItsNotBefore_IsSentAgainWithTheRemainingDelay_NothingApplied()
    {
        await using var app = await AppHarness.StartAsync();
        var due = app.Clock.GetUtcNow().AddDays(9);
        var envelope = new JsonObject
        {
            ["id"] = "timer:run-1:wake",
            ["body"] = new JsonObject { ["runId"] = "run-1", ["event"] = new JsonObject { ["$type"] = "TimerFired" } },
            ["notBefore"] = due.ToString("O"),
        }.ToJsonString();

        var (status, body) = await app.InvokeAsync("AdvanceRun", Payloads.Queue(envelope));

        Assert.Equal(200, status);
        Payloads.AssertHostShape(body);
        Assert.Contains("is not due before", body["Logs"]!.AsArray()[0]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Empty(await app.Backend.Control.ReceiveAsync(8, TimeSpan.FromSeconds(30), CancellationToken.None));
        app.Clock.Advance(TimeSpan.FromDays(9) + TimeSpan.FromSeconds(1));
        var again = Assert.Single(await app.Backend.Control.ReceiveAsync(8, TimeSpan.FromSeconds(30), CancellationToken.None));
        Assert.Equal("timer:run-1:wake", again.Id);
        Assert.Contains("run-1", again.Body, StringComparison.Ordinal);
        Assert.Empty(await app.RunsAsync());
    }

    private static string BlobPipeline(string? debounce) => $$$"""
        name: drops
        triggers:
          - type: blob
            id: arrivals
            container: data
            path: "drops/*.csv"
            {{{(debounce is null ? "" : "debounce: " + debounce)}}}
        steps:
          - { id: hello, uses: echo, with: { message: hi } }
        """;

    private static async Task<JsonObject> StartAndDrive(AppHarness app)
    {
        var (_, started) = await app.InvokeAsync("Api", Payloads.Http("POST", "pipelines/cached/runs", "{}"));
        var (code, body) = Payloads.Res(started);
        Assert.Equal(201, code);
        return await app.DriveAsync(body["runId"]!.GetValue<string>(), TimeSpan.FromSeconds(60));
    }
}
