using System.Buffers;
using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Trainyard.Core.Validation;
using YamlDotNet.Core;

namespace Trainyard.Core.Spec;

/// <summary>Turns a YAML tree into a <see cref="PipelineSpec"/>, reporting shape errors (unknown fields, types, durations).</summary>
/// <remarks>
/// Best effort: a field with a bad value is reported and replaced by a neutral placeholder, so the rest of the file is still
/// read and the semantic validator can report everything else in the same pass.
/// </remarks>
internal sealed partial class SpecReader(string file, List<Diagnostic> diagnostics)
{
    private string? _stepId;

    private enum Core
    {
        Null,
        Bool,
        Int,
        Float,
        String,
    }

    public PipelineSpec Read(YNode root)
    {
        if (root is not YMap map)
        {
            Error(DiagnosticCodes.WrongType, root, "", $"a pipeline file must be a mapping, not {Describe(root)}", "start the file with `name: my-pipeline` and a `steps:` list");
            return new PipelineSpec { Name = "", Source = file };
        }

        var f = Fields(map, "", SpecFields.Pipeline);
        string name = Require(f, map, "name", "", "add `name: my-pipeline` at the top of the file") is { } n ? Str(n, "name") ?? "" : "";
        var spec = new PipelineSpec
        {
            Name = name,
            Description = Opt(f, "description") is { } d ? Str(d, "description") : null,
            Params = Opt(f, "params") is { } p ? ReadParams(p) : [],
            Triggers = Opt(f, "triggers") is { } t ? ReadTriggers(t) : [],
            Defaults = Opt(f, "defaults") is { } df ? ReadDefaults(df) : new DefaultsSpec(),
            MaxParallel = Opt(f, "maxParallel") is { } mp ? Int(mp, "maxParallel") : null,
            Timeout = Opt(f, "timeout") is { } to ? Dur(to, "timeout") : null,
            Steps = Require(f, map, "steps", "", "add a `steps:` list with at least one step") is { } s ? ReadSteps(s) : [],
            Notify = Opt(f, "notify") is { } nt ? ReadNotify(nt, "notify") : [],
            Source = file,
        };
        return spec;
    }

    // ---- params, triggers, defaults -------------------------------------------------------------------------------

    private List<ParamSpec> ReadParams(YNode node)
    {
        var result = new List<ParamSpec>();
        if (AsMap(node, "params", "a mapping of param name to { type, default, required, description }") is not { } map)
        {
            return result;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in map.Entries)
        {
            if (Key(keyNode, "params", seen) is not { } name)
            {
                continue;
            }

            string path = "params." + name;
            if (AsMap(value, path, $"a mapping such as `{name}: {{ type: string, default: x }}`") is not { } pm)
            {
                continue;
            }

            var f = Fields(pm, path, SpecFields.Param);
            var type = Require(f, pm, "type", path, "add `type:` (string, number, integer, boolean or list)") is { } tn
                ? Enum(tn, path + ".type", ParamTypes) ?? ParamType.String
                : ParamType.String;
            result.Add(new ParamSpec(name, type)
            {
                Default = Opt(f, "default") is { } dv && !(dv is YScalar ds && ds.IsNull) ? ToJson(dv, path + ".default") : null,
                Required = Opt(f, "required") is { } r && (Bool(r, path + ".required") ?? false),
                Description = Opt(f, "description") is { } d ? Str(d, path + ".description") : null,
                Location = Loc(keyNode),
            });
        }

        return result;
    }

    private static readonly (string, ParamType)[] ParamTypes =
        [("string", ParamType.String), ("number", ParamType.Number), ("integer", ParamType.Integer), ("boolean", ParamType.Boolean), ("list", ParamType.List)];

    private static readonly (string, string)[] TriggerTypes = [("schedule", "schedule"), ("blob", "blob"), ("drift", "drift"), ("manual", "manual")];

