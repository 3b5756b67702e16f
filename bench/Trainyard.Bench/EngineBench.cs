using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Runtime;
using Trainyard.Runtime.Contracts;
using Trainyard.Runtime.InMemory;
using Trainyard.Storage.Sqlite;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.Bench;

/// <summary>
/// Orchestration overhead with no-op (echo) built-in tasks: `engine [scenario|all] [memory|sqlite|all] [--runs N]`.
/// CPU ms/task is the process CPU time per task (all threads), which stays meaningful on a busy machine.
/// Scenarios: chain-100, fanout-1000 (start, 1,000 parallel tasks, join), runs-200x5 (200 concurrent runs of a
/// 5-task diamond). Prints the median of N timed runs after one warm-up, in ms/task and tasks/s, and the managed heap
/// after each run completes (it should stay flat).
/// </summary>
internal static class EngineBench
{
    private static readonly string[] Scenarios = ["chain-100", "fanout-1000", "runs-200x5"];
    // The embedded engine's stores. Runs in Azure are Durable Functions orchestrations, not rows in one of these, so they are not measured here.
    private static readonly string[] Backends = ["memory", "sqlite"];

    public static async Task<int> RunAsync(string[] args)
    {
        var scenario = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "all";
        var backend = args.Length > 1 && !args[1].StartsWith('-') ? args[1] : "all";
        var runs = args.SkipWhile(a => a != "--runs").Skip(1).Select(int.Parse).FirstOrDefault(3);
        var scenarios = scenario == "all" ? Scenarios : [scenario];
        var backends = backend == "all" ? Backends : [backend];
        if (scenarios.Except(Scenarios).Any() || backends.Except(Backends).Any())
        {
            Console.Error.WriteLine($"usage: engine [{string.Join('|', Scenarios)}|all] [{string.Join('|', Backends)}|all] [--runs N]");
            return 2;
        }

        Console.WriteLine($"engine bench: {Environment.ProcessorCount} cores, median of {runs} (+1 warm-up), no-op echo tasks");
        Console.WriteLine($"{"scenario",-12} {"backend",-7} {"tasks",6} {"median ms",10} {"ms/task",8} {"tasks/s",8} {"cpu ms/task",11} {"heap MB after each run",24}");
        foreach (var s in scenarios)
        {
            foreach (var b in backends)
            {
                var times = new List<double>();
                var cpus = new List<double>();
                var heaps = new List<double>();
                var tasks = 0;
                for (var i = 0; i <= runs; i++)
                {
                    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                    var (ms, n) = await RunScenarioAsync(s, b);
                    var cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    GC.Collect();
                    if (i == 0)
                    {
                        continue;
                    }

                    times.Add(ms);
                    cpus.Add(cpuMs / n);
                    tasks = n;
                    heaps.Add(GC.GetTotalMemory(forceFullCollection: true) / 1048576.0);
                }

                times.Sort();
                cpus.Sort();
                var median = times[times.Count / 2];
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{s,-12} {b,-7} {tasks,6} {median,10:F1} {median / tasks,8:F3} {tasks / (median / 1000),8:F0} {cpus[cpus.Count / 2],11:F3} {string.Join(" ", heaps.Select(h => h.ToString("F1", CultureInfo.InvariantCulture))),24}"));
            }
        }

        return 0;
    }

