using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Spectre.Console;
using Trainyard.Core.Expressions;
using Trainyard.Core.Spec;
using Trainyard.Core.Text;

namespace Trainyard.Cli;

/// <summary>`trainyard plan FILE [--param k=v]... [--format text|mermaid|dot]`: what a run would do, without running it.</summary>
internal static class PlanCommands
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "Pipeline YAML file" };
        var param = new Option<string[]>("--param", "-p") { Description = "Set a param: --param name=value (repeatable)", Arity = ArgumentArity.ZeroOrMore, AllowMultipleArgumentsPerToken = false };
        var format = new Option<string>("--format") { Description = "text (default), mermaid or dot (Graphviz) for the DAG", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "mermaid", "dot");
        var command = new Command("plan", "Show resolved params, stages (steps that can run together), maximum parallelism and the critical path");
        command.Arguments.Add(file);
        command.Options.Add(param);
        command.Options.Add(format);
        command.SetAction(parseResult => Run(
            parseResult.GetValue(file)!,
            parseResult.GetValue(param) ?? [],
            parseResult.GetValue(format) ?? "text",
            parseResult.InvocationConfiguration.Output,
            parseResult.InvocationConfiguration.Error));
        return command;
    }

    internal static int Run(string file, IReadOnlyList<string> paramArgs, string format, TextWriter output, TextWriter error)
    {
        var supplied = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var arg in paramArgs)
        {
            int eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                error.WriteLine($"--param {Printable.Quote(arg)} is not name=value: write e.g. --param minAuc=0.8");
                return CliApp.UsageError;
            }

            supplied[arg[..eq]] = arg[(eq + 1)..];
        }

        if (ValidateCommands.TryLoad(file, error) is not { } result)
        {
            return CliApp.UsageError;
        }

        if (result.Spec is not { } spec)
        {
            ValidateCommands.WriteDiagnostics(result.Diagnostics, error);
            error.WriteLine($"{Printable.Escape(file)}: not planned: {result.Errors.Count()} error(s)");
            return CliApp.InvalidSpec;
        }

        var resolution = ParamResolver.ResolveText(spec, supplied);
        if (!resolution.Succeeded)
        {
            // A bad --param is a usage error, as it is for `run`.
            ValidateCommands.WriteDiagnostics(resolution.Errors, error);
            return CliApp.UsageError;
        }

        var plan = Plan.Create(spec, resolution.Values);
        switch (format)
        {
            case "mermaid":
                output.Write(Printable.Escape(plan.ToMermaid(), keepNewlines: true));
                break;
            case "dot":
                output.Write(Printable.Escape(plan.ToDot(), keepNewlines: true));
                break;
            default:
                var (cli, given, warnings) = (new CliOutput(json: false, output, error), supplied.Keys.ToHashSet(StringComparer.Ordinal), result.Warnings.Count());
                if (cli.Rich)
                {
                    cli.Ansi.Write(plan.ToTree(given, warnings));
                }
                else
                {
                    output.Write(Printable.Escape(plan.ToText(given, warnings), keepNewlines: true));
                }

                break;
        }

        return 0;
    }

    /// <summary>A computed plan: stages plus each step's fan-out when it is known before the run.</summary>
    internal sealed record Plan(PipelineSpec Spec, IReadOnlyDictionary<string, JsonElement> Params, PipelineGraph Graph, IReadOnlyDictionary<string, FanOut> FanOuts)
    {
        public static Plan Create(PipelineSpec spec, IReadOnlyDictionary<string, JsonElement> values)
        {
            var fanOuts = new Dictionary<string, FanOut>(StringComparer.Ordinal);
            foreach (var s in spec.Steps)
            {
                if (s.Foreach is { } fe)
                {
                    fanOuts[s.Id] = FanOutOf(fe, values);
                }
            }

            return new Plan(spec, values, PipelineGraph.FromSpec(spec), fanOuts);
        }

        private static FanOut FanOutOf(ForeachSpec fe, IReadOnlyDictionary<string, JsonElement> values)
        {
            if (fe.Items.ValueKind == JsonValueKind.Array)
            {
                return new FanOut(fe.Items.GetRawText(), fe.Items.GetArrayLength(), fe.MaxParallel);
            }

            var text = fe.Items.GetString() ?? "";
            try
            {
                var scope = new JsonScope(JsonSerializer.SerializeToElement(new Dictionary<string, object> { ["params"] = values }));
                var value = Template.Parse(text).Evaluate(scope);
                if (value.ValueKind == JsonValueKind.Array)
                {
                    return new FanOut(text, value.GetArrayLength(), fe.MaxParallel);
                }
            }
            catch (ExpressionException)
            {
                // References step outputs: the count is only known during the run.
            }

            return new FanOut(text, null, fe.MaxParallel);
        }

        /// <summary>Most tasks in flight at once in the widest stage, counting known fan-outs (bounded by maxParallel).</summary>
        public int MaxTasks => Graph.Stages().Select(stage => stage.Sum(TasksOf)).DefaultIfEmpty(0).Max();

        private int TasksOf(string id) => FanOuts.TryGetValue(id, out var f) ? Math.Min(f.Count ?? 1, f.MaxParallel ?? int.MaxValue) : 1;

        /// <summary>What `plan` prints, whichever way it is drawn.</summary>
        private sealed record Outline(
            string Title,
            IReadOnlyList<(string Name, string Value)> Params,
            IReadOnlyList<IReadOnlyList<string>> Stages,
            string Parallelism,
            string CriticalPath,
            IReadOnlyList<string> Triggers);

        private Outline Summarize(IReadOnlySet<string> supplied, int warnings)
        {
            var inv = CultureInfo.InvariantCulture;
            var parameters = Spec.Params.Select(p =>
            {
                string origin = supplied.Contains(p.Name) ? "--param" : p.Default is not null ? "default" : "not set";
                return (p.Name, $"{Params[p.Name].GetRawText()}  ({p.Type.ToString().ToLowerInvariant()}, {origin})");
            }).ToList();
            bool dynamic = FanOuts.Values.Any(f => f.Count is null);
            return new Outline(
                string.Create(inv, $"pipeline {Spec.Name} (version {Spec.ContentHash[..Math.Min(12, Spec.ContentHash.Length)]}, {Spec.Steps.Count} steps, {warnings} warnings)"),
                parameters,
                [.. Graph.Stages().Select(stage => (IReadOnlyList<string>)[.. stage.Select(Describe)])],
                string.Create(inv, $"max parallelism: {Graph.MaxParallelism} steps{(FanOuts.Count > 0 ? $", {MaxTasks}{(dynamic ? "+" : "")} tasks with fan-out" : "")}"),
                string.Create(inv, $"critical path: {Graph.CriticalPathLength} steps ({string.Join(" -> ", Graph.CriticalPath())})"),
                [.. Spec.Triggers.Select(t => $"{t.Id}: {DescribeTrigger(t)}")]);
        }

        public string ToText(IReadOnlySet<string> supplied, int warnings)
        {
            var o = Summarize(supplied, warnings);
            var sb = new StringBuilder();
            var inv = CultureInfo.InvariantCulture;
            sb.Append(inv, $"{o.Title}\n");
            sb.Append("params:\n");
            if (o.Params.Count == 0)
            {
                sb.Append("  (none)\n");
            }

            int width = o.Params.Select(p => p.Name.Length).DefaultIfEmpty(0).Max();
            foreach (var (name, value) in o.Params)
            {
                sb.Append(inv, $"  {name.PadRight(width)} = {value}\n");
            }

            sb.Append("stages (steps in a stage can run together):\n");
            for (int i = 0; i < o.Stages.Count; i++)
            {
                sb.Append(inv, $"  {i + 1}. {string.Join(", ", o.Stages[i])}\n");
            }

            sb.Append(inv, $"{o.Parallelism}\n");
            sb.Append(inv, $"{o.CriticalPath}\n");
            if (o.Triggers.Count > 0)
            {
                sb.Append("triggers:\n");
                foreach (var t in o.Triggers)
                {
                    sb.Append(inv, $"  {t}\n");
                }
            }

            return sb.ToString();
        }

        /// <summary>The same content as <see cref="ToText"/> as a Spectre tree (a terminal): every label is plain text, never markup.</summary>
        public Tree ToTree(IReadOnlySet<string> supplied, int warnings)
        {
            var o = Summarize(supplied, warnings);
            var tree = new Tree(SpectreViews.Cell(o.Title, new Style(decoration: Decoration.Bold)));
            var parameters = tree.AddNode(SpectreViews.Cell("params"));
            if (o.Params.Count == 0)
            {
                parameters.AddNode(SpectreViews.Cell("(none)", new Style(Color.Grey)));
            }

            foreach (var (name, value) in o.Params)
            {
                parameters.AddNode(SpectreViews.Cell($"{name} = {value}"));
            }

            var stages = tree.AddNode(SpectreViews.Cell("stages (steps in a stage can run together)"));
            for (int i = 0; i < o.Stages.Count; i++)
            {
                var stage = stages.AddNode(SpectreViews.Cell((i + 1).ToString(CultureInfo.InvariantCulture), new Style(Color.Blue)));
                foreach (var step in o.Stages[i])
                {
                    stage.AddNode(SpectreViews.Cell(step));
                }
            }

            tree.AddNode(SpectreViews.Cell(o.Parallelism));
            tree.AddNode(SpectreViews.Cell(o.CriticalPath, new Style(Color.Yellow)));
            if (o.Triggers.Count > 0)
            {
                var triggers = tree.AddNode(SpectreViews.Cell("triggers"));
                foreach (var t in o.Triggers)
                {
                    triggers.AddNode(SpectreViews.Cell(t));
                }
            }

            return tree;
        }

        private string Describe(string id)
        {
            var s = Spec.FindStep(id)!;
            var sb = new StringBuilder(id);
            if (FanOuts.TryGetValue(id, out var f))
            {
                sb.Append(CultureInfo.InvariantCulture, $" [foreach {f.Expression}: {(f.Count is { } c ? c.ToString(CultureInfo.InvariantCulture) + " items" : "known at run time")}{(f.MaxParallel is { } mp ? $", maxParallel {mp}" : "")}]");
            }

            if (s.When is { } when)
            {
                sb.Append(CultureInfo.InvariantCulture, $" [when {when.Trim()}]");
            }

            return sb.ToString();
        }

        private static string DescribeTrigger(TriggerSpec t) => t switch
        {
            ScheduleTriggerSpec s => $"schedule \"{s.Cron}\" ({s.TimeZone}, catch-up {s.CatchUp.ToString().ToLowerInvariant()})",
            BlobTriggerSpec b => $"blob {b.Container}/{b.Path}{(b.Debounce is { } d ? $" (debounce {Duration.Format(d)})" : "")}",
            DriftTriggerSpec d => $"drift {d.Model} {d.Metric} >= {d.Threshold.ToString(CultureInfo.InvariantCulture)} (cooldown {Duration.Format(d.Cooldown)})",
            _ => "manual",
        };

        private string Label(string id)
        {
            var s = Spec.FindStep(id)!;
            string kind = s.Uses is not null ? $"uses {s.Uses}" : $"run {s.Run?.Command.FirstOrDefault()}";
            string fan = FanOuts.TryGetValue(id, out var f) ? $" ×{(f.Count is { } c ? c.ToString(CultureInfo.InvariantCulture) : "n")}" : "";
            string when = s.When is not null ? " (conditional)" : "";
            return $"{id}{fan}{when}\n{kind}";
        }

        public string ToMermaid()
        {
            var sb = new StringBuilder("flowchart TD\n");
            static string Node(string id) => id.Replace('-', '_');
            foreach (var id in Graph.StepIds)
            {
                var label = Label(id).Replace("\"", "#quot;", StringComparison.Ordinal).Replace("\n", "<br/>", StringComparison.Ordinal);
                var shape = Spec.FindStep(id)!.When is not null ? ("{{\"", "\"}}") : ("[\"", "\"]");
                sb.Append(CultureInfo.InvariantCulture, $"  {Node(id)}{shape.Item1}{label}{shape.Item2}\n");
            }

            foreach (var id in Graph.StepIds)
            {
                foreach (var need in Graph.NeedsOf(id))
                {
                    sb.Append(CultureInfo.InvariantCulture, $"  {Node(need)} --> {Node(id)}\n");
                }
            }

            return sb.ToString();
        }

        public string ToDot()
        {
            static string Q(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + "\"";
            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"digraph {Q(Spec.Name)} {{\n  rankdir=TB;\n  node [shape=box];\n");
            foreach (var id in Graph.StepIds)
            {
                string style = Spec.FindStep(id)!.When is not null ? ", style=dashed" : "";
                sb.Append(CultureInfo.InvariantCulture, $"  {Q(id)} [label={Q(Label(id))}{style}];\n");
            }

            foreach (var id in Graph.StepIds)
            {
                foreach (var need in Graph.NeedsOf(id))
                {
                    sb.Append(CultureInfo.InvariantCulture, $"  {Q(need)} -> {Q(id)};\n");
                }
            }

            sb.Append("}\n");
            return sb.ToString();
        }
    }

    /// <summary>A foreach step's list, its item count when known before the run, and its bound.</summary>
    internal sealed record FanOut(string Expression, int? Count, int? MaxParallel);
}