    private List<TriggerSpec> ReadTriggers(YNode node)
    {
        var result = new List<TriggerSpec>();
        if (AsSeq(node, "triggers", "a list of triggers, each with `type: schedule | blob | drift | manual`") is not { } seq)
        {
            return result;
        }

        var perKind = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < seq.Items.Count; i++)
        {
            string path = $"triggers[{i}]";
            if (AsMap(seq.Items[i], path, "a mapping with `type:` and the trigger's fields") is not { } tm)
            {
                continue;
            }

            string? kind = null;
            foreach (var (k, v) in tm.Entries)
            {
                if (k is YScalar { Value: "type" })
                {
                    kind = Enum(v, path + ".type", TriggerTypes);
                }
            }

            if (kind is null && !tm.Entries.Any(e => e.Key is YScalar { Value: "type" }))
            {
                Error(DiagnosticCodes.MissingField, tm, path + ".type", "missing required field 'type'", "add `type: schedule`, `blob`, `drift` or `manual`");
            }

            var allowed = kind switch
            {
                "schedule" => SpecFields.ScheduleTrigger,
                "blob" => SpecFields.BlobTrigger,
                "drift" => SpecFields.DriftTrigger,
                "manual" => SpecFields.ManualTrigger,
                _ => null,
            };
            var f = Fields(tm, path, allowed ?? SpecFields.TriggerCommon, reportUnknown: allowed is not null);
            int n = perKind.GetValueOrDefault(kind ?? "", 0);
            perKind[kind ?? ""] = n + 1;
            string id = Opt(f, "id") is { } idNode ? Str(idNode, path + ".id") ?? "" : $"{kind}-{n}";
            var parameters = Opt(f, "params") is { } pn ? ReadJsonMap(pn, path + ".params") : new Dictionary<string, JsonElement>();
            var loc = Loc(tm);
            switch (kind)
            {
                case "schedule":
                    result.Add(new ScheduleTriggerSpec
                    {
                        Id = id,
                        Params = parameters,
                        Location = loc,
                        Cron = Require(f, tm, "cron", path, "add `cron: \"0 2 * * *\"` (5 fields, or 6 with seconds first)") is { } c ? Str(c, path + ".cron") ?? "" : "",
                        TimeZone = Opt(f, "timezone") is { } tz ? Str(tz, path + ".timezone") ?? "UTC" : "UTC",
                        CatchUp = Opt(f, "catchUp") is { } cu ? Enum(cu, path + ".catchUp", CatchUps) ?? CatchUpPolicy.Latest : CatchUpPolicy.Latest,
                        MaxCatchUp = Opt(f, "maxCatchUp") is { } mc ? Int(mc, path + ".maxCatchUp") ?? 100 : 100,
                    });
                    break;
                case "blob":
                    result.Add(new BlobTriggerSpec
                    {
                        Id = id,
                        Params = parameters,
                        Location = loc,
                        Container = Require(f, tm, "container", path, "add `container: <storage container name>`") is { } ct ? Str(ct, path + ".container") ?? "" : "",
                        Path = Require(f, tm, "path", path, "add `path: \"incoming/{date}/*.csv\"`") is { } pt ? Str(pt, path + ".path") ?? "" : "",
                        Debounce = Opt(f, "debounce") is { } db ? Dur(db, path + ".debounce") : null,
                    });
                    break;
                case "drift":
                    result.Add(new DriftTriggerSpec
                    {
                        Id = id,
                        Params = parameters,
                        Location = loc,
                        Model = Require(f, tm, "model", path, "add `model: <registered model name>`") is { } m ? Str(m, path + ".model") ?? "" : "",
                        Metric = Require(f, tm, "metric", path, "add `metric: psi` (or the metric your monitor sends)") is { } mt ? Str(mt, path + ".metric") ?? "" : "",
                        Threshold = Require(f, tm, "threshold", path, "add `threshold: 0.2`") is { } th ? Num(th, path + ".threshold") ?? 0 : 0,
                        Cooldown = Opt(f, "cooldown") is { } cd ? Dur(cd, path + ".cooldown") ?? TimeSpan.FromHours(1) : TimeSpan.FromHours(1),
                    });
                    break;
                case "manual":
                    result.Add(new ManualTriggerSpec { Id = id, Params = parameters, Location = loc });
                    break;
                default:
                    break;
            }
        }

