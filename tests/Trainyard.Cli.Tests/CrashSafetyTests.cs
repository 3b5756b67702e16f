using System.Globalization;
using Trainyard.Core.Engine;
using Xunit.Abstractions;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Cli.Tests;

/// <summary>
/// Kills `trainyard run` with SIGKILL at many points of a fan-out/fan-in pipeline, then `trainyard resume` until the
/// run completes, and checks that nothing was lost and nothing happened twice.
/// </summary>
/// <remarks>
/// <para>Each `run` step is `step.sh`, which appends `exec KEY DISPATCH` to exec.log when it starts, writes its
/// output, applies its one real side effect keyed by its dispatch id (docs/architecture.md, invariant 2: under an exclusive flock on
/// effects.log it appends `effect KEY DISPATCH` unless that dispatch id is already there; check and append happen under
/// the lock and the append is one short write, so a kill at any instant leaves the whole effect or none), and appends
/// `done KEY DISPATCH` to exec.log when it ends.</para>
/// <para>What a passing scenario proves:</para>
/// <list type="number">
/// <item>No lost run, no lost result: the run ends Succeeded, every task is Succeeded in the stored snapshot, and the
/// journal holds exactly one TaskSucceeded per executed task (duplicate deliveries changed nothing).</item>
/// <item>No phantom result: the dispatch id of every recorded success has a `done` line, i.e. the step really ran to
/// its end under that id.</item>
/// <item>No second dispatch: every exec/done line of a task carries that one dispatch id. Steps have no retry policy,
/// so a crash must never turn into a new attempt; a task that is executed again after a crash (the work message was
/// redelivered, or a killed worker's claim expired) runs under the same dispatch id. That is exactly what makes
/// dispatch-id-keyed side effects safe, which effects.log then shows: one `effect` line per task, none twice.</item>
/// <item>Executions themselves are at-least-once, not exactly-once: a step killed (or orphaned) mid-way, or one that
/// finished just before the process died, can run again. The test counts those re-executions and reports them.</item>
/// <item>The journal replays through the decider to the stored snapshot (checked by <see cref="StoreInspector"/>).</item>
/// </list>
/// </remarks>
public sealed class CrashSafetyTests(ITestOutputHelper output) : IDisposable
{
    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    public static TheoryData<string, int> FaultPoints()
    {
        var data = new TheoryData<string, int>();
        foreach (var n in new[] { 1, 2, 3, 5, 8 })
        {
            data.Add("after-commit", n);
        }

        foreach (var n in new[] { 1, 2, 3 })
        {
            data.Add("after-dispatch", n);
        }

        foreach (var n in new[] { 1, 2, 3 })
        {
            data.Add("mid-task", n);
        }

        foreach (var n in new[] { 1, 2, 4, 6 })
        {
            data.Add("before-complete", n);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(FaultPoints))]
    public async Task KilledAtFaultPoint_ResumeCompletesEveryTaskOnce(string point, int hit)
    {
        var scenario = new CrashScenario(_cli, $"{point}-{hit}");
        var first = await scenario.RunAsync(new Dictionary<string, string> { ["TRAINYARD_FAULT"] = $"{point}:{hit}" });

        Assert.True(IsKilled(first), $"the fault {point}:{hit} did not kill `trainyard run`:\n{first}");
        await scenario.ResumeUntilDoneAndVerifyAsync(output, killFirstResumeAfter: null);
    }

