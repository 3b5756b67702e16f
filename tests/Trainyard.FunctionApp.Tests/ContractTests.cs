using System.Text.Json.Nodes;

namespace Trainyard.FunctionApp.Tests;

public sealed class ContractTests
{
    private const string BlobPipeline = """
        name: ingest
        params:
          date:
            type: string
            default: none
        triggers:
          - type: blob
            id: arrivals
            container: data
            path: "daily/{date}/*.csv"
        steps:
          - id: hello
            uses: echo
            with:
              message: "${{ params.date }}"
        """;

    // Verbatim from learn.microsoft.com/azure/azure-functions/functions-custom-handlers (Request payload).
    private const string DocsQueueExample = """
        {
          "Data": {
            "myQueueItem": "{ message: \"Message sent\" }"
          },
          "Metadata": {
            "DequeueCount": 1,
            "ExpirationTime": "2019-10-16T17:58:31+00:00",
            "Id": "800ae4b3-bdd2-4c08-badd-f08e5a34b865",
            "InsertionTime": "2019-10-09T17:58:31+00:00",
            "NextVisibleTime": "2019-10-09T18:08:32+00:00",
            "PopReceipt": "AgAAAAMAAAAAAAAAAgtnj8x+1QE=",
            "sys": {
              "MethodName": "QueueTrigger",
              "UtcNow": "2019-10-09T17:58:32.2205399Z",
              "RandGuid": "24ad4c06-24ad-4e5b-8294-3da9714877e9"
            }
          }
        }
        """;

    [Fact]
    public async Task Root_AnswersReady()
    {
        await using var app = await AppHarness.StartAsync();
        var response = await app.Http.GetAsync("/");
        Assert.True(response.IsSuccessStatusCode);
        Assert.Contains("ready", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DocsQueueExample_AdvanceRun_RejectedWithHostShapeAndNoRunChanged()
    {
        await using var app = await AppHarness.StartAsync();
        var (status, body) = await app.InvokeAsync("AdvanceRun", DocsQueueExample);
        Assert.Equal(400, status);
        Payloads.AssertHostShape(body);
        Assert.Contains("Data.message", body["Logs"]!.ToJsonString(), StringComparison.Ordinal);
        Assert.Empty(await app.RunsAsync());
    }

    [Fact]
    public async Task MalformedJson_Rejected400WithReason()
    {
        await using var app = await AppHarness.StartAsync();
        var (status, body) = await app.InvokeAsync("OnSchedule", "{not json");
        Assert.Equal(400, status);
        Payloads.AssertHostShape(body);
        Assert.Contains("not JSON", body["Logs"]!.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Timer_AnswersHostShape()
    {
        await using var app = await AppHarness.StartAsync();
        var (status, body) = await app.InvokeAsync("OnSchedule", Payloads.Timer());
        Assert.Equal(200, status);
        Payloads.AssertHostShape(body);
    }

    [Fact]
    public async Task HttpApi_PushThenUnknownPipeline_PreciseErrors()
    {
        await using var app = await AppHarness.StartAsync();
        var (pushStatus, pushBody) = await app.PushAsync(BlobPipeline);
        Assert.Equal(201, pushStatus);
        Assert.Equal("ingest", pushBody["name"]!.GetValue<string>());

        var (status, result) = await app.InvokeAsync("Api", Payloads.Http("POST", "pipelines/nope/runs", "{}"));
        Assert.Equal(200, status);
        Payloads.AssertHostShape(result);
        var (resStatus, resBody) = Payloads.Res(result);
        Assert.Equal(404, resStatus);
        Assert.Equal("unknown_pipeline", resBody["code"]!.GetValue<string>());
        Assert.Empty(await app.RunsAsync());
    }

    [Fact]
    public async Task SpecWithCycle_RefusedWithDiagnostics_NothingStored()
    {
        await using var app = await AppHarness.StartAsync();
        const string cyclic = """
            name: loop
            steps:
              - id: a
                uses: echo
                needs: [b]
              - id: b
                uses: echo
                needs: [a]
            """;
        var (status, result) = await app.InvokeAsync("Api", Payloads.Http("POST", "pipelines", cyclic));
        Assert.Equal(200, status);
        var (resStatus, resBody) = Payloads.Res(result);
        Assert.Equal(400, resStatus);
        Assert.Equal("invalid_spec", resBody["code"]!.GetValue<string>());
        Assert.NotEmpty(resBody["diagnostics"]!.AsArray());
        Assert.Empty(await app.Backend.Store.ListPipelinesAsync(null, CancellationToken.None));
    }

    [Fact]
    public async Task SameBlobEvent_TwiceAndConcurrently_StartsExactlyOneRun()
    {
        await using var app = await AppHarness.StartAsync();
        await app.PushAsync(BlobPipeline);
        var payload = Payloads.Blob("data", "daily/2026-11-22/a.csv", "0x8DDE1");
        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => app.InvokeAsync("OnBlobArrived", payload)));
        foreach (var (status, body) in results)
        {
            Assert.Equal(200, status);
            Payloads.AssertHostShape(body);
        }

        var runs = await app.RunsAsync("ingest");
        Assert.Single(runs);
        Assert.All(results, r => Assert.Equal(runs[0].RunId, r.Body["Outputs"]!["runs"]!.AsArray()[0]!.GetValue<string>()));
    }

    [Fact]
    public async Task DriftSignalMissingFields_Rejected400_NothingStarted()
    {
        await using var app = await AppHarness.StartAsync();
        var (status, body) = await app.InvokeAsync("OnDriftSignal", Payloads.ServiceBus("""{"model":"churn","metric":"psi"}""", "m-1"));
        Assert.Equal(400, status);
        var logs = string.Join("\n", body["Logs"]!.AsArray().Select(l => l!.GetValue<string>()));
        Assert.Contains("'value' is missing", logs, StringComparison.Ordinal);
        Assert.Contains("'feature' is missing", logs, StringComparison.Ordinal);
        Assert.Empty(await app.RunsAsync());
    }
}
