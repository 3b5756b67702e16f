using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Azure.Storage.Blobs;
using Trainyard.Testing;
using Xunit.Abstractions;

namespace Trainyard.Cli.Tests;

/// <summary>Waits on what a running `trainyard serve` prints.</summary>
internal static partial class ServeOutput
{
    /// <summary>Polls the child's stdout until <paramref name="pattern"/> matches; fails with everything printed when the bound passes or it exits.</summary>
    public static async Task<Match> WaitForAsync(CliChild serve, string pattern, TimeSpan timeout)
    {
        var regex = new Regex(pattern, RegexOptions.Multiline);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var match = regex.Match(serve.Stdout);
            if (match.Success)
            {
                return match;
            }

            if (serve.Process.HasExited || clock.Elapsed > timeout)
            {
                Assert.Fail($"`trainyard serve` printed no line matching /{pattern}/ within {clock.Elapsed.TotalSeconds:0} s (exited: {serve.Process.HasExited}).\n{serve.Stdout}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>The handler's port from the ready line.</summary>
    public static int Port(Match ready) => int.Parse(ready.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>True when something still listens on the port.</summary>
    public static bool Listening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public const string Ready = @"Function App ready on http://127\.0\.0\.1:(?<port>\d+) after (?<secs>[\d.]+) s";
}

/// <summary>`trainyard serve` end to end on the embedded store: real CLI and Function App processes.</summary>
public sealed class ServeTests(ITestOutputHelper log) : IDisposable
{
    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Serve_CsvDroppedIntoWatchedFolder_RunsChurnToSuccess_DriftSignalsStartOneRetraining_StopsCleanly()
    {
        var serve = _cli.Start(["serve", "--poll", "250ms"]);
        var ready = await ServeOutput.WaitForAsync(serve, ServeOutput.Ready, TimeSpan.FromSeconds(90));
        var port = ServeOutput.Port(ready);
        log.WriteLine($"serve ready after {ready.Groups["secs"].Value} s");

        var push = await _cli.RunAsync(["pipelines", "push", RepoPaths.Of("samples", "churn", "pipeline.yaml")]);
        Assert.True(push.ExitCode == 0, push.ToString());

        var dropped = Stopwatch.StartNew();
        _cli.WriteFile("data/2026-11-23.csv", "customer_id,tenure_months\nc1,3\n");
        var blobRun = await ServeOutput.WaitForAsync(serve, @"\[run\] (?<id>\S+) \(churn-retrain, blob\): succeeded", TimeSpan.FromMinutes(4));
        log.WriteLine($"CSV drop to run succeeded: {dropped.Elapsed.TotalSeconds:0.0} s");
        Assert.Contains("[blob] data/2026-11-23.csv arrived", serve.Stdout);
        Assert.Contains($"started run {blobRun.Groups["id"].Value} of churn-retrain (blob/new-snapshot)", serve.Stdout);

        var s1 = await _cli.RunAsync(["signal", "drift", "--model", "churn", "--metric", "psi", "--value", "0.31"]);
        var s2 = await _cli.RunAsync(["signal", "drift", "--model", "churn", "--metric", "psi", "--value", "0.44", "--feature", "age"]);
        Assert.True(s1.ExitCode == 0 && s2.ExitCode == 0, s1 + "\n" + s2);
        await ServeOutput.WaitForAsync(serve, @"\[run\] \S+ \(churn-retrain, drift\): succeeded", TimeSpan.FromMinutes(4));
        await ServeOutput.WaitForAsync(serve, @"in cooldown until .* signal ignored", TimeSpan.FromSeconds(30));

        var runs = await _cli.RunAsync(["runs", "--json"]);
        using var doc = JsonDocument.Parse(runs.Stdout);
        var all = doc.RootElement.EnumerateArray().ToList();
        Assert.Single(all, r => r.GetProperty("trigger").GetString() == "drift");
        Assert.Single(all, r => r.GetProperty("trigger").GetString() == "blob");
        Assert.All(all, r => Assert.Equal("succeeded", r.GetProperty("status").GetString(), ignoreCase: true));
        Assert.Empty(Directory.GetFiles(Path.Combine(_cli.WorkingDirectory, ".trainyard", "artifacts", "signals", "drift")));

        // A malformed signal (no value, threshold, window...) is refused by OnDriftSignal and dead-lettered; nothing starts.
        _cli.WriteFile(".trainyard/artifacts/signals/drift/bad-1.json", """{"signalId":"bad-1","model":"churn","metric":"psi"}""");
        await ServeOutput.WaitForAsync(serve, @"\[drift\] signal bad-1 dead-lettered", TimeSpan.FromSeconds(30));
        Assert.Contains("'value' is missing", serve.Stdout);
        Assert.True(File.Exists(Path.Combine(_cli.WorkingDirectory, ".trainyard", "artifacts", "signals", "drift-deadletter", "bad-1.json")));
        var after = await _cli.RunAsync(["runs", "--json"]);
        using (var again = JsonDocument.Parse(after.Stdout))
        {
            Assert.Equal(all.Count, again.RootElement.GetArrayLength());
        }

        serve.Terminate();
        var stopped = await serve.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        Assert.Contains("stopped", stopped.Stdout);
        Assert.False(ServeOutput.Listening(port), "the Function App still listens after serve stopped");
    }

    [Fact]
    public async Task Serve_EveryMinuteSchedule_TimerStartsOneRunPerMinute()
    {
        var file = _cli.WriteFile("tick.yaml", """
            name: tick
            triggers:
              - type: schedule
                id: minutely
                cron: "* * * * *"
            steps:
              - { id: say, uses: echo, with: { message: tick } }
            """);
        var push = await _cli.RunAsync(["pipelines", "push", file]);
        Assert.True(push.ExitCode == 0, push.ToString());

        // The start-up firing only sets the watermark; the firing at the next minute starts that minute's run.
        var serve = _cli.Start(["serve", "--poll", "250ms"]);
        var run = await ServeOutput.WaitForAsync(serve, @"\[run\] (?<id>\S+) \(tick, schedule\): succeeded", TimeSpan.FromSeconds(150));

        var runs = await _cli.RunAsync(["runs", "--json"]);
        using var doc = JsonDocument.Parse(runs.Stdout);
        var ids = doc.RootElement.EnumerateArray().Select(r => r.GetProperty("runId").GetString()).ToList();
        Assert.Contains(run.Groups["id"].Value, ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.InRange(ids.Count, 1, 2);
        serve.Terminate();
        Assert.Equal(0, (await serve.WaitAsync(TimeSpan.FromSeconds(60))).ExitCode);
    }

    [Fact]
    public async Task Serve_FunctionAppProcessDies_ServeStopsWithExit1AndSaysSo()
    {
        var serve = _cli.Start(["serve", "--poll", "250ms"]);
        await ServeOutput.WaitForAsync(serve, ServeOutput.Ready, TimeSpan.FromSeconds(90));
        var pid = serve.Process.Id;
        var children = File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
        var app = Assert.Single(children, c => File.ReadAllText($"/proc/{c}/cmdline").Contains("Trainyard.FunctionApp", StringComparison.Ordinal));

        using (var process = Process.GetProcessById(app))
        {
            process.Kill();
        }

        var result = await serve.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("the Function App exited unexpectedly", result.Stderr);
    }

    [Fact]
    public async Task Serve_MissingApp_Exit2WithWhereToFindIt()
    {
        var result = await _cli.RunAsync(["serve", "--app", Path.Combine(_cli.WorkingDirectory, "nowhere")], TimeSpan.FromSeconds(60));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("the Function App was not found", result.Stderr);
        Assert.Contains("--app", result.Stderr);
    }
}

/// <summary>`trainyard serve` on Azure Storage (Azurite): container watcher, drift queue in blob storage, control/work queues.</summary>
[NeedsAzurite]
[Collection(AzuriteCliCollection.Name)]
public sealed class AzureServeTests(AzuriteFixture azurite, ITestOutputHelper log) : IDisposable
{
    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    [AzuriteFact]
    public async Task Serve_BlobUploadedToAzuriteContainer_StartsRunWithCapturedParam_DriftSignalStormStartsOne()
    {
        azurite.EnsureAvailable();
        var hub = AzuriteFixture.NewTaskHub();
        var store = $"azure:{azurite.ConnectionString};TaskHub={hub}";
        var container = "in" + hub;
        var file = _cli.WriteFile("greet.yaml", PipelineCommandsTests.Greet(container, "incoming/{who}.txt", """
              - type: drift
                id: drifted
                model: greeter
                metric: psi
                threshold: 0.2
                cooldown: 1h
            """));
        var blobs = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(container);
        try
        {
            var serve = _cli.Start(["serve", "--store", store, "--container", container, "--poll", "250ms"]);
            var ready = await ServeOutput.WaitForAsync(serve, ServeOutput.Ready, TimeSpan.FromSeconds(90));
            log.WriteLine($"serve (Azurite) ready after {ready.Groups["secs"].Value} s");
            var push = await _cli.RunAsync(["pipelines", "push", file, "--store", store]);
            Assert.True(push.ExitCode == 0, push.ToString());
            await ServeOutput.WaitForAsync(serve, "watching container", TimeSpan.FromSeconds(30));

            var uploaded = Stopwatch.StartNew();
            await blobs.UploadBlobAsync("incoming/oslo.txt", BinaryData.FromString("oslo"));
            await ServeOutput.WaitForAsync(serve, @"\[run\] \S+ \(greet, blob\): succeeded", TimeSpan.FromMinutes(2));
            log.WriteLine($"blob upload to run succeeded: {uploaded.Elapsed.TotalSeconds:0.0} s");

            foreach (var value in new[] { "0.3", "0.5", "0.9" })
            {
                var signal = await _cli.RunAsync(["signal", "drift", "--store", store, "--model", "greeter", "--metric", "psi", "--value", value]);
                Assert.True(signal.ExitCode == 0, signal.ToString());
            }

            await ServeOutput.WaitForAsync(serve, @"\[run\] \S+ \(greet, drift\): succeeded", TimeSpan.FromMinutes(2));
            await ServeOutput.WaitForAsync(serve, @"(in cooldown until .* signal ignored[\s\S]*){2}", TimeSpan.FromSeconds(30));

            var runs = await _cli.RunAsync(["runs", "--json", "--store", store]);
            using var doc = JsonDocument.Parse(runs.Stdout);
            var all = doc.RootElement.EnumerateArray().ToList();
            Assert.Equal(2, all.Count);
            Assert.Single(all, r => r.GetProperty("trigger").GetString() == "drift");
            var blobRun = Assert.Single(all, r => r.GetProperty("trigger").GetString() == "blob").GetProperty("runId").GetString()!;
            var logs = await _cli.RunAsync(["logs", blobRun, "--store", store]);
            Assert.Contains("hello oslo", logs.Stdout);

            serve.Terminate();
            var stopped = await serve.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(stopped.ExitCode == 0, stopped.ToString());
        }
        finally
        {
            await blobs.DeleteIfExistsAsync();
            await using var backend = new Trainyard.Storage.Azure.AzureBackend(Trainyard.Storage.Azure.AzureBackendOptions.Parse(store));
            await backend.DeleteTaskHubAsync(CancellationToken.None);
        }
    }
}
