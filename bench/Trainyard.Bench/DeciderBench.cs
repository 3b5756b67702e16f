using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;

namespace Trainyard.Bench;

/// <summary>
/// Cost of the pure decider alone (no storage, no queues): every dispatch is answered at once with a success.
/// This is the floor under the runtime's in-memory numbers. Median of runs after one warm-up.
/// </summary>
public static class DeciderBench
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Runs every scenario and prints one line each; returns the process exit code.</summary>
    public static int Run(IReadOnlyList<string> args)
    {
        int runs = args.Count > 0 && int.TryParse(args[0], CultureInfo.InvariantCulture, out int r) ? r : 3;
        Measure("chain-100", 100, runs, () => Once(Chain(100)));
        Measure("fanout-1000 (steps)", 1002, runs, () => Once(FanOut(1000)));
        Measure("fanout-1000 (foreach)", 1002, runs, () => Once(ForeachFanOut(1000)));
        Measure("200 runs x 5 steps", 1000, runs, () =>
        {
            var spec = Chain(5);
            long bytes = 0;
            for (int i = 0; i < 200; i++)
            {
                bytes = Math.Max(bytes, Once(spec, $"run-{i}"));
            }

            return bytes;
        });
        return 0;
    }

    private static void Measure(string name, int tasks, int runs, Func<long> scenario)
    {
        scenario();
        var times = new List<double>();
        var cpu = new List<double>();
        long snapshot = 0;
        long allocated = 0;
        for (int i = 0; i < runs; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            snapshot = scenario();
            times.Add(sw.Elapsed.TotalMilliseconds);
            cpu.Add((Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds);
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }

        times.Sort();
        cpu.Sort();
        double median = times[times.Count / 2];
        double cpuMedian = cpu[cpu.Count / 2];

        // CPU time is reported beside wall time because a shared machine's load inflates the wall clock.
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"decider {name,-24} {median,9:F2} ms  {median / tasks * 1000,8:F1} us/task  {tasks / median * 1000,10:F0} tasks/s  cpu {cpuMedian,8:F1} ms  alloc {allocated / 1024.0 / 1024.0,6:F1} MiB  final snapshot {snapshot / 1024,5} KiB"));
    }

    // Drives one run to the end; returns the size of its final snapshot in bytes.
    private static long Once(PipelineSpec spec, string runId = "run-1")
    {
        var d = Decider.Decide(spec, null, new RunStarted { EventId = "start", At = T0, RunId = runId, PipelineName = spec.Name, PipelineHash = spec.ContentHash });
        var state = d.State;
        var pending = new Queue<TaskWorkItem>(d.Commands.OfType<DispatchTask>().Select(c => c.Work));
        int n = 0;
        while (pending.TryDequeue(out var w))
        {
            d = Decider.Decide(spec, state, new TaskSucceeded(w.TaskKey, w.DispatchId, new TaskResult()) { EventId = $"e{n++}", At = T0 });
            state = d.State;
            foreach (var c in d.Commands.OfType<DispatchTask>())
            {
                pending.Enqueue(c.Work);
            }
        }

        if (state.Status != RunStatus.Succeeded)
        {
            throw new InvalidOperationException($"bench run ended {state.Status}: {state.Error}");
        }

        return JsonSerializer.SerializeToUtf8Bytes(state, EngineJson.Options).LongLength;
    }

    private static StepSpec Step(string id, params string[] needs) => new() { Id = id, Uses = "echo", Needs = needs };

    private static PipelineSpec Spec(string name, IReadOnlyList<StepSpec> steps) => new() { Name = name, ContentHash = name, Steps = steps };

    private static PipelineSpec Chain(int n)
        => Spec($"chain-{n}", [.. Enumerable.Range(0, n).Select(i => i == 0 ? Step("s0") : Step($"s{i}", $"s{i - 1}"))]);

    private static PipelineSpec FanOut(int n)
        => Spec($"fanout-{n}", [Step("start"), .. Enumerable.Range(0, n).Select(i => Step($"w{i}", "start")), Step("end", [.. Enumerable.Range(0, n).Select(i => $"w{i}")])]);

    private static PipelineSpec ForeachFanOut(int n)
        => Spec($"foreach-{n}",
        [
            Step("start"),
            new StepSpec { Id = "work", Uses = "echo", Needs = ["start"], Foreach = new ForeachSpec { Items = JsonSerializer.SerializeToElement(Enumerable.Range(0, n)) } },
            Step("end", "work"),
        ]);
}