    [Fact]
    public async Task KilledAtRandomMoments_ResumeCompletesEveryTaskOnce()
    {
        // Seeded so a failure can be reproduced. The delay counts from the moment the run exists (the CLI prints
        // `run ID started` right after the RunStarted commit) so the kills land during fan-out, fan-in and the end.
        var random = new Random(20261123);
        var kills = 0;
        for (var i = 0; i < 8; i++)
        {
            var scenario = new CrashScenario(_cli, $"random-{i}");
            var delay = TimeSpan.FromMilliseconds(random.Next(0, 1500));
            var child = scenario.Start(null);
            await WaitForOutput(child, " started", TimeSpan.FromSeconds(60));
            await Task.Delay(delay);
            var wasRunning = !child.Process.HasExited;
            await child.KillAsync();
            kills += wasRunning ? 1 : 0;
            output.WriteLine($"random-{i}: SIGKILL {delay.TotalMilliseconds}ms after the run started (process {(wasRunning ? "was running" : "had already exited")})");

            // Every other scenario also kills the first resume, to crash a recovery half-way.
            var resumeKill = i % 2 == 1 ? TimeSpan.FromMilliseconds(random.Next(300, 2000)) : (TimeSpan?)null;
            await scenario.ResumeUntilDoneAndVerifyAsync(output, resumeKill);
        }

        Assert.True(kills >= 4, $"only {kills} of 8 random kills hit a running process; the pipeline finishes too fast for the delays");
    }

    internal static async Task WaitForOutput(CliChild child, string text, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!child.Stdout.Contains(text, StringComparison.Ordinal))
        {
            Assert.False(child.Process.HasExited && !child.Stdout.Contains(text, StringComparison.Ordinal), $"trainyard run exited before printing '{text}':\n{child.Stdout}");
            await Task.Delay(10, cts.Token);
        }
    }

    internal static bool IsKilled(CliResult result) => result.ExitCode is 137 or -9;
}

