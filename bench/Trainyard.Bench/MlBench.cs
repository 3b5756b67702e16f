using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Artifacts;
using Trainyard.Runtime.Contracts;
using Trainyard.Steps.Ml;
using Trainyard.Execution.Contracts;

namespace Trainyard.Bench;

/// <summary>
/// ML step benchmarks: `ml validate-data-1gb [--size-mb N]` generates a churn CSV of about N MB (default 1024) in a
/// temp folder, runs validate-data over it with every expectation type switched on, and prints MB/s and the peak
/// working set sampled while it ran (then deletes the folder). `ml churn-sample [--runs N]` runs
/// `trainyard run samples/churn/pipeline.yaml` as a child process in a fresh folder, cold then cached, N times each.
/// </summary>
internal static class MlBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var scenario = args.FirstOrDefault() ?? "";
        var sizeMb = args.SkipWhile(a => a != "--size-mb").Skip(1).Select(int.Parse).FirstOrDefault(1024);
        var runs = args.SkipWhile(a => a != "--runs").Skip(1).Select(int.Parse).FirstOrDefault(1);
        var parquet = args.SkipWhile(a => a != "--format").Skip(1).FirstOrDefault() == "parquet";
        return scenario switch
        {
            "validate-data-1gb" => await ValidateAsync(sizeMb, parquet),
            "churn-sample" => await ChurnSampleAsync(runs),
            _ => Usage(),
        };
    }

    private static int Usage()
    {
        Console.Error.WriteLine("usage: ml validate-data-1gb [--size-mb N] [--format parquet] | ml churn-sample [--runs N]");
        return 2;
    }

    private static async Task<int> ValidateAsync(int sizeMb, bool parquet)
    {
        var root = Path.Combine(Path.GetTempPath(), "ty-bench-validate-" + Path.GetRandomFileName());
        try
        {
            var store = new FileSystemArtifactStore(Path.Combine(root, "artifacts"));
            var sw = Stopwatch.StartNew();
            // Rows for the requested size, from the average row length of a sample.
            var probe = new StringWriter();
            GenerateChurnDataStep.Write(probe, 10_000, seed: 1);
            var rows = (long)sizeMb * 1024 * 1024 * 10_000 / probe.ToString().Length;
            var local = Path.Combine(root, "big.csv");
            await using (var w = new StreamWriter(local, false, new UTF8Encoding(false), 1 << 20))
            {
                GenerateChurnDataStep.Write(w, rows, seed: 1, missingFraction: 0.01);
            }

            var csvMb = new FileInfo(local).Length / 1048576.0;
            if (parquet)
            {
                var converted = Path.Combine(root, "big.parquet");
                await ParquetConvert.FromCsvAsync(local, converted, rowGroupRows: 200_000);
                File.Delete(local);
                local = converted;
            }

            ArtifactInfo info;
            await using (var f = File.OpenRead(local))
            {
                info = await store.PutAsync(parquet ? "raw/big.parquet" : "raw/big.csv", f, CancellationToken.None);
            }

            File.Delete(local);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"generated {info.Size / 1048576.0:F0} MB ({rows:N0} rows; {csvMb:F0} MB as CSV) in {sw.Elapsed.TotalSeconds:F1}s"));

            var expectations = JsonSerializer.SerializeToElement(new
            {
                rowCount = new { min = 1000 },
                maxDuplicateFraction = 0.001,
                columns = new Dictionary<string, object>
                {
                    ["customer_id"] = new { type = "string", notNull = true },
                    ["tenure_months"] = new { type = "integer", min = 0, max = 120 },
                    ["monthly_charges"] = new { type = "number", min = 0, maxOutlierFraction = 0.05 },
                    ["total_charges"] = new { type = "number", min = 0, maxNullFraction = 0.05, maxOutlierFraction = 0.05 },
                    ["support_calls"] = new { type = "integer", min = 0 },
                    ["plan"] = new { allowed = new[] { "basic", "standard", "premium" } },
                    ["contract"] = new { allowed = new[] { "month-to-month", "one-year", "two-year" } },
                    ["age"] = new { type = "integer", min = 18, max = 100 },
                    ["churned"] = new { type = "boolean", notNull = true },
                },
            });
            var work = new TaskWorkItem
            {
                RunId = "bench", TaskKey = "validate", StepId = "validate", Attempt = 1, DispatchId = "d1", PipelineName = "bench", PipelineHash = "-",
                Executor = ExecutorKind.Builtin, Uses = "validate-data",
                Inputs = new Dictionary<string, JsonElement> { ["dataset"] = JsonSerializer.SerializeToElement(info.Path), ["expectations"] = expectations },
            };
            GC.Collect();
            using var process = Process.GetCurrentProcess();
            process.Refresh();
            var before = process.WorkingSet64;
            long peak = before;
            using var stop = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    process.Refresh();
                    peak = Math.Max(peak, process.WorkingSet64);
                    await Task.Delay(50, CancellationToken.None);
                }
            });
            var cpuBefore = process.TotalProcessorTime;
            sw.Restart();
            var result = await new ValidateDataStep().RunAsync(new StepContext
            {
                Work = work, Artifacts = store, WorkingDirectory = Path.Combine(root, "work"), Log = (_, _) => Task.CompletedTask,
            }, CancellationToken.None);
            var elapsed = sw.Elapsed;
            process.Refresh();
            var cpu = process.TotalProcessorTime - cpuBefore;
            await stop.CancelAsync();
            await sampler;
            var mb = info.Size / 1048576.0;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"validate-data ({(parquet ? "parquet" : "csv")}): {mb:F0} MB, {result.Outputs["rows"]} rows in {elapsed.TotalSeconds:F1}s wall = {mb / elapsed.TotalSeconds:F0} MB/s; " +
                $"CPU {cpu.TotalSeconds:F1}s = {mb / cpu.TotalSeconds:F0} MB per CPU-second; " +
                $"working set before {before / 1048576.0:F0} MB, peak during {peak / 1048576.0:F0} MB; passed={result.Outputs["passed"]}"));
            return 0;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task<int> ChurnSampleAsync(int runs)
    {
        var repo = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(repo, "FunctionApp.sln")))
        {
            repo = Path.GetDirectoryName(repo) ?? throw new DirectoryNotFoundException("repository root not found");
        }

        var cli = Path.Combine(AppContext.BaseDirectory, "trainyard.dll");
        var sample = Path.Combine(repo, "samples", "churn", "pipeline.yaml");
        for (var i = 0; i < runs; i++)
        {
            var dir = Path.Combine(Path.GetTempPath(), "ty-bench-churn-" + Path.GetRandomFileName());
            Directory.CreateDirectory(dir);
            try
            {
                var cold = await TimeAsync(cli, sample, dir);
                var cached = await TimeAsync(cli, sample, dir);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"churn sample: cold {cold.TotalSeconds:F1}s, cached {cached.TotalSeconds:F1}s (wall, process start included)"));
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        return 0;
    }

    private static async Task<TimeSpan> TimeAsync(string cli, string sample, string dir)
    {
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(new ProcessStartInfo("dotnet", [cli, "run", sample]) { WorkingDirectory = dir, RedirectStandardOutput = true })!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"trainyard run failed ({p.ExitCode}):\n{output}");
        }

        Console.WriteLine(output.Split('\n').LastOrDefault(l => l.Contains("tasks:", StringComparison.Ordinal)));
        return sw.Elapsed;
    }
}
