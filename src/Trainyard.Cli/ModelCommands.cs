using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Trainyard.Execution.Caching;
using Trainyard.Steps.Ml;
using Trainyard.Execution.Contracts;

namespace Trainyard.Cli;

/// <summary>`trainyard models list|show|promote|rollback` and `trainyard lineage`: the model registry in the store's artifacts.</summary>
internal static class ModelCommands
{
    private const int BadInput = 2;

    public static IEnumerable<Command> Create() => [Models(), Lineage()];

    private static Option<string> StoreOption() => new("--store")
    {
        Description = "Folder of the embedded store, or " + AzureStore.Syntax + " for the registry in Azure Storage.",
        DefaultValueFactory = _ => CliStore.DefaultFolder,
    };

    private static Option<bool> JsonOption() => new("--json") { Description = "Print JSON for tools instead of text." };

    private static Option<string> StageOption() => new("--stage", "-s")
    {
        Description = "Stage alias: staging or production.",
        DefaultValueFactory = _ => "staging",
    };

    private static Command Models()
    {
        var models = new Command("models", "The model registry: versions with metrics and lineage, and stage aliases.");
        models.Subcommands.Add(ListCommand());
        models.Subcommands.Add(ShowCommand());
        models.Subcommands.Add(PromoteCommand());
        models.Subcommands.Add(RollbackCommand());
        return models;
    }

