using System.Text.Json;
using Trainyard.Testing;

namespace Trainyard.Cli.Tests;

/// <summary>`trainyard run | runs | status | logs | cancel | resume | retry` as a user or a tool sees them.</summary>
public sealed class RunCommandsTests : IAsyncLifetime
{
    private readonly TrainyardProcesses _cli = new();

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Every journal a test left (failed, cancelled and retried runs included) must replay to its snapshot.</summary>
    public async Task DisposeAsync()
    {
        try
        {
            if (File.Exists(Path.Combine(Store, "trainyard.db")))
            {
                await using var inspector = StoreInspector.Open(Store);
                await inspector.AssertAllReplayAsync();
            }
        }
        finally
        {
            _cli.Dispose();
        }
    }

    private string Store => Path.Combine(_cli.WorkingDirectory, ".trainyard");

    [Fact]
    public async Task Run_InterruptedBySigtermInTheMiddleOfABuiltinStep_StopsAtOnce_AndResumeFinishesTheStep()
    {
        // Built-in steps run inline in `trainyard run`: SIGTERM must stop them too (handed to the work queue under the same
        // dispatch id), not let the step and the rest of the run go on until the end.
        var pipeline = _cli.WriteFile("nap.yaml", """
            name: nap
            steps:
              - id: nap
                uses: sleep
                with: { duration: 5s }
              - id: after
                needs: [nap]
                uses: echo
                with: { message: done }
            """);
        var child = _cli.Start(["run", pipeline]);
        await CrashSafetyTests.WaitForOutput(child, "nap dispatched", TimeSpan.FromSeconds(60));
        await Task.Delay(300);
        child.Terminate();
        var interrupted = await child.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(interrupted.ExitCode == 130, interrupted.ToString());
        Assert.Contains("trainyard resume", interrupted.Stderr + interrupted.Stdout, StringComparison.Ordinal);
        string runId;
        string napDispatch;
        await using (var inspector = StoreInspector.Open(Store))
        {
            runId = Assert.Single(await inspector.RunsAsync()).RunId;
            var state = await inspector.SnapshotAsync(runId);
            Assert.Equal(Trainyard.Core.Engine.RunStatus.Running, state.Status);
            Assert.NotEqual(Trainyard.Core.Engine.TaskStatus.Succeeded, state.Tasks["nap"].Status);
            napDispatch = state.Tasks["nap"].DispatchId!;
        }

        var resumed = await _cli.RunAsync(["resume", runId], TimeSpan.FromMinutes(2));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        await using (var inspector = StoreInspector.Open(Store))
        {
            var state = await inspector.SnapshotAsync(runId);
            Assert.Equal((Trainyard.Core.Engine.TaskStatus.Succeeded, 1, napDispatch), (state.Tasks["nap"].Status, state.Tasks["nap"].Attempt, state.Tasks["nap"].DispatchId));
            Assert.Equal(Trainyard.Core.Engine.TaskStatus.Succeeded, state.Tasks["after"].Status);
        }
    }

    [Fact]
    public async Task Run_HelloSample_SucceedsWithExitZeroAndPrintsTheSummary()
    {
        var sample = RepoPaths.Of("samples", "hello", "pipeline.yaml");

        var result = await _cli.RunAsync(["run", sample, "--param", "cities=oslo,lima,kyoto"]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("succeeded", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("greet[2]", result.Stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(Store, "trainyard.db")), "the default store is .trainyard/ in the working directory");
        await using var inspector = StoreInspector.Open(Store);
        var run = Assert.Single(await inspector.RunsAsync());
        var state = await inspector.SnapshotAsync(run.RunId);
        Assert.Equal(3, state.Tasks["collect"].Result!.Outputs["count"].GetInt32());
        await inspector.AssertReplaysToSnapshotAsync(run.RunId);
    }

    [Fact]
    public async Task RunJson_PrintsOneJsonDocumentWithRunAndTasks()
    {
        var pipeline = _cli.WriteFile("p.yaml", """
            name: tiny
            steps:
              - id: a
                outputs: [n]
                run: { command: [sh, -c, 'printf "{\"n\": 42}" > "$TRAINYARD_OUTPUT_DIR/outputs.json"'] }
              - id: b
                needs: [a]
                uses: echo
                with: { message: "n is ${{ steps.a.outputs.n }}" }
            """);

        var result = await _cli.RunAsync(["run", pipeline, "--json"]);

        Assert.True(result.ExitCode == 0, result.ToString());
        using var doc = JsonDocument.Parse(result.Stdout);
        var root = doc.RootElement;
        Assert.Equal("succeeded", root.GetProperty("status").GetString());
        Assert.Equal("tiny", root.GetProperty("pipeline").GetString());
        Assert.False(string.IsNullOrEmpty(root.GetProperty("runId").GetString()));
        var tasks = root.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("key").GetString()!);
        Assert.Equal(42, tasks["a"].GetProperty("outputs").GetProperty("n").GetInt32());
        Assert.Equal("n is 42", tasks["b"].GetProperty("outputs").GetProperty("message").GetString());
        Assert.Equal(1, tasks["a"].GetProperty("attempt").GetInt32());
    }