        return result;
    }

    private static readonly (string, CatchUpPolicy)[] CatchUps = [("latest", CatchUpPolicy.Latest), ("all", CatchUpPolicy.All), ("none", CatchUpPolicy.None)];

    private static readonly (string, ExecutorKind)[] Executors = [("builtin", ExecutorKind.Builtin), ("local", ExecutorKind.Local), ("batch", ExecutorKind.Batch)];

    private static readonly (string, OnFailure)[] OnFailures = [("fail-run", OnFailure.FailRun), ("continue", OnFailure.Continue)];

    private DefaultsSpec ReadDefaults(YNode node)
    {
        if (AsMap(node, "defaults", "a mapping with retry, timeout and executor") is not { } map)
        {
            return new DefaultsSpec();
        }

        var f = Fields(map, "defaults", SpecFields.Defaults);
        return new DefaultsSpec
        {
            Retry = Opt(f, "retry") is { } r ? ReadRetry(r, "defaults.retry") : null,
            Timeout = Opt(f, "timeout") is { } t ? Dur(t, "defaults.timeout") : null,
            Executor = Opt(f, "executor") is { } e ? Enum(e, "defaults.executor", Executors) : null,
        };
    }

    private RetryPolicy? ReadRetry(YNode node, string path)
    {
        if (AsMap(node, path, "a mapping with maxAttempts, initialInterval, backoffCoefficient, maxInterval, jitter") is not { } map)
        {
            return null;
        }

        var f = Fields(map, path, SpecFields.Retry);
        var d = new RetryPolicy();
        return new RetryPolicy
        {
            MaxAttempts = Opt(f, "maxAttempts") is { } a ? Int(a, path + ".maxAttempts") ?? d.MaxAttempts : d.MaxAttempts,
            InitialInterval = Opt(f, "initialInterval") is { } ii ? Dur(ii, path + ".initialInterval") ?? d.InitialInterval : d.InitialInterval,
            BackoffCoefficient = Opt(f, "backoffCoefficient") is { } bc ? Num(bc, path + ".backoffCoefficient") ?? d.BackoffCoefficient : d.BackoffCoefficient,
            MaxInterval = Opt(f, "maxInterval") is { } mi ? Dur(mi, path + ".maxInterval") ?? d.MaxInterval : d.MaxInterval,
            Jitter = Opt(f, "jitter") is { } j ? Num(j, path + ".jitter") ?? d.Jitter : d.Jitter,
        };
    }

    // ---- steps ------------------------------------------------------------------------------------------------------

    private List<StepSpec> ReadSteps(YNode node)
    {
        var result = new List<StepSpec>();
        if (AsSeq(node, "steps", "a list of steps, each starting with `- id: <step-id>`") is not { } seq)
        {
            return result;
        }

        if (seq.Items.Count == 0)
        {
            Error(DiagnosticCodes.MissingField, seq, "steps", "`steps` is empty; a pipeline needs at least one step", "add a step, e.g. `- { id: hello, uses: echo, with: { message: hi } }`");
            return result;
        }

        if (seq.Items.Count > PipelineLoader.MaxSteps)
        {
            Error(DiagnosticCodes.Limit, seq, "steps", $"the pipeline has {seq.Items.Count} steps; the limit is {PipelineLoader.MaxSteps}", "split the pipeline into several pipelines, or fan out with foreach instead of repeating steps");
            return result;
        }

        result.Capacity = seq.Items.Count;
        for (int i = 0; i < seq.Items.Count; i++)
        {
            result.Add(ReadStep(seq.Items[i], $"steps[{i}]"));
            _stepId = null;
        }

        return result;
    }

    private StepSpec ReadStep(YNode node, string path)
    {
        if (AsMap(node, path, "a mapping such as `- id: train` with `uses:` or `run:`") is not { } map)
        {
            return new StepSpec { Id = "", Location = Loc(node), Run = new RunSpec { Command = [] } };
        }

        // Read the id first so every later diagnostic of this step can name it.
        foreach (var (k, v) in map.Entries)
        {
            if (k is YScalar { Value: "id" } && v is YScalar { IsNull: false } idScalar)
            {
                _stepId = idScalar.Value;
            }
        }

        var f = Fields(map, path, SpecFields.Step);
        string id = Require(f, map, "id", path, "add `id: <step-id>` (lower-case letters, digits and '-')") is { } idNode ? Str(idNode, path + ".id") ?? "" : "";
        return new StepSpec
        {
            Id = id,
            Needs = Opt(f, "needs") is { } n ? ReadNeeds(n, path + ".needs") : [],
            Uses = Opt(f, "uses") is { } u ? Str(u, path + ".uses") ?? "" : null,
            Run = Opt(f, "run") is { } r ? ReadRun(r, path + ".run") : null,
            With = Opt(f, "with") is { } w ? ReadJsonMap(w, path + ".with") : new Dictionary<string, JsonElement>(),
            When = Opt(f, "when") is { } wh ? ReadWhen(wh, path + ".when") : null,
            Foreach = Opt(f, "foreach") is { } fe ? ReadForeach(fe, path + ".foreach") : null,
            Retry = Opt(f, "retry") is { } rt ? ReadRetry(rt, path + ".retry") : null,
            Timeout = Opt(f, "timeout") is { } to ? Dur(to, path + ".timeout") : null,
            Executor = Opt(f, "executor") is { } ex ? Enum(ex, path + ".executor", Executors) : null,
            Resources = Opt(f, "resources") is { } rs ? ReadResources(rs, path + ".resources") : null,
            Cache = Opt(f, "cache") is { } ca ? ReadCache(ca, path + ".cache") : null,
            Outputs = Opt(f, "outputs") is { } o ? ReadOutputs(o, path + ".outputs") : [],
            OnFailure = Opt(f, "onFailure") is { } of ? Enum(of, path + ".onFailure", OnFailures) ?? OnFailure.FailRun : OnFailure.FailRun,
            Notify = Opt(f, "notify") is { } nt ? ReadNotify(nt, path + ".notify") : [],
            Location = Loc(map),
        };
    }

    private List<string> ReadNeeds(YNode node, string path)
    {
        if (node is YScalar { IsNull: false } one)
        {
            return [one.Value];
        }

        var result = new List<string>();
        if (AsSeq(node, path, "a step id or a list of step ids") is not { } seq)
        {
            return result;
        }

        for (int i = 0; i < seq.Items.Count; i++)
        {
            if (Str(seq.Items[i], $"{path}[{i}]") is { } s)
            {
                result.Add(s);
            }
        }

        return result;
    }

    private RunSpec ReadRun(YNode node, string path)
    {
        var placeholder = new RunSpec { Command = [] };
        if (node is YScalar { IsNull: false } s)
        {
            Error(DiagnosticCodes.WrongType, node, path, $"`run` must be a mapping with a `command` list, not a string", $"write `run: {{ command: [{string.Join(", ", s.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(4))}] }}`: commands run as argv, never through a shell");
            return placeholder;
        }

        if (AsMap(node, path, "a mapping with `command` (argv list), optional `image` and `env`") is not { } map)
        {
            return placeholder;
        }

        var f = Fields(map, path, SpecFields.Run);
        var command = new List<string>();
        if (Require(f, map, "command", path, "add `command: [python, train.py]` (an argv list)") is { } cn)
        {
            if (cn is YScalar { IsNull: false } cs)
            {
                Error(DiagnosticCodes.WrongType, cn, path + ".command", "`command` must be a list of arguments, not a string", $"write `command: [{string.Join(", ", cs.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(4))}]`: commands run as argv, never through a shell");
            }
            else if (AsSeq(cn, path + ".command", "an argv list such as [python, train.py]") is { } seq)
            {
                for (int i = 0; i < seq.Items.Count; i++)
                {
                    if (Str(seq.Items[i], $"{path}.command[{i}]") is { } arg)
                    {
                        command.Add(arg);
                    }
                }

                if (seq.Items.Count == 0)
                {
                    Error(DiagnosticCodes.MissingField, cn, path + ".command", "`command` is empty", "name the program to run first, e.g. [python, train.py]");
                }
                else if (command.Count == seq.Items.Count && string.IsNullOrWhiteSpace(command[0]))
                {
                    Error(DiagnosticCodes.MissingField, seq.Items[0], path + ".command[0]", "the program to run (`command[0]`) is empty", "name the program first, e.g. [python, train.py]");
                }
            }
        }

        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Opt(f, "env") is { } en && AsMap(en, path + ".env", "a mapping of variable name to value") is { } em)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (k, v) in em.Entries)
            {
                if (Key(k, path + ".env", seen) is { } name)
                {
                    env[name] = v is YScalar { IsNull: true } ? "" : Str(v, $"{path}.env.{name}") ?? "";
                }
            }
        }

        return new RunSpec
        {
            Command = command,
            Image = Opt(f, "image") is { } im ? Str(im, path + ".image") : null,
            Env = env,
        };
    }

    private string? ReadWhen(YNode node, string path)
    {
        if (node is YScalar { IsNull: true })
        {
            return null;
        }

        return node is YScalar s ? s.Value : Str(node, path);
    }

    private ForeachSpec? ReadForeach(YNode node, string path)
    {
        if (node is YMap map)
        {
            var f = Fields(map, path, SpecFields.Foreach);
            return new ForeachSpec
            {
                Items = Require(f, map, "items", path, "add `items: [a, b]` or `items: ${{ params.list }}`") is { } it ? ToJson(it, path + ".items") : JsonSerializer.SerializeToElement(Array.Empty<string>()),
                MaxParallel = Opt(f, "maxParallel") is { } mp ? Int(mp, path + ".maxParallel") : null,
            };
        }

        return new ForeachSpec { Items = ToJson(node, path) };
    }

    private ResourceSpec? ReadResources(YNode node, string path)
    {
        if (AsMap(node, path, "a mapping with cpu, memoryGiB, gpu, pool") is not { } map)
        {
            return null;
        }

        var f = Fields(map, path, SpecFields.Resources);
        return new ResourceSpec
        {
            Cpu = Opt(f, "cpu") is { } c ? Num(c, path + ".cpu") : null,
            MemoryGiB = Opt(f, "memoryGiB") is { } m ? Num(m, path + ".memoryGiB") : null,
            Gpu = Opt(f, "gpu") is { } g ? Int(g, path + ".gpu") : null,
            Pool = Opt(f, "pool") is { } p ? Str(p, path + ".pool") : null,
        };
    }

    private CacheSpec? ReadCache(YNode node, string path)
    {
        if (node is YScalar s && !s.IsNull && Resolve(s).Type == Core.Bool)
        {
            return new CacheSpec { Enabled = Bool(node, path) ?? true };
        }

        if (AsMap(node, path, "true, false, or a mapping with enabled and maxAge") is not { } map)
        {
            return null;
        }

        var f = Fields(map, path, SpecFields.Cache);
        return new CacheSpec
        {
            Enabled = Opt(f, "enabled") is not { } e || (Bool(e, path + ".enabled") ?? true),
            MaxAge = Opt(f, "maxAge") is { } ma ? Dur(ma, path + ".maxAge") : null,
        };
    }

    private List<NotifySpec> ReadNotify(YNode node, string path)
    {
        var result = new List<NotifySpec>();
        if (AsSeq(node, path, "a list of webhooks, each such as `- url: https://...` with optional `on:`, `secretFrom:` and `stuckAfter:`") is not { } seq)
        {
            return result;
        }

        var events = NotifyEvents.Names.ToArray();
        for (int i = 0; i < seq.Items.Count; i++)
        {
            string p = $"{path}[{i}]";
            if (AsMap(seq.Items[i], p, "a mapping with `url:` or `urlFrom:`, and optional `on:`, `secretFrom:`, `stuckAfter:`") is not { } map)
            {
                continue;
            }

            var f = Fields(map, p, SpecFields.Notify);
            List<NotifyEvent>? on = null;
            if (Opt(f, "on") is { } onNode && AsSeq(onNode, p + ".on", "a list of events such as `[run-failed, drift-detected]`") is { } onSeq)
            {
                on = [];
                for (int j = 0; j < onSeq.Items.Count; j++)
                {
                    if (Enum(onSeq.Items[j], $"{p}.on[{j}]", events) is { } e && !on.Contains(e))
                    {
                        on.Add(e);
                    }
                }
            }

            result.Add(new NotifySpec
            {
                Url = Opt(f, "url") is { } u ? Str(u, p + ".url") : null,
                UrlFrom = Opt(f, "urlFrom") is { } uf ? Str(uf, p + ".urlFrom") : null,
                On = on,
                SecretFrom = Opt(f, "secretFrom") is { } sf ? Str(sf, p + ".secretFrom") : null,
                StuckAfter = Opt(f, "stuckAfter") is { } sa ? Dur(sa, p + ".stuckAfter") : null,
                Location = Loc(map),
            });
        }

        return result;
    }

    private List<OutputSpec> ReadOutputs(YNode node, string path)
    {
        var result = new List<OutputSpec>();
        if (AsSeq(node, path, "a list of output names (or { name, description } mappings)") is not { } seq)
        {
            return result;
        }

        for (int i = 0; i < seq.Items.Count; i++)
        {
            string p = $"{path}[{i}]";
            if (seq.Items[i] is YMap om)
            {
                var f = Fields(om, p, SpecFields.Output);
                if (Require(f, om, "name", p, "add `name: <output name>`") is { } nn && Str(nn, p + ".name") is { } name)
                {
                    result.Add(new OutputSpec(name) { Description = Opt(f, "description") is { } d ? Str(d, p + ".description") : null });
                }
            }
            else if (Str(seq.Items[i], p) is { } name)
            {
                result.Add(new OutputSpec(name));
            }
        }

        return result;
    }

    // ---- generic helpers ----------------------------------------------------------------------------------------------

    private Dictionary<string, JsonElement> ReadJsonMap(YNode node, string path)
    {
        var result = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (node is YScalar { IsNull: true })
        {
            return result;
        }

        if (AsMap(node, path, "a mapping of names to values") is not { } map)
        {
            return result;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (k, v) in map.Entries)
        {
            if (Key(k, path, seen) is { } name)
            {
                result[name] = ToJson(v, path + "." + name);
            }
        }

        return result;
    }

    /// <summary>Field lookup: reports duplicate and unknown keys (with a suggestion), returns the known ones.</summary>
    private Dictionary<string, YNode> Fields(YMap map, string path, IReadOnlyList<string> allowed, bool reportUnknown = true)
    {
        var result = new Dictionary<string, YNode>(map.Entries.Count, StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (k, v) in map.Entries)
        {
            if (Key(k, path, seen) is not { } name)
            {
                continue;
            }

            if (!allowed.Contains(name))
            {
                if (reportUnknown)
                {
                    string where = path.Length == 0 ? "the top level" : path;
                    var suggestion = Suggest.Closest(name, allowed);
                    Error(DiagnosticCodes.UnknownField, k, Join(path, name), $"unknown field '{name}'{(suggestion is null ? "" : $" — did you mean '{suggestion}'?")}",
                        suggestion is null ? $"fields allowed in {where}: {string.Join(", ", allowed)}" : $"rename it to '{suggestion}'");
                }

                continue;
            }

            result[name] = v;
        }

        return result;
    }

    private string? Key(YNode keyNode, string path, HashSet<string> seen)
    {
        if (keyNode is not YScalar { IsNull: false } k)
        {
            Error(DiagnosticCodes.WrongType, keyNode, path, $"a key must be a plain name, not {Describe(keyNode)}", "use a simple word as the key");
            return null;
        }

        if (!seen.Add(k.Value))
        {
            Error(DiagnosticCodes.DuplicateKey, k, Join(path, k.Value), $"'{k.Value}' is set twice in the same mapping", "remove one of the two: YAML would silently keep only the last");
            return null;
        }

        return k.Value;
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

    private static YNode? Opt(Dictionary<string, YNode> fields, string name) => fields.GetValueOrDefault(name);

    private YNode? Require(Dictionary<string, YNode> fields, YMap map, string name, string path, string help)
    {
        if (fields.TryGetValue(name, out var node) && node is not YScalar { IsNull: true })
        {
            return node;
        }

        Error(DiagnosticCodes.MissingField, node ?? map, Join(path, name), $"missing required field '{name}'", help);
        return null;
    }

    private YMap? AsMap(YNode node, string path, string expected) => As<YMap>(node, path, expected);

    private YSeq? AsSeq(YNode node, string path, string expected) => As<YSeq>(node, path, expected);

    /// <summary>The node as a mapping or list; an empty one for a null value (`with:` with nothing after it); else an error.</summary>
    private T? As<T>(YNode node, string path, string expected)
        where T : YNode, new()
    {
        if (node is T t)
        {
            return t;
        }

        if (node is YScalar { IsNull: true })
        {
            return new T { Start = node.Start, End = node.End };
        }

        Error(DiagnosticCodes.WrongType, node, path, $"expected {expected}, got {Describe(node)}", $"write {expected}");
        return null;
    }

    private string? Str(YNode node, string path)
    {
        if (node is YScalar s)
        {
            return s.IsNull ? null : s.Value;
        }

        Error(DiagnosticCodes.WrongType, node, path, $"expected a string, got {Describe(node)}", "write a single value on this line");
        return null;
    }

    private int? Int(YNode node, string path)
    {
        if (node is YScalar s && Resolve(s) is { Type: Core.Int } r)
        {
            if (r.Integer is BigInteger bi && bi >= int.MinValue && bi <= int.MaxValue)
            {
                return (int)bi;
            }

            Error(DiagnosticCodes.OutOfRange, node, path, $"{s.Value} is too large", "use a smaller whole number");
            return null;
        }

        Error(DiagnosticCodes.WrongType, node, path, $"expected an integer, got {Describe(node)}", Quoted(node) ? "remove the quotes so the value is a number" : "write a whole number such as 3");
        return null;
    }

    private double? Num(YNode node, string path)
    {
        if (node is YScalar s && Resolve(s) is { Type: Core.Int or Core.Float } r)
        {
            if (double.IsFinite(r.Number))
            {
                return r.Number;
            }

            Error(DiagnosticCodes.InvalidValue, node, path, $"{s.Value} is not a finite number", "write a finite number");
            return null;
        }

        Error(DiagnosticCodes.WrongType, node, path, $"expected a number, got {Describe(node)}", Quoted(node) ? "remove the quotes so the value is a number" : "write a number such as 1.5");
        return null;
    }

    private bool? Bool(YNode node, string path)
    {
        if (node is YScalar s && Resolve(s) is { Type: Core.Bool } r)
        {
            return r.Boolean;
        }

        Error(DiagnosticCodes.WrongType, node, path, $"expected true or false, got {Describe(node)}", Quoted(node) ? "remove the quotes: write true or false" : "write true or false");
        return null;
    }

    private TimeSpan? Dur(YNode node, string path)
    {
        if (node is not YScalar { IsNull: false } s)
        {
            Error(DiagnosticCodes.WrongType, node, path, $"expected a duration, got {Describe(node)}", "write a duration such as 30s, 5m, 1h30m, 2d or PT5M");
            return null;
        }

        if (Duration.TryParse(s.Value, out var value))
        {
            return value;
        }

        bool bare = Resolve(s).Type is Core.Int or Core.Float;
        Error(DiagnosticCodes.InvalidDuration, node, path,
            bare ? $"'{s.Value}' has no unit, so it is not a duration" : $"'{s.Value}' is not a duration",
            bare ? $"add a unit, e.g. {s.Value}s or {s.Value}m" : "write e.g. 500ms, 30s, 5m, 1h30m, 2d or ISO-8601 PT5M");
        return null;
    }

    private T? Enum<T>(YNode node, string path, (string Name, T Value)[] values)
        where T : struct
    {
        if (node is YScalar { IsNull: false } s)
        {
            foreach (var (name, value) in values)
            {
                if (name == s.Value)
                {
                    return value;
                }
            }
        }

        var names = values.Select(v => v.Name).ToList();
        var text = node is YScalar sc ? sc.Value : Describe(node);
        Error(DiagnosticCodes.InvalidValue, node, path, $"'{text}' is not one of {string.Join(", ", names)}{Suggest.DidYouMean(text, names)}", $"write one of: {string.Join(", ", names)}");
        return null;
    }

    private string? Enum(YNode node, string path, (string Name, string Value)[] values) => Enum<StringBox>(node, path, values.Select(v => (v.Name, new StringBox(v.Value))).ToArray())?.Value;

    private readonly record struct StringBox(string Value);

    // ---- YAML core schema -------------------------------------------------------------------------------------------

    private readonly record struct Typed(Core Type, bool Boolean, BigInteger? Integer, double Number);

    private static Typed Resolve(YScalar s)
    {
        string? tag = s.Tag;
        if (tag == "tag:yaml.org,2002:str" || (tag is null && s.Style != ScalarStyle.Plain))
        {
            return new Typed(Core.String, false, null, 0);
        }

        var v = s.Value;
        bool forceNull = tag == "tag:yaml.org,2002:null";
        if (forceNull || v is "" or "~" or "null" or "Null" or "NULL")
        {
            return new Typed(Core.Null, false, null, 0);
        }

        if (v is "true" or "True" or "TRUE")
        {
            return new Typed(Core.Bool, true, null, 0);
        }

        if (v is "false" or "False" or "FALSE")
        {
            return new Typed(Core.Bool, false, null, 0);
        }

        if (IntPattern().IsMatch(v))
        {
            var bi = BigInteger.Parse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            return new Typed(Core.Int, false, bi, (double)bi);
        }

        if (v.StartsWith("0x", StringComparison.Ordinal) && v.Length > 2 && v.Skip(2).All(char.IsAsciiHexDigit))
        {
            var bi = BigInteger.Parse("0" + v[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            return new Typed(Core.Int, false, bi, (double)bi);
        }

        if (v.StartsWith("0o", StringComparison.Ordinal) && v.Length > 2 && v.Skip(2).All(c => c is >= '0' and <= '7'))
        {
            BigInteger bi = 0;
            foreach (char c in v.AsSpan(2))
            {
                bi = (bi * 8) + (c - '0');
            }

            return new Typed(Core.Int, false, bi, (double)bi);
        }

        if (FloatPattern().IsMatch(v))
        {
            return new Typed(Core.Float, false, null, double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture));
        }

        if (v is ".inf" or ".Inf" or ".INF" or "+.inf" or "+.Inf" or "+.INF")
        {
            return new Typed(Core.Float, false, null, double.PositiveInfinity);
        }

        if (v is "-.inf" or "-.Inf" or "-.INF")
        {
            return new Typed(Core.Float, false, null, double.NegativeInfinity);
        }

        if (v is ".nan" or ".NaN" or ".NAN")
        {
            return new Typed(Core.Float, false, null, double.NaN);
        }

        return new Typed(Core.String, false, null, 0);
    }

    [GeneratedRegex("^[-+]?[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex IntPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex FloatPattern();

    /// <summary>Converts a YAML value to JSON with core-schema typing (plain true/1/1.5/null typed, quoted = string).</summary>
    public JsonElement ToJson(YNode node, string path)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteJson(writer, node, path);
        }

        return JsonElement.Parse(buffer.WrittenSpan);
    }

    private void WriteJson(Utf8JsonWriter w, YNode node, string path)
    {
        switch (node)
        {
            case YScalar s:
                var t = Resolve(s);
                switch (t.Type)
                {
                    case Core.Null:
                        w.WriteNullValue();
                        break;
                    case Core.Bool:
                        w.WriteBooleanValue(t.Boolean);
                        break;
                    case Core.Int when t.Integer is { } bi && bi >= long.MinValue && bi <= long.MaxValue:
                        w.WriteNumberValue((long)bi);
                        break;
                    case Core.Int or Core.Float when double.IsFinite(t.Number):
                        w.WriteNumberValue(t.Number);
                        break;
                    case Core.Int or Core.Float:
                        Error(DiagnosticCodes.InvalidValue, s, path, $"{s.Value} is not a finite number", "write a finite number, or quote it to pass it as text");
                        w.WriteNullValue();
                        break;
                    default:
                        w.WriteStringValue(s.Value);
                        break;
                }

                break;
            case YSeq seq:
                w.WriteStartArray();
                for (int i = 0; i < seq.Items.Count; i++)
                {
                    WriteJson(w, seq.Items[i], $"{path}[{i}]");
                }

                w.WriteEndArray();
                break;
            case YMap map:
                w.WriteStartObject();
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var (k, v) in map.Entries)
                {
                    if (Key(k, path, seen) is { } name)
                    {
                        w.WritePropertyName(name);
                        WriteJson(w, v, path + "." + name);
                    }
                }

                w.WriteEndObject();
                break;
            default:
                w.WriteNullValue();
                break;
        }
    }

    private static bool Quoted(YNode node) => node is YScalar { Style: ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted };

    private static string Describe(YNode node) => node switch
    {
        YMap => "a mapping",
        YSeq => "a list",
        YScalar s => Resolve(s).Type switch
        {
            Core.Null => "nothing (null)",
            Core.Bool => $"the boolean {s.Value}",
            Core.Int => $"the integer {s.Value}",
            Core.Float => $"the number {s.Value}",
            _ => $"the string '{Shorten(s.Value)}'",
        },
        _ => "an unknown node",
    };

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..37] + "...";

    private SourceLocation Loc(YNode node) => new(file, Math.Max(1, (int)node.Start.Line), Math.Max(1, (int)node.Start.Column));

    private void Error(string code, YNode at, string field, string message, string help)
    {
        var loc = Loc(at);
        diagnostics.Add(new Diagnostic(Severity.Error, code, file, loc.Line, loc.Column, _stepId, field, message, help));
    }
}