    private static Command WithStore(Command command, Option<string> store, Option<bool>? json, Func<ParseResult, CliOutput, ModelRegistry, RegistryStores, CancellationToken, Task<int>> action)
    {
        command.Options.Add(store);
        if (json is not null)
        {
            command.Options.Add(json);
        }

        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, json is not null && parse.GetValue(json));
            try
            {
                await using var stores = await RegistryStores.OpenAsync(parse.GetValue(store)!, ct);
                return await action(parse, output, new ModelRegistry(stores.Artifacts), stores, ct);
            }
            catch (ModelRegistryConflictException ex)
            {
                output.Error(ex.Message);
                return 1;
            }
            catch (Exception ex) when (ex is ModelRegistryException or CliInputException)
            {
                output.Error(ex.Message);
                return BadInput;
            }
        });
        return command;
    }

    private static Command ListCommand()
    {
        var json = JsonOption();
        return WithStore(new Command("list", "List registered models with their latest version and stages."), StoreOption(), json, async (_, output, registry, _, ct) =>
        {
            var rows = new List<ModelListItem>();
            foreach (var name in await registry.ListModelsAsync(ct))
            {
                var versions = await registry.ListVersionsAsync(name, ct);
                var staging = (await registry.GetStageAsync(name, "staging", ct)).Alias?.Version;
                var production = (await registry.GetStageAsync(name, "production", ct)).Alias?.Version;
                rows.Add(new ModelListItem(name, versions.Count, versions.Count == 0 ? null : versions[^1].Version, staging, production));
            }

            if (output.Json)
            {
                output.WriteJson(rows);
                return 0;
            }

            if (rows.Count == 0)
            {
                output.Info("no models registered yet; a pipeline's `register-model` step adds them (try `trainyard run samples/churn/pipeline.yaml`).");
                return 0;
            }

            if (output.Rich)
            {
                output.WriteTable(["MODEL", "VERSIONS", "LATEST", "STAGING", "PRODUCTION"],
                    rows.Select(r => new[] { r.Name, r.Versions.ToString(CultureInfo.InvariantCulture), V(r.Latest), V(r.Staging), V(r.Production) }));
                return 0;
            }

            output.Info($"{"MODEL",-24} {"VERSIONS",8} {"LATEST",6} {"STAGING",7} {"PRODUCTION",10}");
            foreach (var r in rows)
            {
                output.Info($"{r.Name,-24} {r.Versions,8} {V(r.Latest),6} {V(r.Staging),7} {V(r.Production),10}");
            }

            return 0;
        });
    }

    private static Command ShowCommand()
    {
        var model = new Argument<string>("MODEL") { Description = "Model name, or name:version for one version's details." };
        var json = JsonOption();
        var command = new Command("show", "Show a model's versions (metrics, stages), or one version with its files, data hashes and producer.");
        command.Arguments.Add(model);
        return WithStore(command, StoreOption(), json, async (parse, output, registry, _, ct) =>
        {
            var (name, version) = ParseModel(parse.GetValue(model)!);
            var versions = await registry.ListVersionsAsync(name, ct);
            if (versions.Count == 0)
            {
                throw new CliInputException($"no model '{name}' in the registry; `trainyard models list` shows the registered models.");
            }

            var stages = new Dictionary<string, StageAlias?>(StringComparer.Ordinal);
            foreach (var stage in ModelRegistry.Stages)
            {
                stages[stage] = (await registry.GetStageAsync(name, stage, ct)).Alias;
            }

            if (version is { } v)
            {
                var one = versions.FirstOrDefault(x => x.Version == v)
                    ?? throw new CliInputException($"model '{name}' has no version {v}; it has {string.Join(", ", versions.Select(x => x.Version))}.");
                if (output.Json)
                {
                    output.WriteJson(one);
                    return 0;
                }

                WriteVersion(output, one, stages);
                return 0;
            }

            if (output.Json)
            {
                output.WriteJson(new { name, versions, stages });
                return 0;
            }

            output.Info($"model {name}: {versions.Count} version(s); " + string.Join(", ", stages.Select(s => $"{s.Key} -> {V(s.Value?.Version)}")));
            if (output.Rich)
            {
                output.WriteTable(["VERSION", "CREATED", "STAGES", "METRICS"], versions.Select(x => new[]
                {
                    x.Version.ToString(CultureInfo.InvariantCulture),
                    x.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                    string.Join(",", stages.Where(s => s.Value?.Version == x.Version).Select(s => s.Key)),
                    Metrics(x.Metrics),
                }));
                return 0;
            }

            output.Info($"{"VERSION",7}  {"CREATED",-20} {"STAGES",-20} METRICS");
            foreach (var x in versions)
            {
                var at = string.Join(",", stages.Where(s => s.Value?.Version == x.Version).Select(s => s.Key));
                output.Info($"{x.Version,7}  {x.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),-20} {at,-20} {Metrics(x.Metrics)}");
            }

            return 0;
        });
    }

    private static void WriteVersion(CliOutput output, ModelVersion v, Dictionary<string, StageAlias?> stages)
    {
        output.Info($"model {v.Name}:{v.Version}  created {v.CreatedAt.UtcDateTime.ToString("u", CultureInfo.InvariantCulture)}");
        var at = stages.Where(s => s.Value?.Version == v.Version).Select(s => s.Key).ToList();
        output.Info($"  stages:   {(at.Count == 0 ? "-" : string.Join(", ", at))}");
        output.Info($"  metrics:  {Metrics(v.Metrics)}");
        if (v.Params is { ValueKind: JsonValueKind.Object } p)
        {
            output.Info($"  params:   {string.Join(" ", p.EnumerateObject().Select(x => $"{x.Name}={x.Value}"))}");
        }

        if (v.Description is not null)
        {
            output.Info($"  why:      {v.Description}");
        }

        foreach (var f in v.Files)
        {
            output.Info($"  file:     {f.Path}  sha256 {Short(f.Sha256)}  {f.Size} bytes  (from {f.Source})");
        }

        foreach (var d in v.Data)
        {
            output.Info($"  data:     {d.Path}  sha256 {Short(d.Sha256)}");
        }

        if (v.Producer is { } pr)
        {
            output.Info($"  producer: run {pr.RunId}  task {pr.TaskKey}  attempt {pr.Attempt}  (pipeline {pr.Pipeline} {Short(pr.PipelineHash)})");
        }

        output.Info($"  lineage:  trainyard lineage {v.Name}:{v.Version}");
    }

    private static Command PromoteCommand()
    {
        var model = new Argument<string>("MODEL") { Description = "Model name." };
        var version = new Argument<int>("VERSION") { Description = "Version to point the stage at." };
        var stage = StageOption();
        var command = new Command("promote", "Point a stage alias at a version (ETag-conditional: a concurrent change makes this fail, changing nothing).");
        command.Arguments.Add(model);
        command.Arguments.Add(version);
        command.Options.Add(stage);
        return WithStore(command, StoreOption(), null, async (parse, output, registry, _, ct) =>
        {
            var change = await registry.PromoteAsync(parse.GetValue(model)!, parse.GetValue(version), parse.GetValue(stage)!, By(), null, ct);
            output.Info($"{change.Name} {change.Stage} -> version {change.Version} (was {V(change.Previous)})");
            return 0;
        });
    }

    private static Command RollbackCommand()
    {
        var model = new Argument<string>("MODEL") { Description = "Model name." };
        var stage = StageOption();
        var command = new Command("rollback", "Move a stage alias back to the version it pointed at before its last promotion.");
        command.Arguments.Add(model);
        command.Options.Add(stage);
        return WithStore(command, StoreOption(), null, async (parse, output, registry, _, ct) =>
        {
            var change = await registry.RollbackAsync(parse.GetValue(model)!, parse.GetValue(stage)!, By(), null, ct);
            output.Info($"{change.Name} {change.Stage} rolled back -> version {change.Version} (was {V(change.Previous)})");
            return 0;
        });
    }

    private static Command Lineage()
    {
        var target = new Argument<string>("TARGET") { Description = "model[:version] (default: latest version) or an artifact path (runs/...)." };
        var json = JsonOption();
        var command = new Command("lineage", "Print the chain that produced a model version or artifact, back to the raw data: producers, attempts, cache keys and content hashes.");
        command.Arguments.Add(target);
        return WithStore(command, StoreOption(), json, async (parse, output, registry, stores, ct) =>
        {
            var walker = new LineageWalker(stores.Artifacts, stores.Values);
            var text = parse.GetValue(target)!;
            LineageNode root;
            if (text.Contains('/', StringComparison.Ordinal))
            {
                root = await walker.ArtifactAsync("artifact", text, ct);
            }
            else
            {
                var (name, version) = ParseModel(text);
                var versions = await registry.ListVersionsAsync(name, ct);
                var v = (version is null ? versions.LastOrDefault() : versions.FirstOrDefault(x => x.Version == version))
                    ?? throw new CliInputException($"no model '{text}' in the registry; `trainyard models list` shows what is registered, or pass an artifact path.");
                root = await walker.ModelAsync(v, ct);
            }

            if (output.Json)
            {
                output.WriteJson(root);
            }
            else
            {
                Print(output, root, 0);
            }

            return 0;
        });
    }

    private static void Print(CliOutput output, LineageNode node, int depth)
    {
        var pad = new string(' ', depth * 2);
        output.Info($"{pad}{node.Label}: {node.Path}{(node.Sha256 is null ? "" : $"  sha256 {Short(node.Sha256)}")}");
        if (node.Producer is { } p)
        {
            output.Info($"{pad}  <- {p.Uses ?? "step"} run {p.RunId} task {p.TaskKey} attempt {p.Attempt}{(p.CacheKey is null ? "" : $" cache key {Short(p.CacheKey)}")}");
        }
        else if (node.Note is not null)
        {
            output.Info($"{pad}  ({node.Note})");
        }

        foreach (var child in node.Inputs)
        {
            Print(output, child, depth + 2);
        }
    }

    private static (string Name, int? Version) ParseModel(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon < 0)
        {
            return (text, null);
        }

        return int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0
            ? (text[..colon], v)
            : throw new CliInputException($"'{text}' is not model or model:version (version a positive whole number).");
    }

    private static string By() => $"cli {Environment.UserName}@{Environment.MachineName}";

    private static string V(int? v) => v?.ToString(CultureInfo.InvariantCulture) ?? "-";

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash;

    private static string Metrics(IReadOnlyDictionary<string, double> m) =>
        string.Join(" ", m.Select(kv => $"{kv.Key}={kv.Value.ToString("0.####", CultureInfo.InvariantCulture)}"));

    private sealed record ModelListItem(string Name, int Versions, int? Latest, int? Staging, int? Production);
}

/// <summary>One artifact (or model) in a lineage tree, with who produced it and what that producer read.</summary>
internal sealed record LineageNode(string Label, string Path, string? Sha256, Producer? Producer, IReadOnlyList<LineageNode> Inputs)
{
    /// <summary>Why there is no producer (raw input, changed since, missing).</summary>
    public string? Note { get; init; }
}

/// <summary>Follows `lineage.json` records (written beside every ML step's outputs) from an artifact back to raw data.</summary>
internal sealed class LineageWalker(IArtifactStore artifacts, IKeyValueStore store)
{
    private readonly Dictionary<string, LineageNode> _seen = new(StringComparer.Ordinal);

    public async Task<LineageNode> ModelAsync(ModelVersion v, CancellationToken ct)
    {
        var inputs = new List<LineageNode>();
        foreach (var f in v.Files.Where(f => f.Source is not null))
        {
            inputs.Add(await ArtifactAsync(f.Name, f.Source!, ct));
        }

        foreach (var d in v.Data)
        {
            inputs.Add(await ArtifactAsync("data", d.Path, ct));
        }

        var producer = v.Producer is { } p ? p with { CacheKey = await StepCache.KeyOfDispatchAsync(store, p.DispatchId, ct) } : null;
        return new LineageNode($"model {v.Name}:{v.Version}", ModelRegistry.VersionPrefix(v.Name, v.Version), null, producer, inputs);
    }

    public async Task<LineageNode> ArtifactAsync(string label, string path, CancellationToken ct)
    {
        if (_seen.TryGetValue(path, out var known))
        {
            // A DAG reaches shared inputs more than once; print the subtree once.
            return known with { Label = label, Inputs = [], Note = "see above", Producer = null };
        }

        var info = await artifacts.GetInfoAsync(path, ct);
        if (info is null)
        {
            return Remember(new LineageNode(label, path, null, null, []) { Note = "missing from the artifact store (deleted by retention?)" });
        }

        var folder = path[..(path.LastIndexOf('/') + 1)];
        LineageRecord? record = null;
        await using (var s = await artifacts.OpenReadAsync(folder + LineageRecord.FileName, ct))
        {
            if (s is not null)
            {
                record = await JsonSerializer.DeserializeAsync<LineageRecord>(s, Core.Engine.EngineJson.Options, ct);
            }
        }

        if (record is null)
        {
            return Remember(new LineageNode(label, path, info.Sha256, null, []) { Note = "no producer recorded: raw input or a command step's output" });
        }

        var output = record.Outputs.FirstOrDefault(o => o.Path == path);
        var note = output is not null && output.Sha256 != info.Sha256 ? "content changed since it was produced" : null;
        var producer = record.Producer with { CacheKey = await StepCache.KeyOfDispatchAsync(store, record.Producer.DispatchId, ct) };
        var node = Remember(new LineageNode(label, path, info.Sha256, producer, []) { Note = note });
        var inputs = new List<LineageNode>();
        foreach (var i in record.Inputs)
        {
            // Data ingested from outside the artifact store (a blob in the data container, a file under the data root)
            // is where the chain starts: its hash and version were recorded when it was read.
            inputs.Add(i.ETag is { } etag
                ? Remember(new LineageNode(i.Name, i.Path, i.Sha256, null, []) { Note = $"ingested from outside the artifact store, version {etag}" })
                : await ArtifactAsync(i.Name, i.Path, ct));
        }

        return Remember(node with { Inputs = inputs });
    }

    private LineageNode Remember(LineageNode node)
    {
        _seen[node.Path] = node;
        return node;
    }
}
