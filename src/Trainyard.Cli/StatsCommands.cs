using System.CommandLine;
using System.Globalization;
using Trainyard.Core.Spec;
using Trainyard.Dashboard;

namespace Trainyard.Cli;

/// <summary>`trainyard stats PIPELINE [--since 30d] [--json]`: pipeline health over a window of runs.</summary>
internal static class StatsCommands
{
    public static Command Create()
    {
        var pipeline = new Argument<string>("PIPELINE") { Description = "Pipeline name." };
        var since = new Option<string>("--since") { Description = "Window: runs started this long ago or later, e.g. 7d, 12h.", DefaultValueFactory = _ => "30d" };
        var json = new Option<bool>("--json") { Description = "Print JSON for tools instead of text." };
        var store = RunCommands.StoreOption();
        var command = new Command("stats", "Pipeline health: success rate, p50/p95 run and step durations, retries, cache hit ratio, Batch node hours and cost per run, and the steps that hold runs up.");
        command.Arguments.Add(pipeline);
        command.Options.Add(since);
        command.Options.Add(json);
        command.Options.Add(store);
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, parse.GetValue(json));
            return await RunCommands.Guarded(output, async () =>
            {
                var sinceText = parse.GetValue(since)!;
                if (!Duration.TryParse(sinceText, out var window) || window <= TimeSpan.Zero)
                {
                    throw new CliInputException($"--since '{sinceText}' is not a positive duration; write e.g. 30d, 12h or 90m.");
                }

                await using var cli = await CliStore.OpenAsync(parse.GetValue(store)!, lease: null, noCache: false);
                var name = parse.GetValue(pipeline)!;
                var health = await new RunCatalog(cli.Engine).HealthAsync(name, DateTimeOffset.UtcNow - window, ct);
                if (output.Json)
                {
                    output.WriteJson(health);
                    return RunCommands.Ok;
                }

                if (health.Runs == 0)
                {
                    output.Info($"no runs of '{name}' started in the last {sinceText} in {cli.Folder}; list runs with `trainyard runs --pipeline {name}`.");
                    return RunCommands.Ok;
                }

                Print(output, health, sinceText);
                return RunCommands.Ok;
            });
        });
        return command;
    }

    private static void Print(CliOutput output, PipelineHealth h, string since)
    {
        var inv = CultureInfo.InvariantCulture;
        output.Write(string.Create(inv, $"{h.Pipeline}: {h.Runs} run(s) in the last {since}: {h.Succeeded} succeeded, {h.Failed} failed, {h.Cancelled} cancelled, {h.Running} running\n"));
        output.WriteTable(
            ["MEASURE", "VALUE"],
            [
                ["success rate", Pct(h.SuccessRate)],
                ["run duration", $"p50 {Sec(h.RunP50Seconds)}   p95 {Sec(h.RunP95Seconds)}"],
                ["retries", h.Retries.ToString(inv)],
                ["cache hit ratio", Pct(h.CacheHitRatio)],
                ["Batch per run", string.Create(inv, $"{h.BatchNodeHoursPerRun:0.###} node-hours, ${h.BatchCostPerRun:0.####}")],
            ]);
        output.Write("\n");
        output.WriteTable(
            ["STEP", "TASKS", "FAILED", "RETRIES", "CACHED", "P50", "P95", "CRITICAL"],
            h.Steps.Select(s => (IReadOnlyList<string>)[s.Step, s.Tasks.ToString(inv), s.Failed.ToString(inv), s.Retries.ToString(inv), s.CacheHits.ToString(inv), Sec(s.P50Seconds), Sec(s.P95Seconds), Pct(s.CriticalPathShare)]));

        var advice = h.Steps.Where(s => s.Advice is not null).ToList();
        if (advice.Count > 0)
        {
            output.Write("\nwould gain most:\n");
            foreach (var s in advice)
            {
                output.Write($"  {s.Step}: {s.Advice}\n");
            }
        }
    }

    private static string Pct(double? v) => v is { } x ? (x * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%" : "-";

    private static string Sec(double? v) => v is { } x ? x.ToString(x < 10 ? "0.###" : "0.#", CultureInfo.InvariantCulture) + "s" : "-";
}