    [Fact]
    public async Task Run_FailingStep_ExitsOneAndNamesTheTaskAndItsLog()
    {
        var pipeline = _cli.WriteFile("p.yaml", """
            name: broken
            steps:
              - id: bad
                run: { command: [sh, -c, 'echo "disk on fire" >&2; exit 3'] }
              - id: after
                needs: [bad]
                uses: echo
            """);

        var result = await _cli.RunAsync(["run", pipeline]);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("disk on fire", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("trainyard logs ", result.Stdout, StringComparison.Ordinal);
        var runId = await SingleRunId();
        var status = await _cli.RunAsync(["status", runId, "--json"]);
        Assert.Equal(0, status.ExitCode);
        using var doc = JsonDocument.Parse(status.Stdout);
        Assert.Equal("failed", doc.RootElement.GetProperty("status").GetString());
        var logs = await _cli.RunAsync(["logs", runId, "bad"]);
        Assert.True(logs.ExitCode == 0, logs.ToString());
        Assert.Contains("disk on fire", logs.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_InvalidPipeline_ExitsInvalidSpecWithFileAndLine()
    {
        var pipeline = _cli.WriteFile("bad.yaml", """
            name: bad
            steps:
              - id: a
                uses: echo
              - id: b
                needs: [nope]
                uses: echo
            """);

        var result = await _cli.RunAsync(["run", pipeline]);

        Assert.True(result.ExitCode == CliApp.InvalidSpec, result.ToString());
        Assert.Contains("bad.yaml:", result.Stdout + result.Stderr, StringComparison.Ordinal);
        Assert.Contains("nope", result.Stdout + result.Stderr, StringComparison.Ordinal);
        var runs = await _cli.RunAsync(["runs", "--json"]);
        Assert.Equal("[]", runs.Stdout.Trim());
    }

    [Fact]
    public async Task Run_MissingFileOrBadParam_ExitsTwo()
    {
        var pipeline = _cli.WriteFile("p.yaml", """
            name: params
            params:
              n: { type: integer, default: 1 }
            steps:
              - id: a
                uses: echo
            """);

        var missing = await _cli.RunAsync(["run", "does-not-exist.yaml"]);
        var badType = await _cli.RunAsync(["run", pipeline, "--param", "n=lots"]);
        var unknown = await _cli.RunAsync(["run", pipeline, "--param", "m=1"]);
        var noWorkers = await _cli.RunAsync(["run", pipeline, "--workers", "0"]);

        Assert.True(missing.ExitCode == 2, missing.ToString());
        Assert.Contains("does-not-exist.yaml", missing.Stderr, StringComparison.Ordinal);
        Assert.True(badType.ExitCode == 2, badType.ToString());
        Assert.Contains("'n'", badType.Stderr, StringComparison.Ordinal);
        Assert.True(unknown.ExitCode == 2, unknown.ToString());
        Assert.Contains("'m'", unknown.Stderr, StringComparison.Ordinal);
        Assert.True(noWorkers.ExitCode == 2, noWorkers.ToString());
        Assert.Contains("--workers", noWorkers.Stderr, StringComparison.Ordinal);
        Assert.Equal("[]", (await _cli.RunAsync(["runs", "--json"])).Stdout.Trim());
    }

    [Theory]
    [InlineData("status")]
    [InlineData("logs")]
    [InlineData("cancel")]
    [InlineData("resume")]
    [InlineData("retry")]
    public async Task UnknownRunId_ExitsTwoAndSaysHowToFindIds(string command)
    {
        var result = await _cli.RunAsync([command, "no-such-run"]);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("no-such-run", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("trainyard runs", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Runs_ListsRunsNewestFirstAndFiltersByStatus()
    {
        var ok = _cli.WriteFile("ok.yaml", "name: ok\nsteps:\n  - id: a\n    uses: echo\n");
        var bad = _cli.WriteFile("bad.yaml", "name: bad\nsteps:\n  - id: a\n    uses: fail\n");
        Assert.Equal(0, (await _cli.RunAsync(["run", ok])).ExitCode);
        Assert.Equal(1, (await _cli.RunAsync(["run", bad])).ExitCode);

        var all = await _cli.RunAsync(["runs", "--json"]);
        var failed = await _cli.RunAsync(["runs", "--json", "--status", "failed"]);
        var text = await _cli.RunAsync(["runs"]);
        var wrong = await _cli.RunAsync(["runs", "--status", "sideways"]);

        using var allDoc = JsonDocument.Parse(all.Stdout);
        Assert.Equal(["bad", "ok"], allDoc.RootElement.EnumerateArray().Select(r => r.GetProperty("pipeline").GetString()!));
        using var failedDoc = JsonDocument.Parse(failed.Stdout);
        Assert.Equal("bad", Assert.Single(failedDoc.RootElement.EnumerateArray()).GetProperty("pipeline").GetString());
        Assert.Contains("PIPELINE", text.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, wrong.ExitCode);
    }

    [Fact]
    public async Task Retry_ReusesSucceededTaskOutputsAndRerunsTheFailedOnes()
    {
        var count = Path.Combine(_cli.WorkingDirectory, "expensive.count");
        var flag = Path.Combine(_cli.WorkingDirectory, "fixed");
        var pipeline = _cli.WriteFile("p.yaml", $$"""
            name: flaky
            steps:
              - id: expensive
                run: { command: [sh, -c, 'echo x >> "$0"; echo model > "$TRAINYARD_OUTPUT_DIR/model.bin"; printf "{\"auc\": 0.9}" > "$TRAINYARD_OUTPUT_DIR/outputs.json"', '{{count}}'] }
              - id: check
                needs: [expensive]
                run: { command: [sh, -c, 'test -f "$0" || { echo "not fixed yet" >&2; exit 1; }; cat "$TRAINYARD_INPUT_DIR/expensive/model.bin"', '{{flag}}'] }
            """);

        var first = await _cli.RunAsync(["run", pipeline]);
        Assert.True(first.ExitCode == 1, first.ToString());
        var failedRun = await SingleRunId();
        File.WriteAllText(flag, "");

        var retry = await _cli.RunAsync(["retry", failedRun, "--json"]);

        Assert.True(retry.ExitCode == 0, retry.ToString());
        Assert.Single(File.ReadAllLines(count));
        using var doc = JsonDocument.Parse(retry.Stdout);
        Assert.Equal(failedRun, doc.RootElement.GetProperty("retryOf").GetString());
        var tasks = doc.RootElement.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("key").GetString()!);
        Assert.Equal(0.9, tasks["expensive"].GetProperty("outputs").GetProperty("auc").GetDouble());
        Assert.Equal("succeeded", tasks["check"].GetProperty("status").GetString());
        var again = await _cli.RunAsync(["retry", doc.RootElement.GetProperty("runId").GetString()!]);
        Assert.Equal(2, again.ExitCode);
    }

    [Fact]
    public async Task Cancel_StopsARunningRunAndItsProcesses()
    {
        var pids = Path.Combine(_cli.WorkingDirectory, "pid");
        var pipeline = _cli.WriteFile("p.yaml", $$"""
            name: slow
            steps:
              - id: wait
                run: { command: [sh, -c, 'echo $$ > "$0"; sleep 120', '{{pids}}'] }
            """);
        var running = _cli.Start(["run", pipeline]);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            while (!File.Exists(pids) || new FileInfo(pids).Length == 0)
            {
                await Task.Delay(50, cts.Token);
            }
        }

        var runId = await SingleRunId();
        var cancel = await _cli.RunAsync(["cancel", runId]);
        var ended = await running.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(cancel.ExitCode == 0, cancel.ToString());
        Assert.True(ended.ExitCode == 1, ended.ToString());
        var status = await _cli.RunAsync(["status", runId, "--json"]);
        using var doc = JsonDocument.Parse(status.Stdout);
        Assert.Equal("cancelled", doc.RootElement.GetProperty("status").GetString());
        var pid = File.ReadAllText(pids).Trim();
        using var gone = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (IsRunning(pid))
        {
            await Task.Delay(50, gone.Token);
        }
    }

    /// <summary>True while the process exists and is not a zombie.</summary>
    private static bool IsRunning(string pid)
    {
        try
        {
            return !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private async Task<string> SingleRunId()
    {
        var runs = await _cli.RunAsync(["runs", "--json"]);
        Assert.True(runs.ExitCode == 0, runs.ToString());
        using var doc = JsonDocument.Parse(runs.Stdout);
        return Assert.Single(doc.RootElement.EnumerateArray()).GetProperty("runId").GetString()!;
    }
}
