using Trainyard.Core.Engine;
using Xunit.Abstractions;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Cli.Tests;

/// <summary>Several `trainyard worker` processes and a starter share one SQLite store.</summary>
public sealed class ConcurrencyTests(ITestOutputHelper output) : IDisposable
{
    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task FourWorkerProcessesAndAStarter_Complete200TaskFanOut_NoTaskRunTwiceNoCompletionLost()
    {
        const int Items = 200;
        var store = Path.Combine(_cli.WorkingDirectory, "store");
        var log = Path.Combine(_cli.WorkingDirectory, "exec.log");
        File.WriteAllText(log, "");
        var items = string.Join(", ", Enumerable.Range(0, Items));
        // Each task appends one line (O_APPEND, one write: lines never interleave) naming itself and the worker
        // process it ran under ($PPID of the shell is the trainyard process that started it).
        var pipeline = _cli.WriteFile("fanout.yaml", $$"""
            name: fanout
            steps:
              - id: fan
                foreach: [{{items}}]
                run:
                  command: [sh, -c, 'echo "$TRAINYARD_TASK_KEY $TRAINYARD_DISPATCH_ID $PPID" >> "$0"', '{{log}}']
              - id: join
                needs: [fan]
                uses: echo
                with: { message: joined }
            """);

        // The store must exist before workers open it concurrently with the starter; `runs` creates it.
        Assert.Equal(0, (await _cli.RunAsync(["runs", "--store", store])).ExitCode);
        var workers = Enumerable.Range(0, 4).Select(_ => _cli.Start(["worker", "--store", store, "--workers", "2", "--lease", "10s"])).ToList();
        var started = await _cli.RunAsync(["run", pipeline, "--store", store, "--workers", "1", "--lease", "10s", "--json"], TimeSpan.FromMinutes(5));
        foreach (var worker in workers)
        {
            worker.Terminate();
        }

        var stopped = await Task.WhenAll(workers.Select(w => w.WaitAsync(TimeSpan.FromSeconds(60))));

        Assert.True(started.ExitCode == 0, started.ToString());
        Assert.All(stopped, s => Assert.True(s.ExitCode == 0, "worker did not stop gracefully on SIGTERM:\n" + s));
        var lines = File.ReadAllLines(log).Select(l => l.Split(' ')).ToList();
        var byTask = lines.GroupBy(l => l[0]).ToList();
        Assert.Equal(Items, byTask.Count);
        Assert.All(byTask, g => Assert.True(g.Count() == 1, $"{g.Key} ran {g.Count()} times"));

        await using var inspector = StoreInspector.Open(store);
        var runId = Assert.Single(await inspector.RunsAsync()).RunId;
        var state = await inspector.SnapshotAsync(runId);
        var journal = await inspector.JournalAsync(runId);
        Assert.Equal(RunStatus.Succeeded, state.Status);
        var fanTasks = state.Tasks.Values.Where(t => t.StepId == "fan" && t.ItemIndex is not null).ToList();
        Assert.Equal(Items, fanTasks.Count);
        Assert.All(fanTasks, t => Assert.Equal(TaskStatus.Succeeded, t.Status));
        var successes = journal.OfType<TaskSucceeded>().Where(e => e.TaskKey.StartsWith("fan[", StringComparison.Ordinal)).ToList();
        Assert.Equal(Items, successes.Count);
        Assert.Equal(Items, successes.Select(s => s.TaskKey).Distinct().Count());
        foreach (var line in lines)
        {
            Assert.Equal(state.Tasks[line[0]].DispatchId, line[1]);
        }

        var processes = lines.Select(l => l[2]).Distinct().Count();
        output.WriteLine($"{Items} tasks ran on {processes} processes; {journal.Count} journal events");
        Assert.True(processes >= 3, $"only {processes} processes executed tasks; the workers did not share the work");
        await inspector.AssertReplaysToSnapshotAsync(runId);
    }

    [Fact]
    public async Task RunningWorker_FinishesARunWhoseStarterWasKilledMidTask_ThroughItsRecoverySweep()
    {
        // `trainyard run` runs built-in steps inline; killed in the middle of one, it leaves the attempt pending in the
        // run's outbox and no queue message that would bring it back. A worker that was already running (its recovery
        // on start is long past) finds it with its periodic sweep and finishes the run under the same dispatch id.
        var store = Path.Combine(_cli.WorkingDirectory, "sweep-store");
        var pipeline = _cli.WriteFile("sweep.yaml", """
            name: sweep
            steps:
              - id: a
                uses: echo
                with: { message: first }
              - id: b
                needs: [a]
                uses: echo
                with: { message: second }
            """);
        Assert.Equal(0, (await _cli.RunAsync(["runs", "--store", store])).ExitCode);
        var worker = _cli.Start(["worker", "--store", store, "--workers", "2", "--lease", "1s", "--recover-every", "200ms"]);
        await CrashSafetyTests.WaitForOutput(worker, "slots;", TimeSpan.FromSeconds(60));

        var killed = await _cli.RunAsync(["run", pipeline, "--store", store, "--lease", "1s"], TimeSpan.FromMinutes(2), new Dictionary<string, string> { ["TRAINYARD_FAULT"] = "mid-task:1" });
        Assert.True(CrashSafetyTests.IsKilled(killed), killed.ToString());

        await using var inspector = StoreInspector.Open(store);
        var runId = Assert.Single(await inspector.RunsAsync()).RunId;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        RunState state;
        while ((state = await inspector.SnapshotAsync(runId)).Status == RunStatus.Running)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the worker did not finish the run within 30 s:\n{worker.Stdout}");
            await Task.Delay(100);
        }

        worker.Terminate();
        var stopped = await worker.WaitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"run finished by the worker {clock.ElapsedMilliseconds} ms after the starter was killed");
        Assert.True(stopped.ExitCode == 0, "worker did not stop gracefully on SIGTERM:\n" + stopped);
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal((TaskStatus.Succeeded, 1), (state.Tasks["a"].Status, state.Tasks["a"].Attempt));
        var journal = await inspector.JournalAsync(runId);
        Assert.Single(journal.OfType<TaskDispatched>(), d => d.TaskKey == "a");
        Assert.Equal(2, journal.OfType<TaskSucceeded>().Count());
        await inspector.AssertReplaysToSnapshotAsync(runId);
    }
}