    internal static async Task<(double Ms, int Tasks)> RunScenarioAsync(string scenario, string backendName)
    {
        var dir = Path.Combine(Path.GetTempPath(), "trainyard-bench", Guid.NewGuid().ToString("N"));
        IBackend backend = backendName switch
        {
            "memory" => new InMemoryBackend(),
            _ => SqliteBackend.Open(Path.Combine(dir, "trainyard.db")),
        };
        try
        {
            // TRAINYARD_BENCH_NO_CLAIMS=1 measures the cost of the per-dispatch claim records (2 store writes per task).
            var claims = Environment.GetEnvironmentVariable("TRAINYARD_BENCH_NO_CLAIMS") != "1";
            // TRAINYARD_BENCH_QUEUED=1 sends every attempt through the work queue (RunEngineOptions.InlineBuiltins off),
            // the way a Function App host runs them.
            var inline = Environment.GetEnvironmentVariable("TRAINYARD_BENCH_QUEUED") != "1";
            var engine = new RunEngine(backend, new RunEngineOptions { WorkRoot = Path.Combine(dir, "work"), ClaimDispatches = claims, InlineBuiltins = inline });
            var workerOptions = new LocalWorkerOptions { Workers = Math.Max(4, Environment.ProcessorCount * 2), RecoverOnStart = false };
            var worker = new LocalWorker(engine, workerOptions);
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            var sw = Stopwatch.StartNew();
            int tasks;
            switch (scenario)
            {
                case "chain-100":
                    await RunOneAsync(engine, worker, Chain(100), timeout.Token);
                    tasks = 100;
                    break;
                case "fanout-1000":
                    await RunOneAsync(engine, worker, FanOut(1000), timeout.Token);
                    tasks = 1002;
                    break;
                default:
                    await RunManyAsync(engine, worker, 200, timeout.Token);
                    tasks = 1000;
                    break;
            }

            return (sw.Elapsed.TotalMilliseconds, tasks);
        }
        finally
        {
            await backend.DisposeAsync();
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private static async Task RunOneAsync(RunEngine engine, LocalWorker worker, StartRunRequest request, CancellationToken ct)
    {
        var runId = await engine.StartRunAsync(request, ct);
        var state = await worker.RunUntilCompleteAsync(runId, ct);
        if (state.Status != RunStatus.Succeeded)
        {
            throw new InvalidOperationException($"bench run {runId} ended {state.Status}: {state.Error}");
        }
    }

    private static async Task RunManyAsync(RunEngine engine, LocalWorker worker, int count, CancellationToken ct)
    {
        var done = 0;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnFinished(NotifyRunFinished n)
        {
            if (n.Status != RunStatus.Succeeded)
            {
                all.TrySetException(new InvalidOperationException($"bench run {n.RunId} ended {n.Status}"));
            }
            else if (Interlocked.Increment(ref done) == count)
            {
                all.TrySetResult();
            }
        }

        engine.RunFinished += OnFinished;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var loop = worker.RunAsync(stop.Token);
        try
        {
            var request = Diamond();
            for (var i = 0; i < count; i++)
            {
                await engine.StartRunAsync(request, ct);
            }

            await all.Task.WaitAsync(ct);
        }
        finally
        {
            engine.RunFinished -= OnFinished;
            await stop.CancelAsync();
            try
            {
                await loop;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // A worker stopped mid-request; the reason for stopping (if any) is the exception already in flight.
            }
        }
    }

    private static StepSpec Echo(string id, params string[] needs) => new() { Id = id, Uses = "echo", Needs = needs };

    private static StartRunRequest Request(string name, List<StepSpec> steps)
        => new() { Spec = new PipelineSpec { Name = name, Steps = steps }, SpecText = $"bench {name} " + JsonSerializer.Serialize(steps.Select(s => s.Id)) };

    private static StartRunRequest Chain(int n)
        => Request("chain", [.. Enumerable.Range(0, n).Select(i => i == 0 ? Echo("s0") : Echo($"s{i}", $"s{i - 1}"))]);

    private static StartRunRequest FanOut(int n)
    {
        var mids = Enumerable.Range(0, n).Select(i => $"t{i}").ToArray();
        return Request("fanout", [Echo("start"), .. mids.Select(m => Echo(m, "start")), Echo("join", mids)]);
    }

    private static StartRunRequest Diamond()
        => Request("diamond", [Echo("a"), Echo("b", "a"), Echo("c", "a"), Echo("d", "a"), Echo("e", "b", "c", "d")]);
}