/// <summary>One pipeline run in its own store (a SQLite folder, or the given `--store`, e.g. an Azurite task hub), with its own side-effect logs.</summary>
internal sealed class CrashScenario
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(120);
    private const string Lease = "2s";
    private readonly TrainyardProcesses _cli;
    private readonly string _name;
    private readonly string _store;
    private readonly string _execLog;
    private readonly string _effectsLog;
    private readonly string _pipeline;

    public CrashScenario(TrainyardProcesses cli, string name)
    {
        _cli = cli;
        _name = name;
        var dir = Path.Combine(cli.WorkingDirectory, name);
        Directory.CreateDirectory(dir);
        _store = Path.Combine(dir, "store");
        _execLog = Path.Combine(dir, "exec.log");
        _effectsLog = Path.Combine(dir, "effects.log");
        File.WriteAllText(_execLog, "");
        File.WriteAllText(_effectsLog, "");
        var step = cli.WriteFile($"{name}/step.sh", """
            set -e
            echo "exec $TRAINYARD_TASK_KEY $TRAINYARD_DISPATCH_ID" >> "$1"
            sleep 0.3
            echo "$TRAINYARD_TASK_KEY" > "$TRAINYARD_OUTPUT_DIR/result.txt"
            flock "$2" sh -c 'grep -q " $1$" "$0" || echo "effect $2 $1" >> "$0"' "$2" "$TRAINYARD_DISPATCH_ID" "$TRAINYARD_TASK_KEY"
            echo "done $TRAINYARD_TASK_KEY $TRAINYARD_DISPATCH_ID" >> "$1"
            """);
        var command = $"[sh, '{step}', '{_execLog}', '{_effectsLog}']";
        _pipeline = cli.WriteFile($"{name}/pipeline.yaml", $$"""
            name: crash
            steps:
              - id: prep
                run: { command: {{command}} }
              - id: hello
                needs: [prep]
                uses: echo
                with: { message: hi }
              - id: nap
                needs: [prep]
                foreach: [1, 2]
                uses: sleep
                with: { duration: 100ms }
              - id: shard
                needs: [prep]
                foreach: [0, 1, 2, 3, 4]
                run: { command: {{command}} }
              - id: join
                needs: [shard, hello, nap]
                run: { command: {{command}} }
            """);
    }

    public CliChild Start(IReadOnlyDictionary<string, string>? env)
        => _cli.Start(["run", _pipeline, "--store", _store, "--lease", Lease, "--workers", "3"], env);

    public Task<CliResult> RunAsync(IReadOnlyDictionary<string, string>? env) => Start(env).WaitAsync(CommandTimeout);

    public async Task ResumeUntilDoneAndVerifyAsync(ITestOutputHelper output, TimeSpan? killFirstResumeAfter)
    {
        string? runId;
        await using (var inspector = StoreInspector.Open(_store))
        {
            runId = (await inspector.RunsAsync()).SingleOrDefault()?.RunId;
        }

        if (runId is null)
        {
            // Killed before the run's first commit: the run never existed, and so no step may have run.
            Assert.Equal("", File.ReadAllText(_execLog));
            output.WriteLine($"{_name}: killed before the run was created; nothing ran");
            return;
        }

        var resumes = 0;
        var resumeKills = 0;
        CliResult? last = null;
        for (; resumes < 6; resumes++)
        {
            var child = _cli.Start(["resume", runId, "--store", _store, "--lease", Lease, "--workers", "3"]);
            if (killFirstResumeAfter is { } after && resumes == 0)
            {
                await Task.Delay(after);
                if (!child.Process.HasExited)
                {
                    resumeKills++;
                }

                await child.KillAsync();
                output.WriteLine($"{_name}: resume 1 killed {after.TotalMilliseconds}ms after it started");
                continue;
            }

            last = await child.WaitAsync(CommandTimeout);
            if (last.ExitCode == 0)
            {
                break;
            }

            output.WriteLine($"{_name}: resume {resumes + 1} ended with {last}");

            Assert.False(last.ExitCode == 1, $"{_name}: resume reports the run failed:\n{last}");
        }

        Assert.True(last is { ExitCode: 0 }, $"{_name}: the run did not complete after {resumes} resumes:\n{last}");
        await VerifyAsync(runId, output, resumes, resumeKills);
    }

    private async Task VerifyAsync(string runId, ITestOutputHelper output, int resumes, int resumeKills)
    {
        await using var inspector = StoreInspector.Open(_store);
        var state = await inspector.SnapshotAsync(runId);
        var journal = await inspector.JournalAsync(runId);

        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.All(state.Tasks.Values, t => Assert.Equal(TaskStatus.Succeeded, t.Status));

        var executed = state.Tasks.Values.Where(t => t.DispatchId is not null).ToList();
        Assert.Equal(10, executed.Count); // prep, hello, nap[0..1], shard[0..4], join; foreach parents have no dispatch
        var successes = journal.OfType<TaskSucceeded>().GroupBy(e => e.TaskKey).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var task in executed)
        {
            var recorded = Assert.Single(successes[task.TaskKey]);
            Assert.Equal(task.DispatchId, recorded.DispatchId);
        }

        var lines = File.ReadAllLines(_execLog).Select(l => l.Split(' ')).ToList();
        var processTasks = executed.Where(t => t.StepId is "prep" or "shard" or "join").ToList();
        foreach (var task in processTasks)
        {
            var mine = lines.Where(l => l[1] == task.TaskKey).ToList();
            Assert.All(mine, l => Assert.Equal(task.DispatchId, l[2]));
            Assert.Contains(mine, l => l[0] == "done");
        }

        var effects = File.ReadAllLines(_effectsLog).Select(l => l.Split(' ')).ToList();
        Assert.Equal(effects.Count, effects.Select(e => e[2]).Distinct().Count());
        Assert.Equal(
            processTasks.Select(t => $"{t.TaskKey} {t.DispatchId}").Order(StringComparer.Ordinal),
            effects.Select(e => $"{e[1]} {e[2]}").Order(StringComparer.Ordinal));

        await inspector.AssertReplaysToSnapshotAsync(runId);
        var reExecuted = lines.Where(l => l[0] == "exec").GroupBy(l => l[2]).Count(g => g.Count() > 1);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{_name}: run {runId} completed after {resumes + 1} resume(s) ({resumeKills} killed while running); {journal.Count} journal events; {reExecuted} dispatch id(s) executed more than once; replay ok"));
    }
}
