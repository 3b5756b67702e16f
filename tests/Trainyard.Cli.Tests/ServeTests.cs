using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Azure.Storage.Blobs;
using Trainyard.Testing;

namespace Trainyard.Cli.Tests;

/// <summary>
/// `trainyard serve` on an Azurite task hub, as a real process: the HTTP API (token, Host check, start and follow a
/// run), a blob landing in the data container and a drift signal on the Storage queue each start a run of the
/// pipeline whose trigger matches (the blob's run ingests that blob from the data container), and a restart does not
/// trigger blobs it has seen.
/// </summary>
[Collection(AzuriteCliCollection.Name)]
public sealed partial class ServeTests(AzuriteFixture azurite) : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);
    private readonly TrainyardProcesses _cli = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public void Dispose()
    {
        _http.Dispose();
        _cli.Dispose();
    }

    [AzuriteFact]
    public async Task Serve_ApiBlobArrivalAndDriftSignal_StartRuns_AndARestartDoesNotRetriggerSeenBlobs()
    {
        var hub = AzuriteFixture.NewTaskHub();
        var store = azurite.CliStore(hub);
        var container = "data" + hub;
        var model = "m-" + hub;
        var file = _cli.WriteFile("landing.yaml", $$$"""
            name: landing
            params:
              source: { type: string, default: "" }
            triggers:
              - type: blob
                id: landed
                container: {{{container}}}
                path: "in/{name}.csv"
                params: { source: "${{ trigger.url }}" }
              - type: drift
                id: psi
                model: {{{model}}}
                metric: psi
                threshold: 0.2
            steps:
              - { id: a, uses: echo, with: { message: "${{ params.source }}" } }
              - { id: read, uses: ingest, when: "params.source != ''", with: { source: "${{ params.source }}" } }
            """);
        var blobs = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(container);
        await blobs.CreateIfNotExistsAsync();
        await blobs.UploadBlobAsync("in/old.csv", BinaryData.FromString("a,b\n"));

        var serve = _cli.Start(["serve", file, "--store", store, "--data-container", container]);
        var (api, token) = await ApiAsync(serve);

        using (var anonymous = new HttpRequestMessage(HttpMethod.Get, api + "runs"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await _http.SendAsync(anonymous)).StatusCode);
        }

        using (var foreign = Request(HttpMethod.Get, api + "runs", token))
        {
            foreign.Headers.Host = "attacker.example:80";
            Assert.Equal(HttpStatusCode.MisdirectedRequest, (await _http.SendAsync(foreign)).StatusCode);
        }

        using var start = Request(HttpMethod.Post, api + "pipelines/landing/runs", token);
        start.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        var started = await _http.SendAsync(start);
        Assert.True(started.StatusCode is HttpStatusCode.OK or HttpStatusCode.Created or HttpStatusCode.Accepted, await started.Content.ReadAsStringAsync());
        var manualId = JsonDocument.Parse(await started.Content.ReadAsStringAsync()).RootElement.GetProperty("runId").GetString()!;
        await WaitForRunAsync(api, token, r => r.RunId == manualId && r.Status == "succeeded", "the API-started run to succeed");

        await blobs.UploadBlobAsync("in/new.csv", BinaryData.FromString("a,b\n1,2\n"));
        var blobRun = await WaitForRunAsync(api, token, r => r.Trigger == "blob" && r.Status == "succeeded", "a blob-triggered run");
        var signal = await _cli.RunAsync(["signal", "drift", "--model", model, "--metric", "psi", "--value", "0.4", "--store", store]);
        Assert.True(signal.ExitCode == 0, signal.ToString());
        await WaitForRunAsync(api, token, r => r.Trigger == "drift" && r.Status == "succeeded", "a drift-triggered run");

        serve.Terminate();
        var stopped = await serve.WaitAsync(Limit);
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        Assert.Contains("1 existing blob(s) seen before", stopped.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("old.csv", stopped.Stdout, StringComparison.Ordinal);

        // Restart: the seen blobs start nothing; a new one does.
        var again = _cli.Start(["serve", "--store", store, "--data-container", container]);
        (api, token) = await ApiAsync(again);
        await blobs.UploadBlobAsync("in/newer.csv", BinaryData.FromString("a,b\n3,4\n"));
        await WaitForRunAsync(api, token, r => r.Trigger == "blob" && r.RunId != blobRun.RunId && r.Status == "succeeded", "a run for the blob uploaded after the restart");
        await Task.Delay(TimeSpan.FromSeconds(3)); // a few more polls: a re-triggered old blob would show now
        var runs = await ListAsync(api, token, allowFailure: false);
        again.Terminate();
        var second = await again.WaitAsync(Limit);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains("newer.csv", second.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, runs.Count(r => r.Trigger == "blob"));
    }

    private static HttpRequestMessage Request(HttpMethod method, string url, string token)
    {
        var request = new HttpRequestMessage(method, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    private static async Task<(string Api, string Token)> ApiAsync(CliChild serve)
    {
        var clock = Stopwatch.StartNew();
        while (Banner().Match(serve.Stdout) is not { Success: true })
        {
            Assert.False(serve.Process.HasExited, $"serve exited:\n{serve.Stdout}");
            Assert.True(clock.Elapsed < Limit, $"no banner from serve:\n{serve.Stdout}");
            await Task.Delay(50);
        }

        var m = Banner().Match(serve.Stdout);
        return (m.Groups[1].Value, m.Groups[2].Value);
    }

    private async Task<Run> WaitForRunAsync(string api, string token, Func<Run, bool> wanted, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if ((await ListAsync(api, token, allowFailure: false)).FirstOrDefault(wanted) is { } run)
            {
                return run;
            }

            Assert.True(clock.Elapsed < Limit, $"timed out waiting for {what}");
            await Task.Delay(250);
        }
    }

    private async Task<List<Run>> ListAsync(string api, string token, bool allowFailure)
    {
        using var list = Request(HttpMethod.Get, api + "runs?limit=100", token);
        var response = await _http.SendAsync(list);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            Assert.True(allowFailure, $"GET runs: {(int)response.StatusCode} {body}");
            return [];
        }

        return [.. JsonDocument.Parse(body).RootElement.GetProperty("runs").EnumerateArray().Select(r => new Run(
            r.GetProperty("runId").GetString()!, r.GetProperty("status").GetString()!, r.GetProperty("trigger").GetProperty("kind").GetString()!))];
    }

    private sealed record Run(string RunId, string Status, string Trigger);

    [GeneratedRegex(@"(http://127\.0\.0\.1:\d+/api/) \(send Authorization: Bearer ([0-9a-f]+)\)")]
    private static partial Regex Banner();
}
