using System.Diagnostics;
using System.Globalization;
using System.Text;
using Trainyard.Core.Spec;
using Trainyard.Core.Validation;

namespace Trainyard.Bench;

/// <summary>
/// Spec language costs on a generated 10,000-step pipeline (the step limit): loading (YAML parse + shape + semantic
/// validation) and semantic validation alone. Median of runs after one warm-up; time and bytes allocated per run.
/// </summary>
public static class SpecBench
{
    /// <summary>`spec [validate-10k|load-10k|all] [--runs N]`.</summary>
    public static int Run(IReadOnlyList<string> args)
    {
        string scenario = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "all";
        int runs = args.SkipWhile(a => a != "--runs").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(3);
        var yaml = Generate(PipelineLoader.MaxSteps);
        var loaded = PipelineLoader.Load(yaml, "bench-10k.yaml");
        if (loaded.Spec is null)
        {
            Console.Error.WriteLine("generated pipeline does not validate:\n" + string.Join("\n", loaded.Errors.Take(10).Select(e => e.Format())));
            return 1;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"spec: generated {loaded.Spec.Steps.Count} steps, {Encoding.UTF8.GetByteCount(yaml) / 1024} KiB of YAML, {loaded.Diagnostics.Count} diagnostics (warnings: outputs of the last layer are never read), {PipelineGraph.FromSpec(loaded.Spec).CriticalPathLength} stages"));
        bool all = scenario == "all";
        if (all || scenario == "validate-10k")
        {
            Measure("validate-10k (semantic validation)", runs, () => PipelineValidator.Validate(loaded.Spec, sourceMap: loaded.SourceMap).Count);
        }

        if (all || scenario == "load-10k")
        {
            Measure("load-10k (parse + validate)", runs, () => PipelineLoader.Load(yaml, "bench-10k.yaml").Diagnostics.Count);
        }

        if (!all && scenario is not ("validate-10k" or "load-10k"))
        {
            Console.Error.WriteLine($"unknown spec scenario '{scenario}': use validate-10k, load-10k or all");
            return 2;
        }

        return 0;
    }

    private static void Measure(string name, int runs, Func<int> scenario)
    {
        // Two warm-up runs so the measured ones run tiered-up code, as a long-lived host would.
        int diagnostics = scenario() + scenario();
        var times = new List<double>();
        var cpu = new List<double>();
        var bytes = new List<long>();
        using var process = Process.GetCurrentProcess();
        for (int i = 0; i < runs; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            process.Refresh();
            var cpuBefore = process.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            diagnostics = scenario();
            times.Add(sw.Elapsed.TotalMilliseconds);
            process.Refresh();
            cpu.Add((process.TotalProcessorTime - cpuBefore).TotalMilliseconds);
            bytes.Add(GC.GetAllocatedBytesForCurrentThread() - before);
        }

        times.Sort();
        cpu.Sort();
        bytes.Sort();

        // CPU time is reported next to wall time because a shared machine's load inflates wall time several-fold.
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"spec {name,-36} median {times[times.Count / 2],8:F1} ms wall  {cpu[cpu.Count / 2],8:F1} ms cpu  (wall min {times[0]:F1}, max {times[^1]:F1})  alloc {bytes[bytes.Count / 2] / 1024.0 / 1024.0,7:F1} MiB  diagnostics {diagnostics}"));
    }

    /// <summary>
    /// A layered DAG: 100 layers of 100 steps; each step needs 1-2 steps of the layer before and reads an output of one
    /// of them and a param, every 10th is a `run` step with a declared output, every 25th fans out with foreach.
    /// Compact flow style keeps 10,000 steps under the 1 MiB file limit.
    /// </summary>
    internal static string Generate(int steps)
    {
        const int width = 100;
        var sb = new StringBuilder(1 << 20);
        sb.Append("name: bench-10k\nparams:\n  lr: {type: number, default: 0.1}\n  items: {type: list, default: [a, b, c]}\nsteps:\n");
        for (int i = 0; i < steps; i++)
        {
            int layer = i / width;
            sb.Append(CultureInfo.InvariantCulture, $"- {{id: s{i}");
            string? source = null;
            if (layer > 0)
            {
                int prev = ((layer - 1) * width) + (i * 7 % width);
                int count = 1 + (i % 2);
                sb.Append(", needs: [");
                for (int k = 0; k < count; k++)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"{(k > 0 ? ", " : "")}s{((layer - 1) * width) + ((i * 7 + k * 13) % width)}");
                }

                sb.Append(']');
                source = $"s{prev}";
            }

            string read = source is null ? "${{ params.lr }}" : $"${{{{ steps.{source}.outputs.{(IsRun(source) ? "m" : "message")} }}}}";
            if (i % 10 == 9)
            {
                sb.Append(CultureInfo.InvariantCulture, $", run: {{command: [python, t.py, \"{read}\"]}}, outputs: [m]");
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $", uses: echo, with: {{message: \"{read}\"}}");
            }

            if (i % 25 == 0)
            {
                sb.Append(", foreach: \"${{ params.items }}\"");
            }

            sb.Append("}\n");
        }

        return sb.ToString();
    }

    private static bool IsRun(string id) => int.Parse(id.AsSpan(1), CultureInfo.InvariantCulture) % 10 == 9;
}
