using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Cronos;
using Trainyard.Core.Expressions;
using Trainyard.Core.Spec;
using Trainyard.Core.Steps;
using Trainyard.Core.Text;

namespace Trainyard.Core.Validation;

/// <summary>
/// Semantic checks of a pipeline: ids, needs, cycles, expressions and what they reference, params, triggers, retry,
/// executors and built-in steps. Reports every problem in one pass; never stops at the first.
/// </summary>
public static partial class PipelineValidator
{
    /// <summary>Step and pipeline ids.</summary>
    [GeneratedRegex("^[a-z][a-z0-9-]{0,62}$", RegexOptions.CultureInvariant)]
    public static partial Regex IdPattern();

    /// <summary>Param and output names (identifiers; '-' allowed as in step ids).</summary>
    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_-]{0,62}$", RegexOptions.CultureInvariant)]
    public static partial Regex NamePattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex SettingPattern();

    [GeneratedRegex("^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$", RegexOptions.CultureInvariant)]
    private static partial Regex ContainerPattern();

    [GeneratedRegex(@"\{([^{}]*)\}", RegexOptions.CultureInvariant)]
    private static partial Regex CapturePattern();

    /// <summary>Validates a spec. Pass the source map from loading to get exact positions; without one, steps' locations are used.</summary>
    public static IReadOnlyList<Diagnostic> Validate(PipelineSpec spec, StepCatalog? catalog = null, SpecSourceMap? sourceMap = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var run = new Checker(spec, catalog ?? StandardSteps.Catalog, sourceMap);
        run.CheckAll();
        return PipelineLoader.Order(run.Diagnostics);
    }

    private readonly record struct Site(int StepIndex, bool AllowItem, bool AllowTrigger);

    private sealed class Checker(PipelineSpec spec, StepCatalog catalog, SpecSourceMap? map)
    {
        private readonly string _file = map?.File ?? spec.Source ?? "pipeline";
        private readonly Dictionary<string, int> _stepIndex = new(StringComparer.Ordinal);
        private readonly HashSet<string> _usedParams = new(StringComparer.Ordinal);
        private readonly HashSet<(int, string)> _usedOutputs = [];
        private readonly HashSet<int> _wholeOutputsUsed = [];
        private Dictionary<string, ParamSpec> _params = [];
        private PipelineGraph _graph = PipelineGraph.Create([]);

        public List<Diagnostic> Diagnostics { get; } = [];

        public void CheckAll()
        {
            if (spec.Name.Length > 0 && !IdPattern().IsMatch(spec.Name))
            {
                Error(DiagnosticCodes.InvalidId, "name", null, $"pipeline name '{spec.Name}' is not a valid id", "use lower-case letters, digits and '-', starting with a letter (at most 63 characters)");
            }

            if (spec.MaxParallel is < 1)
            {
                Error(DiagnosticCodes.OutOfRange, "maxParallel", null, $"maxParallel is {spec.MaxParallel}; it must be at least 1", "set maxParallel to 1 or more, or remove it for no bound");
            }

            Positive(spec.Timeout, "timeout", null);
            CheckParams();
            CheckDefaults();
            CheckSteps();
            CheckTriggers();
            CheckNotify(spec.Notify, "notify", null);
            for (int i = 0; i < spec.Steps.Count; i++)
            {
                CheckNotify(spec.Steps[i].Notify, $"steps[{i}].notify", spec.Steps[i].Id.Length > 0 ? spec.Steps[i].Id : null);
            }

            Warnings();
        }

        // ---- notify ---------------------------------------------------------------------------------------------------

        private void CheckNotify(IReadOnlyList<NotifySpec> entries, string path, string? stepId)
        {
            var stepLevel = path.StartsWith("steps", StringComparison.Ordinal);
            for (int i = 0; i < entries.Count; i++)
            {
                var n = entries[i];
                string p = $"{path}[{i}]";
                if ((n.Url is null) == (n.UrlFrom is null))
                {
                    Error(n.Url is null ? DiagnosticCodes.MissingField : DiagnosticCodes.InvalidValue, p, stepId,
                        n.Url is null ? "a notify entry needs `url:` or `urlFrom:`" : "a notify entry has either `url:` or `urlFrom:`, not both",
                        "write `url: https://...`, or `urlFrom: SETTING_NAME` to read the URL from configuration (Slack and Teams URLs carry their token: keep those out of the file)");
                }

                if (n.Url is { } url && !WebhookUrlAllowed(url))
                {
                    Error(DiagnosticCodes.InvalidValue, p + ".url", stepId, $"'{url}' is not a webhook URL Trainyard sends to",
                        "use an absolute https:// URL (http:// only to 127.0.0.1, [::1] or localhost), without user name or password");
                }

                SettingName(n.UrlFrom, p + ".urlFrom", stepId);
                SettingName(n.SecretFrom, p + ".secretFrom", stepId);
                Positive(n.StuckAfter, p + ".stuckAfter", stepId);
                var on = NotifyEvents.Effective(n, stepLevel);
                if (stepLevel)
                {
                    foreach (var e in on.Where(e => !NotifyEvents.StepLevel.Contains(e)))
                    {
                        Error(DiagnosticCodes.InvalidValue, p + ".on", stepId, $"'{NotifyEvents.NameOf(e)}' is a run event; a step's notify can send {string.Join(", ", NotifyEvents.StepLevel.Select(NotifyEvents.NameOf))}",
                            "move this entry to the pipeline's top-level `notify:`");
                    }

                    if (n.StuckAfter is not null)
                    {
                        Error(DiagnosticCodes.InvalidValue, p + ".stuckAfter", stepId, "`stuckAfter` belongs to a pipeline-level notify entry (runs get stuck, not steps)", "move it to the top-level `notify:`");
                    }
                }
                else if (n.StuckAfter is null && n.On is not null && n.On.Contains(NotifyEvent.RunStuck))
                {
                    Error(DiagnosticCodes.MissingField, p + ".stuckAfter", stepId, "`run-stuck` needs `stuckAfter:` (how long a run may run)", "add `stuckAfter: 2h` (or whatever is too long for this pipeline)");
                }
                else if (n.StuckAfter is not null && !on.Contains(NotifyEvent.RunStuck))
                {
                    Warning(DiagnosticCodes.NoEffect, p + ".stuckAfter", stepId, "`stuckAfter` is set but `on` does not list run-stuck", "add run-stuck to `on`, or remove `stuckAfter`");
                }
            }
        }

        private void SettingName(string? name, string path, string? stepId)
        {
            if (name is not null && !SettingPattern().IsMatch(name))
            {
                Error(DiagnosticCodes.InvalidValue, path, stepId, $"'{name}' is not a setting name", "name an environment variable / app setting such as ALERTS_WEBHOOK_SECRET (letters, digits and '_'); the value itself never goes into the file");
            }
        }

        private static bool WebhookUrlAllowed(string url)
            => Uri.TryCreate(url, UriKind.Absolute, out var u) && u.UserInfo.Length == 0
                && (u.Scheme == Uri.UriSchemeHttps || (u.Scheme == Uri.UriSchemeHttp && (u.IsLoopback || u.Host == "localhost")));

        // ---- params, defaults, triggers ---------------------------------------------------------------------------

        private void CheckParams()
        {
            _params = new Dictionary<string, ParamSpec>(StringComparer.Ordinal);
            foreach (var p in spec.Params)
            {
                string path = "params." + p.Name;
                if (!NamePattern().IsMatch(p.Name))
                {
                    Error(DiagnosticCodes.InvalidId, path, null, $"param name '{p.Name}' is not a valid name", "use letters, digits, '_' and '-', starting with a letter or '_'", key: true);
                }

                _params.TryAdd(p.Name, p);
                if (p.Default is { } d && !ParamResolver.Matches(p.Type, d))
                {
                    Error(DiagnosticCodes.ParamType, path + ".default", null,
                        $"default {ParamResolver.DescribeValue(d)} is not {ParamResolver.Describe(p.Type)}",
                        $"give a default that is {ParamResolver.Describe(p.Type)}{ParamResolver.Example(p.Type)}, or change `type:`");
                }

                if (p.Required && p.Default is not null)
                {
                    Warning(DiagnosticCodes.NoEffect, path + ".required", null, $"param '{p.Name}' is required but has a default, so it never needs a value", "remove `required: true` or the default");
                }
            }
        }

        private void CheckDefaults()
        {
            if (spec.Defaults.Retry is { } r)
            {
                CheckRetry(r, "defaults.retry", null);
            }

            Positive(spec.Defaults.Timeout, "defaults.timeout", null);
        }

        private void CheckTriggers()
        {
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < spec.Triggers.Count; i++)
            {
                var t = spec.Triggers[i];
                string path = $"triggers[{i}]";
                if (!seen.TryAdd(t.Id, i))
                {
                    Error(DiagnosticCodes.DuplicateId, path + ".id", null, $"trigger id '{t.Id}' is used by triggers[{seen[t.Id]}] too", "give each trigger a distinct `id:`: it is part of the deterministic run ids");
                }
                else if (!IdPattern().IsMatch(t.Id))
                {
                    Error(DiagnosticCodes.InvalidId, path + ".id", null, $"trigger id '{t.Id}' is not a valid id", "use lower-case letters, digits and '-', starting with a letter");
                }

                switch (t)
                {
                    case ScheduleTriggerSpec s:
                        CheckCron(s.Cron, path + ".cron");
                        CheckTimeZone(s.TimeZone, path + ".timezone");
                        if (s.MaxCatchUp is < 1 or > 10_000)
                        {
                            Error(DiagnosticCodes.OutOfRange, path + ".maxCatchUp", null, $"maxCatchUp is {s.MaxCatchUp}; it must be 1..10000", "set maxCatchUp between 1 and 10000");
                        }

                        break;
                    case BlobTriggerSpec b:
                        if (b.Container.Length > 0 && !ContainerPattern().IsMatch(b.Container))
                        {
                            Error(DiagnosticCodes.InvalidTrigger, path + ".container", null, $"'{b.Container}' is not a valid blob container name", "use 3-63 lower-case letters, digits and single '-', starting and ending with a letter or digit");
                        }

                        CheckBlobPath(b.Path, path + ".path");
                        Positive(b.Debounce, path + ".debounce", null);
                        break;
                    case DriftTriggerSpec dr:
                        if (!double.IsFinite(dr.Threshold))
                        {
                            Error(DiagnosticCodes.OutOfRange, path + ".threshold", null, "threshold must be a finite number", "write a number such as 0.2");
                        }

                        if (dr.Cooldown < TimeSpan.Zero)
                        {
                            Error(DiagnosticCodes.OutOfRange, path + ".cooldown", null, "cooldown must not be negative", "write a duration such as 6h");
                        }

                        break;
                    default:
                        break;
                }

                foreach (var (name, value) in t.Params)
                {
                    string ppath = $"{path}.params.{name}";
                    if (!_params.TryGetValue(name, out var p))
                    {
                        Error(DiagnosticCodes.InvalidTrigger, ppath, null, $"the trigger sets param '{name}', which the pipeline does not declare{Suggest.DidYouMean(name, _params.Keys)}",
                            $"declare it under `params:` or fix the name; declared params: {List(_params.Keys)}", key: true);
                    }
                    else if (!(value.ValueKind == JsonValueKind.String && Template.ContainsExpression(value.GetString()!)) && !ParamResolver.Matches(p.Type, value))
                    {
                        Error(DiagnosticCodes.ParamType, ppath, null, $"{ParamResolver.DescribeValue(value)} is not {ParamResolver.Describe(p.Type)} (param '{name}' is declared {p.Type.ToString().ToLowerInvariant()})",
                            $"give {ParamResolver.Describe(p.Type)}{ParamResolver.Example(p.Type)}");
                    }

                    CheckValue(value, ppath, new Site(-1, false, true));
                }
            }
        }

        private void CheckCron(string cron, string path)
        {
            if (cron.Length == 0)
            {
                return;
            }

            int fields = cron.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
            if (fields is not (5 or 6))
            {
                Error(DiagnosticCodes.InvalidCron, path, null, $"cron '{cron}' has {fields} fields", "write 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, e.g. \"0 2 * * *\"");
                return;
            }

            try
            {
                CronExpression.Parse(cron, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
            }
            catch (CronFormatException ex)
            {
                Error(DiagnosticCodes.InvalidCron, path, null, $"cron '{cron}' is invalid: {ex.Message.TrimEnd('.')}", "fix the expression, e.g. \"0 2 * * *\" (02:00 daily) or \"*/15 * * * *\" (every 15 minutes)");
            }
        }

        private void CheckTimeZone(string zone, string path)
        {
            try
            {
                TimeZoneInfo.FindSystemTimeZoneById(zone);
            }
            catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
            {
                var known = TimeZoneInfo.GetSystemTimeZones().Select(z => z.Id);
                Error(DiagnosticCodes.InvalidTimeZone, path, null, $"unknown time zone '{zone}'{Suggest.DidYouMean(zone, known)}", "use an IANA id such as Europe/Amsterdam or a Windows id such as W. Europe Standard Time (UTC when omitted)");
            }
        }

        private void CheckBlobPath(string path, string field)
        {
            if (path.Length == 0)
            {
                return;
            }

            if (path.StartsWith('/'))
            {
                Error(DiagnosticCodes.InvalidTrigger, field, null, $"path '{path}' starts with '/'", "write the path inside the container without a leading '/', e.g. incoming/{date}/*.csv");
            }

            int open = path.Count(c => c == '{');
            int close = path.Count(c => c == '}');
            if (open != close)
            {
                Error(DiagnosticCodes.InvalidTrigger, field, null, $"path '{path}' has unbalanced braces", "write captures as {name}");
                return;
            }

            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (Match m in CapturePattern().Matches(path))
            {
                var name = m.Groups[1].Value;
                if (!NamePattern().IsMatch(name))
                {
                    Error(DiagnosticCodes.InvalidTrigger, field, null, $"capture '{{{name}}}' in path '{path}' is not a valid name", "name captures with letters, digits, '_' or '-', e.g. {date}");
                }
                else if (!names.Add(name))
                {
                    Error(DiagnosticCodes.InvalidTrigger, field, null, $"capture '{{{name}}}' appears twice in path '{path}'", "give each capture a distinct name");
                }
            }
        }

        // ---- steps ----------------------------------------------------------------------------------------------------

        private void CheckSteps()
        {
            var steps = spec.Steps;
            for (int i = 0; i < steps.Count; i++)
            {
                var s = steps[i];
                if (s.Id.Length == 0)
                {
                    continue;
                }

                if (!IdPattern().IsMatch(s.Id))
                {
                    Error(DiagnosticCodes.InvalidId, $"steps[{i}].id", s.Id, $"step id '{s.Id}' is not a valid id", "use lower-case letters, digits and '-', starting with a letter (at most 63 characters), e.g. train-model");
                }

                if (!_stepIndex.TryAdd(s.Id, i))
                {
                    var first = At($"steps[{_stepIndex[s.Id]}].id", _stepIndex[s.Id]);
                    Error(DiagnosticCodes.DuplicateId, $"steps[{i}].id", s.Id, $"step id '{s.Id}' is already used by the step at line {first.Line}", "give every step a distinct id");
                }
            }

            // Needs: unknown and self references first; cycles over the remaining edges.
            for (int i = 0; i < steps.Count; i++)
            {
                var s = steps[i];
                for (int j = 0; j < s.Needs.Count; j++)
                {
                    var n = s.Needs[j];
                    string path = $"steps[{i}].needs[{j}]";
                    if (n == s.Id)
                    {
                        Error(DiagnosticCodes.SelfNeed, path, s.Id, $"step '{s.Id}' needs itself", "remove it from its own needs");
                    }
                    else if (!_stepIndex.ContainsKey(n))
                    {
                        var suggestion = Suggest.Closest(n, _stepIndex.Keys);
                        Error(DiagnosticCodes.UnknownNeed, path, s.Id, $"unknown step '{n}'{(suggestion is null ? "" : $" — did you mean '{suggestion}'?")}",
                            suggestion is null ? "name a step declared in this file" : $"change it to '{suggestion}'");
                    }
                }
            }

            _graph = PipelineGraph.Create(steps.Where(s => s.Id.Length > 0).Select(s => (s.Id, s.Needs.Where(n => n != s.Id))));
            foreach (var cycle in _graph.FindCycles())
            {
                int i = _stepIndex[cycle[0]];
                int j = IndexOfNeed(steps[i], cycle[1]);
                Error(DiagnosticCodes.Cycle, $"steps[{i}].needs[{j}]", cycle[0], $"steps form a cycle: {string.Join(" -> ", cycle)}",
                    "each step in the path needs the next; remove one of these needs so the steps can run in an order");
            }

            for (int i = 0; i < steps.Count; i++)
            {
                CheckStep(i, steps[i]);
            }
        }

        private static int IndexOfNeed(StepSpec s, string id)
        {
            for (int j = 0; j < s.Needs.Count; j++)
            {
                if (s.Needs[j] == id)
                {
                    return j;
                }
            }

            return 0;
        }

        private void CheckStep(int i, StepSpec s)
        {
            string path = $"steps[{i}]";
            string? id = s.Id.Length > 0 ? s.Id : null;
            if (s.Uses is not null && s.Run is not null)
            {
                Error(DiagnosticCodes.UsesOrRun, path + ".run", id, "a step has either `uses` or `run`, not both", "keep `uses:` for a built-in step, or `run:` for a command; split it into two steps if it needs both", key: true);
            }
            else if (s.Uses is null && s.Run is null)
            {
                Error(DiagnosticCodes.UsesOrRun, path, id, "the step has neither `uses` nor `run`", "add `uses: <built-in step>` or `run: { command: [...] }`");
            }

            BuiltinStepInfo? info = null;
            if (s.Uses is { Length: > 0 } uses)
            {
                info = catalog.Find(uses);
                if (info is null)
                {
                    var names = catalog.All.Select(b => b.Name).Order(StringComparer.Ordinal).ToList();
                    var suggestion = Suggest.Closest(uses, names);
                    Error(DiagnosticCodes.UnknownBuiltin, path + ".uses", id, $"unknown built-in step '{uses}'{(suggestion is null ? "" : $" — did you mean '{suggestion}'?")}",
                        $"built-in steps: {string.Join(", ", names)}; to run your own code use `run:`");
                }
                else
                {
                    CheckInputs(i, s, info);
                }
            }

            CheckExecutor(i, s);
            if (s.Retry is { } r)
            {
                CheckRetry(r, path + ".retry", id);
            }

            Positive(s.Timeout, path + ".timeout", id);
            if (s.Cache?.MaxAge is { } age)
            {
                Positive(age, path + ".cache.maxAge", id);
            }

            var outputNames = new HashSet<string>(StringComparer.Ordinal);
            for (int o = 0; o < s.Outputs.Count; o++)
            {
                var name = s.Outputs[o].Name;
                if (!NamePattern().IsMatch(name))
                {
                    Error(DiagnosticCodes.InvalidId, $"{path}.outputs[{o}]", id, $"output name '{name}' is not a valid name", "use letters, digits, '_' and '-', starting with a letter or '_'");
                }
                else if (!outputNames.Add(name))
                {
                    Error(DiagnosticCodes.DuplicateId, $"{path}.outputs[{o}]", id, $"output '{name}' is declared twice", "remove the second declaration");
                }
            }

            var site = new Site(i, s.Foreach is not null, false);
            if (s.Foreach is { } fe)
            {
                CheckForeach(i, s, fe);
            }

            foreach (var (key, value) in s.With)
            {
                CheckValue(value, $"{path}.with.{key}", site);
            }

            if (s.When is { } when)
            {
                CheckWhen(i, s, when);
            }

            if (s.Run is { } run)
            {
                for (int c = 0; c < run.Command.Count; c++)
                {
                    CheckTemplate(run.Command[c], $"{path}.run.command[{c}]", site);
                }

                foreach (var (k, v) in run.Env)
                {
                    CheckTemplate(v, $"{path}.run.env.{k}", site);
                }

                if (run.Image is { } image)
                {
                    CheckTemplate(image, $"{path}.run.image", site);
                }
            }
        }

        private void CheckInputs(int i, StepSpec s, BuiltinStepInfo info)
        {
            string path = $"steps[{i}]";
            foreach (var input in info.Inputs)
            {
                if (input.Required && !s.With.ContainsKey(input.Name))
                {
                    Error(DiagnosticCodes.MissingInput, s.With.Count > 0 ? path + ".with" : path + ".uses", s.Id, $"built-in step '{info.Name}' needs input '{input.Name}' ({input.Description.TrimEnd('.')})",
                        $"add `{input.Name}:` under `with:`");
                }
            }

            var names = info.Inputs.Select(x => x.Name).ToList();
            foreach (var (key, value) in s.With)
            {
                var input = info.Inputs.FirstOrDefault(x => x.Name == key);
                if (input is null)
                {
                    if (!info.AllowsExtraInputs)
                    {
                        var suggestion = Suggest.Closest(key, names);
                        Error(DiagnosticCodes.UnknownInput, $"{path}.with.{key}", s.Id, $"built-in step '{info.Name}' has no input '{key}'{(suggestion is null ? "" : $" — did you mean '{suggestion}'?")}",
                            names.Count == 0 ? $"'{info.Name}' takes no inputs: remove `with:`" : $"inputs of '{info.Name}': {string.Join(", ", names)}", key: true);
                    }

                    continue;
                }

                if (value.ValueKind == JsonValueKind.String && Template.ContainsExpression(value.GetString()!))
                {
                    continue;
                }

                if (!InputMatches(input.Type, value, out var expected))
                {
                    Error(DiagnosticCodes.InputType, $"{path}.with.{key}", s.Id, $"input '{key}' of '{info.Name}' must be {expected}, got {ParamResolver.DescribeValue(value)}",
                        $"write {expected} (or an expression `${{{{ ... }}}}` that gives one)");
                    continue;
                }

                CheckInputRule(input, value, $"{path}.with.{key}", s.Id, info.Name);
            }
        }

        /// <summary>Literal values of a path-like input follow the same rule the step applies at run time.</summary>
        private void CheckInputRule(StepInputInfo input, JsonElement value, string at, string stepId, string step)
        {
            if (input.Rule == InputRule.None)
            {
                return;
            }

            var items = value.ValueKind == JsonValueKind.Array ? value.EnumerateArray().ToList() : [value];
            for (int n = 0; n < items.Count; n++)
            {
                var item = items[n];
                if (item.ValueKind != JsonValueKind.String || Template.ContainsExpression(item.GetString()!))
                {
                    continue;
                }

                var text = item.GetString()!;
                if (InputRules.Problem(input.Rule, text) is { } problem)
                {
                    Error(DiagnosticCodes.InvalidValue, value.ValueKind == JsonValueKind.Array ? $"{at}[{n}]" : at, stepId,
                        $"input '{input.Name}' of '{step}': {Printable.Quote(text)} {problem}", InputRules.Hint(input.Rule));
                }
            }
        }

        private static bool InputMatches(string type, JsonElement v, out string expected)
        {
            switch (type)
            {
                case "integer":
                    expected = "an integer";
                    return ParamResolver.Matches(ParamType.Integer, v);
                case "number":
                    expected = "a number";
                    return v.ValueKind == JsonValueKind.Number;
                case "boolean":
                    expected = "true or false";
                    return v.ValueKind is JsonValueKind.True or JsonValueKind.False;
                case "list":
                    expected = "a list";
                    return v.ValueKind == JsonValueKind.Array;
                case "object":
                    expected = "a mapping";
                    return v.ValueKind == JsonValueKind.Object;
                case "string|list":
                    expected = "a single value or a list";
                    return v.ValueKind is not JsonValueKind.Object;
                case "duration":
                    expected = "a duration such as 30s or 5m";
                    return v.ValueKind == JsonValueKind.String && Duration.TryParse(v.GetString(), out _);
                default:
                    // Strings accept any scalar: `version: 3` reads as an integer in YAML but is meant as text.
                    expected = "a single value";
                    return v.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array);
            }
        }

        private void CheckExecutor(int i, StepSpec s)
        {
            string path = $"steps[{i}]";
            string? id = s.Id.Length > 0 ? s.Id : null;
            ExecutorKind effective;
            if (s.Uses is not null)
            {
                if (s.Executor is ExecutorKind.Local or ExecutorKind.Batch)
                {
                    Error(DiagnosticCodes.ExecutorMismatch, path + ".executor", id, $"built-in step '{s.Uses}' runs in-process, so it cannot use executor '{Name(s.Executor.Value)}'",
                        "remove `executor:` (built-in steps use builtin), or wrap your code in a `run:` step for local or batch");
                }

                effective = ExecutorKind.Builtin;
            }
            else
            {
                effective = s.Executor ?? (spec.Defaults.Executor is ExecutorKind.Batch ? ExecutorKind.Batch : ExecutorKind.Local);
                if (s.Run is not null && s.Executor == ExecutorKind.Builtin)
                {
                    Error(DiagnosticCodes.ExecutorMismatch, path + ".executor", id, "executor 'builtin' runs built-in steps only, but this step has `run`",
                        "use executor local (a process on the worker) or batch (an Azure Batch task) for commands");
                }
            }

            if (s.Resources is { } r)
            {
                string rp = path + ".resources";
                if (r.Cpu is <= 0)
                {
                    Error(DiagnosticCodes.OutOfRange, rp + ".cpu", id, $"cpu is {r.Cpu}; it must be more than 0", "ask for at least a fraction of a core, e.g. 0.5");
                }

                if (r.MemoryGiB is <= 0)
                {
                    Error(DiagnosticCodes.OutOfRange, rp + ".memoryGiB", id, $"memoryGiB is {r.MemoryGiB}; it must be more than 0", "ask for memory in GiB, e.g. 4");
                }

                if (r.Gpu is < 0)
                {
                    Error(DiagnosticCodes.OutOfRange, rp + ".gpu", id, $"gpu is {r.Gpu}; it must be 0 or more", "ask for a whole number of GPUs");
                }
                else if (r.Gpu is > 0 && effective != ExecutorKind.Batch)
                {
                    Warning(DiagnosticCodes.IgnoredResource, rp + ".gpu", id, $"executor '{Name(effective)}' cannot reserve GPUs, so gpu: {r.Gpu} is ignored",
                        "set `executor: batch` with a GPU pool to get GPUs, or remove `gpu:`");
                }

                if (r.Pool is not null && effective != ExecutorKind.Batch)
                {
                    Error(DiagnosticCodes.ExecutorMismatch, rp + ".pool", id, $"pool '{r.Pool}' needs executor batch, but the step runs on '{Name(effective)}'",
                        "set `executor: batch`, or remove `pool:`");
                }
            }

            if (s.Run?.Image is not null && effective == ExecutorKind.Local)
            {
                Warning(DiagnosticCodes.NoEffect, path + ".run.image", id, "the local executor runs commands directly and ignores `image`",
                    "set `executor: batch` to run in the container, or remove `image:`");
            }
        }

        private static string Name(ExecutorKind k) => k.ToString().ToLowerInvariant();

        private void CheckRetry(RetryPolicy r, string path, string? id)
        {
            if (r.MaxAttempts is < 1 or > 100)
            {
                Error(DiagnosticCodes.RetryBounds, path + ".maxAttempts", id, $"maxAttempts is {r.MaxAttempts}; it must be 1..100", "set maxAttempts between 1 (no retry) and 100");
            }

            if (!(r.BackoffCoefficient >= 1) || !double.IsFinite(r.BackoffCoefficient))
            {
                Error(DiagnosticCodes.RetryBounds, path + ".backoffCoefficient", id, $"backoffCoefficient is {r.BackoffCoefficient.ToString(CultureInfo.InvariantCulture)}; it must be at least 1",
                    "use 1 for a constant delay or 2 to double it each attempt");
            }

            if (!(r.Jitter is >= 0 and <= 1))
            {
                Error(DiagnosticCodes.RetryBounds, path + ".jitter", id, $"jitter is {r.Jitter.ToString(CultureInfo.InvariantCulture)}; it must be 0..1", "use a fraction such as 0.1 (delays vary by ±10%)");
            }

            if (r.InitialInterval <= TimeSpan.Zero)
            {
                Error(DiagnosticCodes.RetryBounds, path + ".initialInterval", id, "initialInterval must be more than 0", "write a duration such as 1s");
            }

            if (r.MaxInterval <= TimeSpan.Zero)
            {
                Error(DiagnosticCodes.RetryBounds, path + ".maxInterval", id, "maxInterval must be more than 0", "write a duration such as 5m");
            }
            else if (r.MaxInterval < r.InitialInterval)
            {
                Error(DiagnosticCodes.RetryBounds, path + ".maxInterval", id, $"maxInterval ({Duration.Format(r.MaxInterval)}) is shorter than initialInterval ({Duration.Format(r.InitialInterval)})",
                    "make maxInterval at least initialInterval");
            }
        }

        private void Positive(TimeSpan? value, string path, string? id)
        {
            if (value is { } v && v <= TimeSpan.Zero)
            {
                Error(DiagnosticCodes.OutOfRange, path, id, $"{path[(path.LastIndexOf('.') + 1)..]} must be more than 0", "write a positive duration such as 30s or 10m, or remove it");
            }
        }

        private void CheckForeach(int i, StepSpec s, ForeachSpec fe)
        {
            string path = $"steps[{i}].foreach";
            string itemsPath = map is not null && map.Find(path + ".items") != map.Find(path) ? path + ".items" : path;
            if (fe.MaxParallel is < 1)
            {
                Error(DiagnosticCodes.OutOfRange, path + ".maxParallel", s.Id, $"maxParallel is {fe.MaxParallel}; it must be at least 1", "set maxParallel to 1 or more, or remove it for no bound");
            }

            var items = fe.Items;
            switch (items.ValueKind)
            {
                case JsonValueKind.Array:
                    if (items.GetArrayLength() == 0)
                    {
                        Warning(DiagnosticCodes.AlwaysSkipped, itemsPath, s.Id, "foreach over an empty list: the step never runs", "give the list at least one item, or remove the step");
                    }

                    CheckValue(items, itemsPath, new Site(i, false, false));
                    return;
                case JsonValueKind.String when Template.ContainsExpression(items.GetString()!):
                    var text = items.GetString()!;
                    Template tpl;
                    try
                    {
                        tpl = Template.Parse(text);
                    }
                    catch (ExpressionException ex)
                    {
                        Error(DiagnosticCodes.ExpressionSyntax, itemsPath, s.Id, $"expression error: {ex.Message}", "fix the expression", at: AtString(itemsPath, ex.Position, i));
                        return;
                    }

                    if (!tpl.IsSingleExpression)
                    {
                        Error(DiagnosticCodes.ForeachNotList, itemsPath, s.Id, "foreach text mixes words and expressions, so it is a string, not a list", "write a single expression that gives a list, e.g. ${{ params.trainers }}");
                        return;
                    }

                    var (expr, offset) = tpl.ExpressionSpans.First();
                    CheckExpr(expr, offset, itemsPath, new Site(i, false, false));
                    if (expr is LiteralExpr lit && lit.Value.ValueKind != JsonValueKind.Array)
                    {
                        Error(DiagnosticCodes.ForeachNotList, itemsPath, s.Id, $"foreach over {ParamResolver.DescribeValue(lit.Value)}, which is not a list", "give a list such as [a, b] or a list param");
                    }
                    else if (expr is RefExpr { Path: ["params", var pn, ..] } pr && pr.Path.Count == 2 && _params.TryGetValue(pn, out var p) && p.Type != ParamType.List)
                    {
                        Error(DiagnosticCodes.ForeachNotList, itemsPath, s.Id, $"foreach over param '{pn}', which is {ParamResolver.Describe(p.Type)}, not a list",
                            $"declare '{pn}' with `type: list`, or fan out over a list", at: AtString(itemsPath, offset + pr.Position, i));
                    }
                    else if (expr is UnaryExpr or BinaryExpr)
                    {
                        Error(DiagnosticCodes.ForeachNotList, itemsPath, s.Id, "foreach over a comparison or logic expression, which gives a boolean, not a list", "reference a list: a list param or a step output");
                    }

                    return;
                default:
                    Error(DiagnosticCodes.ForeachNotList, itemsPath, s.Id, $"foreach over {ParamResolver.DescribeValue(items)}, which is not a list",
                        "give a list such as [fasttree, lightgbm] or an expression such as ${{ params.trainers }}");
                    return;
            }
        }

        private void CheckWhen(int i, StepSpec s, string when)
        {
            string path = $"steps[{i}].when";
            var site = new Site(i, s.Foreach is not null, false);
            int lead = when.Length - when.TrimStart().Length;
            var trimmed = when.Trim();
            Expr expr;
            int offset;
            try
            {
                if (trimmed.StartsWith("${{", StringComparison.Ordinal))
                {
                    var tpl = Template.Parse(trimmed);
                    if (!tpl.IsSingleExpression)
                    {
                        Error(DiagnosticCodes.ExpressionSyntax, path, s.Id, "a condition must be one expression, with nothing around the ${{ }}", "put the whole condition inside one ${{ }}, or write it without ${{ }}");
                        return;
                    }

                    (expr, offset) = tpl.ExpressionSpans.First();
                    offset += lead;
                }
                else
                {
                    expr = ExpressionParser.Parse(when);
                    offset = 0;
                }
            }
            catch (ExpressionException ex)
            {
                int pos = ex.Position + (trimmed.StartsWith("${{", StringComparison.Ordinal) ? lead : 0);
                Error(DiagnosticCodes.ExpressionSyntax, path, s.Id, $"expression error: {ex.Message}", "fix the condition, e.g. steps.gate.outputs.passed && params.deploy", at: AtString(path, pos, i));
                return;
            }

            CheckExpr(expr, offset, path, site);
            if (!expr.References().Any())
            {
                JsonElement? value = null;
                try
                {
                    value = ExpressionEvaluator.Evaluate(expr, new JsonScope(default));
                }
                catch (ExpressionException ex)
                {
                    Error(DiagnosticCodes.ExpressionSyntax, path, s.Id, $"expression error: {ex.Message}", "fix the condition", at: AtString(path, offset + ex.Position, i));
                }

                if (value is { } v && !ExpressionEvaluator.IsTruthy(v))
                {
                    Warning(DiagnosticCodes.AlwaysSkipped, path, s.Id, $"the condition is always false, so step '{s.Id}' is always skipped (and so are the steps that need it)",
                        "make the condition depend on params or step outputs, or remove the step");
                }
            }
        }

        // ---- expressions ------------------------------------------------------------------------------------------

        private void CheckValue(JsonElement value, string path, Site site)
        {
            switch (value.ValueKind)
            {
                case JsonValueKind.String:
                    CheckTemplate(value.GetString()!, path, site);
                    break;
                case JsonValueKind.Array:
                    int n = 0;
                    foreach (var item in value.EnumerateArray())
                    {
                        CheckValue(item, $"{path}[{n++}]", site);
                    }

                    break;
                case JsonValueKind.Object:
                    foreach (var p in value.EnumerateObject())
                    {
                        CheckValue(p.Value, path + "." + p.Name, site);
                    }

                    break;
                default:
                    break;
            }
        }

        private void CheckTemplate(string text, string path, Site site)
        {
            if (!Template.ContainsExpression(text))
            {
                return;
            }

            Template tpl;
            try
            {
                tpl = Template.Parse(text);
            }
            catch (ExpressionException ex)
            {
                Error(DiagnosticCodes.ExpressionSyntax, path, StepId(site), $"expression error: {ex.Message}", "fix the expression inside ${{ }}", at: AtString(path, ex.Position, site.StepIndex));
                return;
            }

            foreach (var (expr, offset) in tpl.ExpressionSpans)
            {
                CheckExpr(expr, offset, path, site);
            }
        }

        private string? StepId(Site site) => site.StepIndex >= 0 && spec.Steps[site.StepIndex].Id is { Length: > 0 } id ? id : null;

        private void CheckExpr(Expr expr, int offset, string path, Site site)
        {
            foreach (var r in expr.References())
            {
                CheckRef(r, offset + r.Position, path, site);
            }
        }

        private void CheckRef(RefExpr r, int pos, string path, Site site)
        {
            var p = r.Path;
            string? self = StepId(site);
            void Fail(string code, string message, string help) => Error(code, path, self, message, help, at: AtString(path, pos, site.StepIndex));

            switch (p[0])
            {
                case "params":
                    if (p.Count < 2)
                    {
                        Fail(DiagnosticCodes.UnknownReference, "'params' needs a param name", "write params.<name>");
                    }
                    else if (!_params.ContainsKey(p[1]))
                    {
                        Fail(DiagnosticCodes.UnknownReference, $"unknown param '{p[1]}'{Suggest.DidYouMean(p[1], _params.Keys)}",
                            _params.Count == 0 ? "declare it under `params:`" : $"declare it under `params:` or use one of: {List(_params.Keys)}");
                    }
                    else
                    {
                        _usedParams.Add(p[1]);
                        CheckParamField(p, _params[p[1]], Fail);
                    }

                    return;
                case "steps":
                    CheckStepRef(p, self, site, Fail);
                    return;
                case "item":
                    if (!site.AllowItem)
                    {
                        Fail(DiagnosticCodes.ItemOutsideForeach, "'item' is only defined in a step with foreach",
                            site.StepIndex >= 0 && spec.Steps[site.StepIndex].Foreach is not null ? "the foreach list itself cannot use item: reference a param or a step output" : "add `foreach:` to this step, or reference a param or step output instead");
                    }

                    return;
                case "run":
                    if (p.Count < 2 || !SpecFields.RunContext.Contains(p[1]))
                    {
                        string field = p.Count < 2 ? "" : p[1];
                        Fail(DiagnosticCodes.UnknownReference, p.Count < 2 ? "'run' needs a field name" : $"unknown run field '{field}'{Suggest.DidYouMean(field, SpecFields.RunContext)}",
                            $"run fields: {string.Join(", ", SpecFields.RunContext.Select(f => "run." + f))}");
                    }

                    return;
                case "events":
                    if (p.Count < 2)
                    {
                        Fail(DiagnosticCodes.UnknownReference, "'events' needs an event name", "write events.<name> (the payload of an event raised into the run)");
                    }

                    return;
                case "trigger":
                    if (!site.AllowTrigger)
                    {
                        Fail(DiagnosticCodes.UnknownReference, "'trigger' is only available in a trigger's params",
                            "set a param from the trigger (triggers[n].params) and reference params.<name> here");
                    }

                    return;
                default:
                    var roots = site.AllowTrigger ? ["trigger", .. SpecFields.ExpressionRoots] : SpecFields.ExpressionRoots;
                    Fail(DiagnosticCodes.UnknownReference, $"unknown name '{p[0]}'{Suggest.DidYouMean(p[0], roots)}",
                        "expressions read params.<name>, steps.<id>.outputs.<name>, steps.<id>.status, item (in foreach steps), run.<field> and events.<name>; quote text literals: 'text'");
                    return;
            }
        }

        /// <summary>A scalar param has no fields and a list param only indexes: `params.lr.value` fails at run time, so `validate` says so.</summary>
        private static void CheckParamField(IReadOnlyList<string> p, ParamSpec param, Action<string, string, string> fail)
        {
            if (p.Count < 3)
            {
                return;
            }

            if (param.Type != ParamType.List)
            {
                fail(DiagnosticCodes.UnknownReference, $"param '{p[1]}' is {ParamResolver.Describe(param.Type)}, which has no field '{p[2]}'",
                    $"write params.{p[1]} (declare `type: list` to index it as params.{p[1]}[0])");
            }
            else if (!p[2].All(char.IsAsciiDigit))
            {
                fail(DiagnosticCodes.UnknownReference, $"param '{p[1]}' is a list, which has no field '{p[2]}'", $"index it: params.{p[1]}[0]");
            }
        }

        private void CheckStepRef(IReadOnlyList<string> p, string? self, Site site, Action<string, string, string> fail)
        {
            if (site.StepIndex < 0)
            {
                fail(DiagnosticCodes.UnknownReference, "step outputs are not available in trigger params", "reference trigger.<field> here and step outputs in steps");
                return;
            }

            if (p.Count < 2)
            {
                fail(DiagnosticCodes.UnknownReference, "'steps' needs a step id", "write steps.<id>.outputs.<name>");
                return;
            }

            var target = p[1];
            if (!_stepIndex.TryGetValue(target, out int ti))
            {
                var suggestion = Suggest.Closest(target, _stepIndex.Keys);
                fail(DiagnosticCodes.UnknownStepReference, $"unknown step '{target}'{(suggestion is null ? "" : $" — did you mean '{suggestion}'?")}",
                    suggestion is null ? "reference a step declared in this file" : $"change it to '{suggestion}'");
                return;
            }

            if (target == self)
            {
                fail(DiagnosticCodes.NotUpstream, $"step '{target}' references its own outputs", "a step can only read outputs of steps it needs");
                return;
            }

            if (self is not null && !_graph.IsAncestor(target, self))
            {
                fail(DiagnosticCodes.NotUpstream, $"step '{target}' is not upstream of '{self}', so its outputs may not exist yet",
                    $"add '{target}' to the needs of '{self}' (directly or through a step it needs)");
                return;
            }

            if (p.Count == 3 && p[2] == "status")
            {
                return;
            }

            if (p.Count < 3 || p[2] != "outputs")
            {
                fail(DiagnosticCodes.UnknownReference, p.Count < 3 ? $"'steps.{target}' needs '.outputs'" : $"'{p[2]}' is not readable on a step{Suggest.DidYouMean(p[2], ["outputs"])}",
                    $"write steps.{target}.outputs.<name> (or steps.{target}.outputs for all of them, or steps.{target}.status)");
                return;
            }

            if (p.Count == 3)
            {
                _wholeOutputsUsed.Add(ti);
                return;
            }

            var known = OutputsOf(spec.Steps[ti]);
            if (known is null)
            {
                return;
            }

            if (!known.Contains(p[3]))
            {
                var suggestion = Suggest.Closest(p[3], known);
                fail(DiagnosticCodes.UnknownOutput, $"step '{target}' has no output '{p[3]}'{(suggestion is null ? "" : $" — did you mean '{suggestion}'?")}",
                    known.Count == 0 ? $"declare it under `outputs:` of step '{target}'" : $"outputs of '{target}': {List(known)}; declare others under its `outputs:`");
                return;
            }

            _usedOutputs.Add((ti, p[3]));
        }

        /// <summary>Declared outputs, plus a built-in's own (and its inputs for steps that echo them); null when unknown.</summary>
        private List<string>? OutputsOf(StepSpec step)
        {
            var names = step.Outputs.Select(o => o.Name).ToList();
            if (step.Uses is { } uses)
            {
                if (catalog.Find(uses) is not { } info)
                {
                    return null;
                }

                names.AddRange(info.Outputs);
                if (info.EchoesInputs)
                {
                    names.AddRange(step.With.Keys);
                }
            }

            return names;
        }

        // ---- warnings ---------------------------------------------------------------------------------------------------

        private void Warnings()
        {
            foreach (var p in spec.Params)
            {
                if (!_usedParams.Contains(p.Name) && !spec.Triggers.Any(t => t.Params.ContainsKey(p.Name)))
                {
                    Warning(DiagnosticCodes.UnusedParam, "params." + p.Name, null, $"param '{p.Name}' is never used", $"reference it as ${{{{ params.{p.Name} }}}} or remove it", key: true);
                }
                else if (!_usedParams.Contains(p.Name))
                {
                    Warning(DiagnosticCodes.UnusedParam, "params." + p.Name, null, $"param '{p.Name}' is set by a trigger but never read", $"reference it as ${{{{ params.{p.Name} }}}} or remove it", key: true);
                }
            }

            for (int i = 0; i < spec.Steps.Count; i++)
            {
                if (_wholeOutputsUsed.Contains(i))
                {
                    continue;
                }

                var s = spec.Steps[i];
                for (int o = 0; o < s.Outputs.Count; o++)
                {
                    if (!_usedOutputs.Contains((i, s.Outputs[o].Name)))
                    {
                        Warning(DiagnosticCodes.UnusedOutput, $"steps[{i}].outputs[{o}]", s.Id, $"output '{s.Outputs[o].Name}' is never referenced",
                            $"read it downstream as ${{{{ steps.{s.Id}.outputs.{s.Outputs[o].Name} }}}}, or remove the declaration");
                    }
                }
            }
        }

        // ---- reporting ------------------------------------------------------------------------------------------------

        private static string List(IEnumerable<string> names)
        {
            var all = names.ToList();
            return all.Count <= 12 ? string.Join(", ", all) : string.Join(", ", all.Take(12)) + $", ... ({all.Count} in all)";
        }

        private SourceLocation At(string path, int stepIndex = -1, bool key = false)
        {
            if (map is not null)
            {
                return key ? map.FindKey(path) : map.Find(path);
            }

            return (stepIndex >= 0 && stepIndex < spec.Steps.Count ? spec.Steps[stepIndex].Location : null) ?? new SourceLocation(_file, 1, 1);
        }

        private SourceLocation AtString(string path, int offset, int stepIndex) =>
            map is not null ? map.FindInString(path, offset) : At(path, stepIndex);

        private int StepIndexOf(string path)
        {
            if (!path.StartsWith("steps[", StringComparison.Ordinal))
            {
                return -1;
            }

            int close = path.IndexOf(']', StringComparison.Ordinal);
            return int.Parse(path.AsSpan(6, close - 6), CultureInfo.InvariantCulture);
        }

        private void Error(string code, string path, string? stepId, string message, string help, bool key = false, SourceLocation? at = null) =>
            Add(Severity.Error, code, path, stepId, message, help, key, at);

        private void Warning(string code, string path, string? stepId, string message, string help, bool key = false) =>
            Add(Severity.Warning, code, path, stepId, message, help, key, null);

        private void Add(Severity severity, string code, string path, string? stepId, string message, string help, bool key, SourceLocation? at)
        {
            var loc = at ?? At(path, StepIndexOf(path), key);
            Diagnostics.Add(new Diagnostic(severity, code, loc.File, loc.Line, loc.Column, stepId, path, message, help));
        }
    }
}
