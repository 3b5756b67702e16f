using System.Diagnostics;
using System.Text.RegularExpressions;
using Trainyard.Testing;

namespace Trainyard.Cli.Tests;

/// <summary>
/// The run commands on a durable task hub (`--store azure:UseDevelopmentStorage=true;TaskHub=...` on Azurite): a run
/// started by one `trainyard run` process is listed, inspected, approved, cancelled and retried by other processes,
/// and a `trainyard worker --engine durable` runs what no `run` process is waiting for.
/// </summary>
[Collection(AzuriteCliCollection.Name)]
public sealed partial class DurableCommandsTests(AzuriteFixture azurite) : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);
    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    [AzuriteFact]
    public async Task RunInOneProcess_IsListedInspectedAndApprovedFromOthers()
    {
        var store = azurite.CliStore(AzuriteFixture.NewTaskHub());
        var file = _cli.WriteFile("approval.yaml", """
            name: approval
            steps:
              - { id: build, uses: sleep, with: { duration: 8s } }
              - { id: deploy, needs: [build], when: "events.approval.ok == true", run: { command: [sh, -c, "echo deployed-after-approval"] } }
            """);
        var run = _cli.Start(["run", file, "--store", store]);
        var runId = await RunIdAsync(run);

        var status = await _cli.RunAsync(["status", runId, "--store", store]);
        var listed = await _cli.RunAsync(["runs", "--store", store, "--json"]);
        var approve = await _cli.RunAsync(["event", runId, "approval", "--payload", """{"ok":true,"by":"ops"}""", "--store", store]);
        var finished = await run.WaitAsync(Limit);
        var after = await _cli.RunAsync(["status", runId, "--store", store]);
        var logs = await _cli.RunAsync(["logs", runId, "deploy", "--store", store]);

        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains($"run {runId}  pipeline approval  running", status.Stdout, StringComparison.Ordinal);
        Assert.True(listed.ExitCode == 0, listed.ToString());
        Assert.Contains($"\"runId\": \"{runId}\"", listed.Stdout, StringComparison.Ordinal);
        Assert.True(approve.ExitCode == 0, approve.ToString());
        Assert.True(finished.ExitCode == 0, finished.ToString());
        Assert.Matches(@"deploy\s+succeeded", after.Stdout);
        Assert.True(logs.ExitCode == 0, logs.ToString());
        Assert.Contains("deployed-after-approval", logs.Stdout, StringComparison.Ordinal);
    }

    [AzuriteFact]
    public async Task CancelFromAnotherProcess_ThenRetry_RunsOnAWorker_ReusingSucceededTasks()
    {
        var store = azurite.CliStore(AzuriteFixture.NewTaskHub());
        var file = _cli.WriteFile("gate.yaml", $$"""
            name: gate
            steps:
              - { id: first, uses: echo, with: { message: once } }
              - { id: wait, needs: [first], uses: sleep, with: { duration: 60s } }
            """);
        var run = _cli.Start(["run", file, "--store", store]);
        var runId = await RunIdAsync(run);
        await WaitForAsync(async () => (await _cli.RunAsync(["status", runId, "--store", store])).Stdout.Contains("running: wait", StringComparison.Ordinal));

        var cancel = await _cli.RunAsync(["cancel", runId, "--store", store]);
        var cancelled = await run.WaitAsync(Limit);
        var unknown = await _cli.RunAsync(["status", "no-such-run", "--store", store]);
        var resume = await _cli.RunAsync(["resume", runId, "--store", store]);

        Assert.True(cancel.ExitCode == 0, cancel.ToString());
        Assert.True(cancelled.ExitCode == 1, cancelled.ToString());
        Assert.Contains("cancelled", cancelled.Stdout, StringComparison.Ordinal);
        Assert.True(unknown.ExitCode == 2, unknown.ToString());
        Assert.Contains("no run 'no-such-run' in the task hub", unknown.Stderr, StringComparison.Ordinal);
        Assert.True(resume.ExitCode == 2, resume.ToString());
        Assert.Contains("worker --engine durable", resume.Stderr, StringComparison.Ordinal);

        var retry = await _cli.RunAsync(["retry", runId, "--store", store]);
        Assert.True(retry.ExitCode == 0, retry.ToString());
        var retryId = RetryLine().Match(retry.Stdout) is { Success: true } m ? m.Groups[1].Value : throw new InvalidOperationException(retry.ToString());
        var worker = _cli.Start(["worker", "--engine", "durable", "--store", store]);
        await WaitForAsync(async () => (await _cli.RunAsync(["status", retryId, "--store", store])).Stdout.Contains("running: wait", StringComparison.Ordinal));
        var cancelRetry = await _cli.RunAsync(["cancel", retryId, "--store", store]);
        await WaitForAsync(async () => (await _cli.RunAsync(["status", retryId, "--store", store])).Stdout.Contains($"run {retryId}  pipeline gate  cancelled", StringComparison.Ordinal));
        var retried = await _cli.RunAsync(["status", retryId, "--store", store]);
        worker.Terminate();
        var stopped = await worker.WaitAsync(Limit);

        Assert.True(cancelRetry.ExitCode == 0, cancelRetry.ToString());
        Assert.Matches($@"first\s+succeeded\s.*reused from run .{runId}", retried.Stdout);
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        Assert.Contains("worker stopped", stopped.Stdout, StringComparison.Ordinal);
    }

    private static async Task<string> RunIdAsync(CliChild run)
    {
        var clock = Stopwatch.StartNew();
        while (StartedLine().Match(run.Stdout) is not { Success: true })
        {
            Assert.False(run.Process.HasExited, $"trainyard run ended before starting the run:\n{run.Stdout}");
            Assert.True(clock.Elapsed < Limit, "no `run ... started` line");
            await Task.Delay(50);
        }

        return StartedLine().Match(run.Stdout).Groups[1].Value;
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < Limit, "condition not met in time");
            await Task.Delay(200);
        }
    }

    [GeneratedRegex(@"run (\S+) started on the durable engine")]
    private static partial Regex StartedLine();

    [GeneratedRegex(@"run (\S+) started as a retry of")]
    private static partial Regex RetryLine();
}
