using System.CommandLine;
using System.Globalization;
using Trainyard.Core.Spec;
using Trainyard.Core.Validation;
using Trainyard.Execution.Registry;
using Trainyard.Execution.Contracts;

namespace Trainyard.Cli;

/// <summary>
/// `trainyard pipelines push | list | show`: the pipeline registry the Function App (and `trainyard serve`) reads,
/// in the local store or in Azure Storage. Versions are content hashes, so pushing the same file twice changes nothing.
/// </summary>
internal static class PipelineCommands
{
    public static Command Create()
    {
        var command = new Command("pipelines", "Register pipeline versions for triggered runs (the Function App and `trainyard serve` pick them up without a restart).");
        command.Subcommands.Add(PushCommand());
        command.Subcommands.Add(ListCommand());
        command.Subcommands.Add(ShowCommand());
        return command;
    }

    /// <summary>The `--store` option shared by the commands that open a store.</summary>
    internal static Option<string> StoreOption() => new("--store")
    {
        Description = "Folder of the embedded store, or " + AzureStore.Syntax + " for the registry the Function App reads.",
        DefaultValueFactory = _ => CliStore.DefaultFolder,
    };

    private static Command PushCommand()
    {
        var file = new Argument<string>("FILE") { Description = "Pipeline YAML file." };
        var store = StoreOption();
        var json = new Option<bool>("--json") { Description = "Print the registered version as JSON." };
        var command = new Command("push", "Validate a pipeline file and register it as a new version (exit 0; 2 when the file is unreadable or invalid, nothing stored).") { file, store, json };
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, parse.GetValue(json));
            return await RunCommands.Guarded(output, async () =>
            {
                var path = parse.GetValue(file)!;
                string text;
                try
                {
                    text = PipelineFiles.ReadText(path);
                }
                catch (Exception ex) when (ex is (IOException and not PipelineFileTooLargeException) or UnauthorizedAccessException)
                {
                    throw new CliInputException($"{path}: cannot read the pipeline file: {ex.Message}");
                }

                await using var stores = await RegistryStores.OpenAsync(parse.GetValue(store)!, ct);
                var result = await new PipelineRegistry(stores.Pipelines, stores.Values).RegisterAsync(text, path, ct);
                if (!result.Ok)
                {
                    ValidateCommands.WriteDiagnostics(result.Diagnostics, output.Err);
                    output.Error($"{path}: {result.Diagnostics.Count(d => d.Severity == Severity.Error)} error(s); nothing was registered. Fix them and push again (`trainyard validate {path}` checks without a store).");
                    return CliApp.InvalidSpec;
                }

                var version = result.Version!;
                ValidateCommands.WriteDiagnostics(result.Diagnostics.Where(d => d.Severity != Severity.Error), output.Err);
                if (output.Json)
                {
                    output.WriteJson(new PushedVersion(version.Name, version.ContentHash, result.Created, version.RegisteredAt));
                }
                else
                {
                    output.Info(result.Created
                        ? $"registered {version.Name} version {Short(version.ContentHash)} (new)"
                        : $"{version.Name} version {Short(version.ContentHash)} is already registered; nothing changed");
                }

                return RunCommands.Ok;
            });
        });
        return command;
    }

    private static Command ListCommand()
    {
        var store = StoreOption();
        var json = new Option<bool>("--json") { Description = "Print JSON for tools instead of text." };
        var command = new Command("list", "Pushed pipelines: the active (last pushed) version of each, with its triggers.") { store, json };
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, parse.GetValue(json));
            return await RunCommands.Guarded(output, async () =>
            {
                await using var stores = await RegistryStores.OpenAsync(parse.GetValue(store)!, ct);
                var registry = new PipelineRegistry(stores.Pipelines, stores.Values);
                var all = await registry.VersionsAsync(null, ct);
                // Only pushed pipelines have an active version; names stored just because `trainyard run` used them are left out.
                var rows = new List<PipelineRow>();
                foreach (var g in all.GroupBy(v => v.Name, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
                {
                    var hash = await registry.ActiveHashAsync(g.Key, ct);
                    if (g.FirstOrDefault(v => v.ContentHash == hash) is { } active)
                    {
                        rows.Add(new PipelineRow(g.Key, active.ContentHash, g.Count(), active.RegisteredAt, Triggers(registry.Spec(active))));
                    }
                }

                if (output.Json)
                {
                    output.WriteJson(rows);
                    return RunCommands.Ok;
                }

                if (rows.Count == 0)
                {
                    output.Info("no pipelines registered; register one with `trainyard pipelines push FILE`");
                    return RunCommands.Ok;
                }

                if (output.Rich)
                {
                    output.WriteTable(["NAME", "VERSION", "VERSIONS", "REGISTERED", "TRIGGERS"], rows.Select(r => new[]
                    {
                        r.Name, Short(r.Version), r.Versions.ToString(CultureInfo.InvariantCulture),
                        r.RegisteredAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), string.Join(", ", r.Triggers),
                    }));
                    return RunCommands.Ok;
                }

                output.Info($"{"NAME",-28} {"VERSION",-12} {"VERSIONS",8}  {"REGISTERED",-20}  TRIGGERS");
                foreach (var r in rows)
                {
                    output.Info($"{r.Name,-28} {Short(r.Version),-12} {r.Versions,8}  {r.RegisteredAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),-20}  {string.Join(", ", r.Triggers)}");
                }

                return RunCommands.Ok;
            });
        });
        return command;
    }

    private static Command ShowCommand()
    {
        var name = new Argument<string>("NAME") { Description = "Pipeline name (see `trainyard pipelines list`)." };
        var version = new Option<string?>("--version") { Description = "A version's content hash (or a unique prefix of 8+ characters); default: the active version." };
        var store = StoreOption();
        var json = new Option<bool>("--json") { Description = "Print JSON (metadata, versions and the spec text) instead of text." };
        var command = new Command("show", "One pipeline: its versions and the spec text of the active (or a given) version.") { name, version, store, json };
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, parse.GetValue(json));
            return await RunCommands.Guarded(output, async () =>
            {
                var pipeline = parse.GetValue(name)!;
                await using var stores = await RegistryStores.OpenAsync(parse.GetValue(store)!, ct);
                var registry = new PipelineRegistry(stores.Pipelines, stores.Values);
                var versions = (await registry.VersionsAsync(pipeline, ct)).Where(v => v.Name == pipeline).OrderByDescending(v => v.RegisteredAt).ToList();
                if (versions.Count == 0)
                {
                    throw new CliInputException($"no pipeline '{pipeline}' is registered in this store; see `trainyard pipelines list`, or register it with `trainyard pipelines push FILE`.");
                }

                var activeHash = await registry.ActiveHashAsync(pipeline, ct);
                PipelineVersion chosen;
                if (parse.GetValue(version) is { } hash)
                {
                    chosen = await registry.FindAsync(pipeline, hash, ct)
                        ?? throw new CliInputException($"'{pipeline}' has no version '{hash}' (or the prefix is shorter than 8 characters or not unique); its versions are: {string.Join(", ", versions.Select(v => Short(v.ContentHash)))}.");
                }
                else
                {
                    chosen = versions.FirstOrDefault(v => v.ContentHash == activeHash) ?? versions[0];
                }

                if (output.Json)
                {
                    output.WriteJson(new ShownPipeline(
                        chosen.Name,
                        chosen.ContentHash,
                        chosen.ContentHash == activeHash,
                        chosen.RegisteredAt,
                        chosen.Source,
                        Triggers(registry.Spec(chosen)),
                        versions.Select(v => new VersionRow(v.ContentHash, v.RegisteredAt, v.Source)).ToList(),
                        chosen.SpecText));
                    return RunCommands.Ok;
                }

                output.Info($"pipeline {chosen.Name} version {chosen.ContentHash}{(chosen.ContentHash == activeHash ? " (active)" : activeHash is null ? " (not pushed: only used by runs; its triggers are off)" : "")}");
                output.Info($"registered {chosen.RegisteredAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} UTC from {chosen.Source ?? "?"}");
                output.Info($"triggers: {string.Join(", ", Triggers(registry.Spec(chosen)))}");
                output.Info($"versions ({versions.Count}, newest first): {string.Join(", ", versions.Select(v => Short(v.ContentHash)))}");
                output.Info("---");
                output.Write(chosen.SpecText.EndsWith('\n') ? chosen.SpecText : chosen.SpecText + "\n");
                return RunCommands.Ok;
            });
        });
        return command;
    }

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash;

    private static List<string> Triggers(PipelineSpec? spec) => spec is null
        ? ["(the stored text no longer loads; push it again)"]
        : [.. spec.Triggers.Select(t => t switch
        {
            ScheduleTriggerSpec s => $"schedule {s.Id} '{s.Cron}' {s.TimeZone}",
            BlobTriggerSpec b => $"blob {b.Id} {b.Container}/{b.Path}",
            DriftTriggerSpec d => $"drift {d.Id} {d.Model}/{d.Metric}>={d.Threshold.ToString(CultureInfo.InvariantCulture)}",
            _ => t.GetType().Name.Replace("TriggerSpec", "", StringComparison.Ordinal).ToLowerInvariant(),
        })];

    private sealed record PushedVersion(string Name, string Version, bool Created, DateTimeOffset RegisteredAt);

    private sealed record PipelineRow(string Name, string Version, int Versions, DateTimeOffset RegisteredAt, IReadOnlyList<string> Triggers);

    private sealed record VersionRow(string Version, DateTimeOffset RegisteredAt, string? Source);

    private sealed record ShownPipeline(string Name, string Version, bool Active, DateTimeOffset RegisteredAt, string? Source, IReadOnlyList<string> Triggers, IReadOnlyList<VersionRow> Versions, string Spec);
}
