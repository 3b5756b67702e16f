using System.CommandLine;
using Trainyard.Core.Spec;
using Trainyard.Runtime;
using Trainyard.Execution;

namespace Trainyard.Cli;

/// <summary>`trainyard purge`: retention for finished runs (journals, snapshots, artifacts under runs/&lt;id&gt;/; never models/).</summary>
internal static class PurgeCommands
{
    public static Command Create()
    {
        var olderThan = new Option<string>("--older-than") { Description = "Age of the runs to delete, by finish time (e.g. 30d, 12h).", Required = true };
        var status = new Option<string?>("--status") { Description = "Only runs that ended so: succeeded, failed or cancelled (default: all three)." };
        var batch = new Option<int>("--batch") { Description = "Runs deleted per batch (a short pause follows each, so live runs keep their share).", DefaultValueFactory = _ => 50 };
        var dryRun = new Option<bool>("--dry-run") { Description = "List what would be deleted; delete nothing." };
        var store = new Option<string>("--store")
        {
            Description = "Folder of the embedded store. Durable Functions instances in Azure are purged by the Function App.",
            DefaultValueFactory = _ => CliStore.DefaultFolder,
        };
        var command = new Command("purge", "Deletes finished runs older than a given age, with their artifacts (not registered models); resumable.") { olderThan, status, batch, dryRun, store };
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, json: false);
            return await RunCommands.Guarded(output, async () =>
            {
                if (!Duration.TryParse(parse.GetValue(olderThan), out var age) || age <= TimeSpan.Zero)
                {
                    throw new CliInputException($"--older-than '{parse.GetValue(olderThan)}' is not a duration: write e.g. 30d, 12h or P30D.");
                }

                if (AzureStore.IsAzure(parse.GetValue(store)!))
                {
                    if (parse.GetValue(dryRun) || parse.GetValue(status) is not null)
                    {
                        throw new CliInputException("--dry-run and --status work on the embedded store only: a durable task hub purges every finished run " +
                            "(succeeded, failed, cancelled) created before the cutoff; list them first with `trainyard runs --store ...`.");
                    }

                    var cutoff = TimeProvider.System.GetUtcNow() - age;
                    await using var hub = await DurableCommands.ConnectAsync(parse.GetValue(store)!, ct);
                    var outcome = await hub.Runs.PurgeFinishedAsync(cutoff, maxBatches: 100, batchTimeout: TimeSpan.FromSeconds(30), ct);
                    output.Info($"deleted the history of {outcome.Purged} finished instance(s) created before {cutoff:u} from the task hub" +
                        (outcome.Complete ? "" : "; more remain: run the command again") + " (artifacts stay in the artifacts container)");
                    return RunCommands.Ok;
                }

                await using var cli = await CliStore.OpenAsync(parse.GetValue(store)!, lease: null, noCache: false);
                var options = new PurgeOptions
                {
                    FinishedBefore = TimeProvider.System.GetUtcNow() - age,
                    Status = parse.GetValue(status),
                    BatchSize = Math.Max(1, parse.GetValue(batch)),
                    DryRun = parse.GetValue(dryRun),
                };
                var verb = options.DryRun ? "would delete" : "deleted";
                var progress = new SyncProgress(p => output.Info($"{verb} run {p.RunId} ({p.Status}, {p.Artifacts} artifact(s)) [{p.RunsDone}]"));
                int total;
                try
                {
                    total = await RunPurger.PurgeAsync(cli.Backend, options, progress, TimeProvider.System, ct);
                }
                catch (ArgumentException e)
                {
                    throw new CliInputException(e.Message);
                }

                output.Info($"{verb} {total} run(s) finished before {options.FinishedBefore:u}");
                return RunCommands.Ok;
            });
        });
        return command;
    }

    /// <summary>Reports on the calling thread, in order (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SyncProgress(Action<PurgeProgress> report) : IProgress<PurgeProgress>
    {
        public void Report(PurgeProgress value) => report(value);
    }
}
