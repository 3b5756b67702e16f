using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Artifacts;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Compute.Local.Tests;

/// <summary>The local executor against real child processes (/bin/sh scripts written by the tests).</summary>
public sealed class LocalProcessExecutorTests : IDisposable
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(60);
    private readonly string _root = Directory.CreateTempSubdirectory("trainyard-local-").FullName;
    private readonly FileSystemArtifactStore _artifacts;
    private readonly ConcurrentQueue<string> _log = new();
    private readonly List<int> _spawnedPids = [];

    public LocalProcessExecutorTests()
    {
        _artifacts = new FileSystemArtifactStore(Path.Combine(_root, "artifacts"));
    }

    public void Dispose()
    {
        foreach (var pid in _spawnedPids)
        {
            try
            {
                using var p = Process.GetProcessById(pid);
                p.Kill(entireProcessTree: true);
            }
            catch (ArgumentException)
            {
                // Already gone, which is what the tests want.
            }
            catch (InvalidOperationException)
            {
                // Exited meanwhile.
            }
        }

        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task ExecuteAsync_ScriptWritesFilesAndOutputs_UploadsArtifactsAndReturnsOutputs()
    {
        var script = WriteScript("""
            set -e
            echo "hello from $TRAINYARD_TASK_KEY"
            echo "to stderr" >&2
            mkdir -p "$TRAINYARD_OUTPUT_DIR/sub"
            printf 'data-%s' "$TRAINYARD_DISPATCH_ID" > "$TRAINYARD_OUTPUT_DIR/sub/data.txt"
            printf '{"accuracy": 0.91, "name": "m"}' > "$TRAINYARD_OUTPUT_DIR/outputs.json"
            """);
        var work = Work(["/bin/sh", script]);

        var outcome = await Execute(work);

        var result = Assert.IsType<TaskOutcome.Succeeded>(outcome).Result;
        Assert.Equal(0.91, result.Outputs["accuracy"].GetDouble());
        Assert.Equal("m", result.Outputs["name"].GetString());
        var artifact = Assert.Single(result.Artifacts);
        Assert.Equal("sub/data.txt", artifact.Name);
        Assert.Equal(work.OutputPrefix + "sub/data.txt", artifact.Path);
        Assert.Equal($"data-{work.DispatchId}", await ReadArtifact(artifact.Path));
        Assert.Contains("hello from train[2]", _log);
        Assert.Contains("[stderr] to stderr", _log);
    }

    [Fact]
    public async Task ExecuteAsync_SetsTrainyardEnvironment()
    {
        var script = WriteScript("""
            {
              echo "run=$TRAINYARD_RUN_ID"
              echo "key=$TRAINYARD_TASK_KEY"
              echo "dispatch=$TRAINYARD_DISPATCH_ID"
              echo "attempt=$TRAINYARD_ATTEMPT"
              echo "item=$TRAINYARD_ITEM"
              echo "inputs=$TRAINYARD_INPUTS"
              echo "custom=$MY_VAR"
              echo "out=$TRAINYARD_OUTPUT_DIR"
              echo "cwd=$(pwd)"
            } > "$TRAINYARD_OUTPUT_DIR/env.txt"
            """);
        var work = Work(["/bin/sh", script]) with
        {
            Attempt = 3,
            Env = new Dictionary<string, string> { ["MY_VAR"] = "x y" },
            Item = JsonDocument.Parse("""{"region":"eu"}""").RootElement,
            Inputs = new Dictionary<string, JsonElement> { ["lr"] = JsonDocument.Parse("0.1").RootElement },
        };

        var outcome = await Execute(work);

        var artifact = Assert.Single(Assert.IsType<TaskOutcome.Succeeded>(outcome).Result.Artifacts);
        var env = (await ReadArtifact(artifact.Path)).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        Assert.Equal("run-1", env["run"]);
        Assert.Equal("train[2]", env["key"]);
        Assert.Equal(work.DispatchId, env["dispatch"]);
        Assert.Equal("3", env["attempt"]);
        Assert.Equal("x y", env["custom"]);
        Assert.Equal("eu", JsonDocument.Parse(env["item"]).RootElement.GetProperty("region").GetString());
        Assert.Equal(0.1, JsonDocument.Parse(env["inputs"]).RootElement.GetProperty("lr").GetDouble());
        Assert.Equal(Path.Combine(WorkDir, "out"), env["out"]);
        Assert.Equal(WorkDir, env["cwd"]);
    }

    [Fact]
    public async Task ExecuteAsync_ArgumentsWithShellSyntax_ArePassedLiterallyNotThroughAShell()
    {
        var work = Work(["/bin/echo", "$HOME; touch pwned", "a  b", "*"]);

        var outcome = await Execute(work);

        Assert.IsType<TaskOutcome.Succeeded>(outcome);
        Assert.Contains("$HOME; touch pwned a  b *", _log);
        Assert.False(File.Exists(Path.Combine(WorkDir, "pwned")));
    }

    [Fact]
    public async Task ExecuteAsync_UpstreamArtifacts_AreStagedInTheInputFolder()
    {
        await PutArtifact("runs/run-1/prep/d1/data.csv", "a,b\n1,2\n");
        await PutArtifact("runs/run-1/shard[0]/d2/part.txt", "zero");
        await PutArtifact("runs/run-1/shard[1]/d3/part.txt", "one");
        var script = WriteScript("""
            set -e
            cat "$TRAINYARD_INPUT_DIR/prep/data.csv" "$TRAINYARD_INPUT_DIR/shard/0/part.txt" "$TRAINYARD_INPUT_DIR/shard/1/part.txt" > "$TRAINYARD_OUTPUT_DIR/all.txt"
            """);
        var work = Work(["/bin/sh", script]) with
        {
            UpstreamArtifacts = new Dictionary<string, IReadOnlyList<ArtifactRef>>
            {
                ["prep"] = [new ArtifactRef("data.csv", "runs/run-1/prep/d1/data.csv", "", 8)],
                ["shard"] = [new ArtifactRef("part.txt", "runs/run-1/shard[0]/d2/part.txt", "", 4), new ArtifactRef("part.txt", "runs/run-1/shard[1]/d3/part.txt", "", 3)],
            },
        };

        var outcome = await Execute(work);

        var artifact = Assert.Single(Assert.IsType<TaskOutcome.Succeeded>(outcome).Result.Artifacts);
        Assert.Equal("a,b\n1,2\nzeroone", await ReadArtifact(artifact.Path));
    }

    [Fact]
    public async Task ExecuteAsync_MissingUpstreamArtifact_FailsNonRetryableNamingIt()
    {
        var work = Work(["/bin/true"]) with
        {
            UpstreamArtifacts = new Dictionary<string, IReadOnlyList<ArtifactRef>> { ["prep"] = [new ArtifactRef("gone.csv", "runs/run-0/prep/d/gone.csv", "", 1)] },
        };

        var failed = Assert.IsType<TaskOutcome.Failed>(await Execute(work));

        Assert.False(failed.Retryable);
        Assert.Contains("'runs/run-0/prep/d/gone.csv'", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExecuteAsync_NonZeroExit_FailsWithExitCodeAndLastStderrLines()
    {
        var script = WriteScript("""
            for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do echo "err line $i" >&2; done
            exit 7
            """);

        var outcome = await Execute(Work(["/bin/sh", script]));

        var failed = Assert.IsType<TaskOutcome.Failed>(outcome);
        Assert.Equal(7, failed.ExitCode);
        Assert.True(failed.Retryable);
        Assert.Contains("exited with code 7", failed.Error, StringComparison.Ordinal);
        Assert.Contains("err line 25", failed.Error, StringComparison.Ordinal);
        Assert.Contains("err line 6", failed.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("err line 5\n", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExecuteAsync_MissingExecutable_FailsNonRetryableNamingTheCommand()
    {
        var outcome = await Execute(Work(["no-such-tool-trainyard", "--x"]));

        var failed = Assert.IsType<TaskOutcome.Failed>(outcome);
        Assert.False(failed.Retryable);
        Assert.Contains("'no-such-tool-trainyard'", failed.Error, StringComparison.Ordinal);
        Assert.Contains("PATH", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExecuteAsync_EmptyCommand_FailsNonRetryable()
    {
        var failed = Assert.IsType<TaskOutcome.Failed>(await Execute(Work([])));

        Assert.False(failed.Retryable);
        Assert.Contains("run.command", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExecuteAsync_MalformedOutputsJson_FailsWithAClearMessage()
    {
        var script = WriteScript("""printf '{"a": 1,' > "$TRAINYARD_OUTPUT_DIR/outputs.json" """);

        var failed = Assert.IsType<TaskOutcome.Failed>(await Execute(Work(["/bin/sh", script])));

        Assert.False(failed.Retryable);
        Assert.Contains("outputs.json is not valid JSON", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExecuteAsync_OutputFileNamedLikeTheTaskLog_FailsInsteadOfBeingOverwritten()
    {
        var script = WriteScript("""echo mine > "$TRAINYARD_OUTPUT_DIR/log.txt" """);

        var failed = Assert.IsType<TaskOutcome.Failed>(await Execute(Work(["/bin/sh", script])));

        Assert.False(failed.Retryable);
        Assert.Contains("'log.txt'", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExecuteAsync_OutputsJsonNotAnObject_Fails()
    {
        var script = WriteScript("""printf '[1,2]' > "$TRAINYARD_OUTPUT_DIR/outputs.json" """);

        var failed = Assert.IsType<TaskOutcome.Failed>(await Execute(Work(["/bin/sh", script])));

        Assert.Contains("must hold a JSON object", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExecuteAsync_OversizedOutputsJson_FailsNamingTheLimit()
    {
        var script = WriteScript("""
            printf '{"big": "%s"}' "$(head -c 2000 /dev/zero | tr '\0' x)" > "$TRAINYARD_OUTPUT_DIR/outputs.json"
            """);
        var executor = new LocalProcessExecutor(new LocalExecutorOptions { MaxOutputsJsonBytes = 1000 });

        var failed = Assert.IsType<TaskOutcome.Failed>(await Execute(Work(["/bin/sh", script]), executor));

        Assert.Contains("1000-byte limit", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExecuteAsync_StreamsOutputWhileTheProcessRuns()
    {
        var gate = Path.Combine(_root, "gate");
        var script = WriteScript($"""
            echo first-line
            while [ ! -f '{gate}' ]; do sleep 0.05; done
            echo second-line
            """);
        using var cts = new CancellationTokenSource(TestTimeout);

        var running = Execute(Work(["/bin/sh", script]), cancellationToken: cts.Token);
        // The first line must reach the log while the process is still blocked on the gate: not buffered to the end.
        while (!_log.Contains("first-line"))
        {
            Assert.False(running.IsCompleted, "the process ended before its first line reached the log");
            await Task.Delay(20, cts.Token);
        }

        Assert.DoesNotContain("second-line", _log);
        await File.WriteAllTextAsync(gate, "", cts.Token);
        Assert.IsType<TaskOutcome.Succeeded>(await running);
        Assert.Contains("second-line", _log);
    }

    [Fact]
    public async Task ExecuteAsync_Timeout_KillsTheWholeProcessTree()
    {
        var pids = Path.Combine(_root, "pids");
        var script = WriteGrandchildScript(pids);
        var work = Work(["/bin/sh", script]) with { Timeout = TimeSpan.FromSeconds(1) };

        var outcome = await Execute(work);

        var failed = Assert.IsType<TaskOutcome.Failed>(outcome);
        Assert.Contains("timed out after 1s", failed.Error, StringComparison.Ordinal);
        await AssertGrandchildGone(pids);
    }

    [Fact]
    public async Task ExecuteAsync_Cancelled_KillsTheWholeProcessTreeAndThrows()
    {
        var pids = Path.Combine(_root, "pids");
        var script = WriteGrandchildScript(pids);
        using var cts = new CancellationTokenSource(TestTimeout);

        var running = Execute(Work(["/bin/sh", script]), cancellationToken: cts.Token);
        await WaitForFile(pids);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        await AssertGrandchildGone(pids);
    }

    [Fact]
    public async Task ExecuteAsync_SameDispatchTwice_StartsFromCleanFoldersAndOverwritesOutputs()
    {
        var script = WriteScript("""
            if [ -f "$TRAINYARD_OUTPUT_DIR/stale.txt" ]; then echo "stale output survived" >&2; exit 1; fi
            echo "$TRAINYARD_ATTEMPT" > "$TRAINYARD_OUTPUT_DIR/result.txt"
            """);
        var work = Work(["/bin/sh", script]);
        Assert.IsType<TaskOutcome.Succeeded>(await Execute(work));
        await File.WriteAllTextAsync(Path.Combine(WorkDir, "out", "stale.txt"), "left by a killed run");

        var again = Assert.IsType<TaskOutcome.Succeeded>(await Execute(work));

        Assert.Equal("result.txt", Assert.Single(again.Result.Artifacts).Name);
    }

    [Fact]
    public async Task ExecuteAsync_SymlinksInTheOutputFolder_AreNotFollowedNorUploaded()
    {
        var secret = Path.Combine(_root, "secret.txt");
        await File.WriteAllTextAsync(secret, "host secret");
        Directory.CreateDirectory(Path.Combine(_root, "outside", "deep"));
        await File.WriteAllTextAsync(Path.Combine(_root, "outside", "deep", "x.txt"), "outside file");
        var script = WriteScript($"""
            set -e
            echo kept > "$TRAINYARD_OUTPUT_DIR/real.txt"
            ln -s '{secret}' "$TRAINYARD_OUTPUT_DIR/passwd"
            ln -s '{Path.Combine(_root, "outside")}' "$TRAINYARD_OUTPUT_DIR/dir"
            mkdir "$TRAINYARD_OUTPUT_DIR/sub"
            ln -s "$TRAINYARD_OUTPUT_DIR" "$TRAINYARD_OUTPUT_DIR/sub/loop"
            ln -s real.txt "$TRAINYARD_OUTPUT_DIR/inside-link"
            ln -s '{secret}' "$TRAINYARD_OUTPUT_DIR/outputs.json"
            """);

        var outcome = await Execute(Work(["/bin/sh", script]));

        var result = Assert.IsType<TaskOutcome.Succeeded>(outcome).Result;
        Assert.Equal("real.txt", Assert.Single(result.Artifacts).Name);
        Assert.Empty(result.Outputs);
        Assert.Contains(_log, l => l.Contains("symbolic link", StringComparison.Ordinal) && l.Contains("passwd", StringComparison.Ordinal));
        Assert.Contains(_log, l => l.Contains("symbolic link", StringComparison.Ordinal) && l.Contains("sub/loop", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ExecuteAsync_FifoLeftInTheOutputFolder_DoesNotHangTheCollection()
    {
        var script = WriteScript("""
            set -e
            mkfifo "$TRAINYARD_OUTPUT_DIR/pipe"
            : > "$TRAINYARD_OUTPUT_DIR/empty.txt"
            echo data > "$TRAINYARD_OUTPUT_DIR/data.txt"
            """);

        // Bounded from outside: a blocked open(2) does not see the cancellation token.
        var outcome = await Execute(Work(["/bin/sh", script])).WaitAsync(TestTimeout);

        var result = Assert.IsType<TaskOutcome.Succeeded>(outcome).Result;
        Assert.Equal(["data.txt", "empty.txt", "pipe"], result.Artifacts.Select(a => a.Name));
        Assert.Equal(0, result.Artifacts.Single(a => a.Name == "pipe").Size);
    }

    private string WorkDir => Path.Combine(_root, "work");

    private static TaskWorkItem Work(IReadOnlyList<string> command) => new()
    {
        RunId = "run-1",
        TaskKey = "train[2]",
        StepId = "train",
        Attempt = 1,
        DispatchId = "d-" + string.Join("-", command.Select(c => c.Length)).GetHashCode(StringComparison.Ordinal).ToString("x", CultureInfo.InvariantCulture),
        PipelineName = "p",
        PipelineHash = "h",
        Executor = ExecutorKind.Local,
        Command = command,
    };

    private async Task<TaskOutcome> Execute(TaskWorkItem work, LocalProcessExecutor? executor = null, CancellationToken cancellationToken = default)
    {
        using var timeout = new CancellationTokenSource(TestTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        Directory.CreateDirectory(WorkDir);
        return await (executor ?? new LocalProcessExecutor()).ExecuteAsync(Context(work, _artifacts, WorkDir, _log), linked.Token);
    }

    /// <summary>An execution context whose log lines go to <paramref name="log"/>.</summary>
    internal static TaskExecutionContext Context(TaskWorkItem work, IArtifactStore artifacts, string workDir, ConcurrentQueue<string> log) => new()
    {
        Work = work,
        Artifacts = artifacts,
        WorkingDirectory = workDir,
        Log = (line, _) =>
        {
            log.Enqueue(line);
            return Task.CompletedTask;
        },
    };

    private string WriteScript(string body)
    {
        var path = Path.Combine(_root, $"script-{Guid.NewGuid():n}.sh");
        File.WriteAllText(path, body.ReplaceLineEndings("\n") + "\n");
        return path;
    }

    /// <summary>A script whose child (`sleep 300`) would outlive it unless the whole tree is killed; writes the child's pid.</summary>
    private string WriteGrandchildScript(string pidFile) => WriteScript($"""
        sleep 300 &
        echo $! > '{pidFile}'
        wait
        """);

    private async Task PutArtifact(string path, string text)
    {
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text));
        await _artifacts.PutAsync(path, stream, CancellationToken.None);
    }

    private async Task<string> ReadArtifact(string path)
    {
        await using var stream = await _artifacts.OpenReadAsync(path, CancellationToken.None);
        Assert.NotNull(stream);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    private static async Task WaitForFile(string path)
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        while (!File.Exists(path) || new FileInfo(path).Length == 0)
        {
            await Task.Delay(20, cts.Token);
        }
    }

    private async Task AssertGrandchildGone(string pidFile)
    {
        await WaitForFile(pidFile);
        var pid = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim(), CultureInfo.InvariantCulture);
        _spawnedPids.Add(pid);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        // The grandchild is re-parented once its parent dies; it counts as gone when it no longer runs (absent or zombie).
        while (IsRunning(pid))
        {
            await Task.Delay(50, cts.Token);
        }
    }

    private static bool IsRunning(int pid)
    {
        var stat = $"/proc/{pid}/stat";
        if (!File.Exists(stat))
        {
            return false;
        }

        var text = File.ReadAllText(stat);
        var state = text[(text.LastIndexOf(')') + 2)..].Split(' ')[0];
        return state is not ("Z" or "X");
    }
}
