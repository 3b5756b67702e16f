using System.Globalization;
using System.Text;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Steps;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml;

/// <summary>Which way a metric improves.</summary>
internal static class MetricGoal
{
    private static readonly string[] Lower = ["rmse", "mae", "mse", "logloss", "logLoss", "loss"];

    public static bool HigherIsBetter(string metric, string? goal) => goal switch
    {
        "max" => true,
        "min" => false,
        null => !Lower.Contains(metric),
        _ => throw new StepFailedException($"goal must be max or min, got '{goal}'."),
    };

    public static string F(double d) => d.ToString("0.####", CultureInfo.InvariantCulture);
}

/// <summary>`select-best`: fan-in over a foreach training matrix; picks the candidate with the best metric and records every candidate's value.</summary>
public sealed class SelectBestStep : IBuiltinStep
{
    /// <inheritdoc />
    public BuiltinStepInfo Info => StandardSteps.SelectBest;

    /// <inheritdoc />
    public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var inputs = StepInputs.Of(Info.Name, context);
        var io = new StepIo(context, inputs) { Token = cancellationToken };
        var metric = inputs.RequiredString("metric");
        var higher = MetricGoal.HigherIsBetter(metric, inputs.OptionalString("goal"));
        var raw = inputs.Raw("candidates") ?? throw inputs.Bad("candidates", "is required (e.g. ${{ steps.train.outputs }})");
        var list = raw.ValueKind switch
        {
            JsonValueKind.Array => raw.EnumerateArray().ToList(),
            JsonValueKind.Object => raw.EnumerateObject().Select(p => p.Value).ToList(),
            _ => throw inputs.Bad("candidates", $"must be a list of task outputs, got {StepInputs.Describe(raw)}"),
        };
        var scored = new List<Candidate>();
        var skipped = new List<string>();
        for (var i = 0; i < list.Count; i++)
        {
            var c = list[i];
            if (c.ValueKind == JsonValueKind.Object && c.TryGetProperty("metrics", out var m) && m.ValueKind == JsonValueKind.Object
                && m.TryGetProperty(metric, out var v) && v.ValueKind == JsonValueKind.Number)
            {
                scored.Add(new Candidate(i, Str(c, "trainer"), Str(c, "model"), v.GetDouble(), c));
            }
            else
            {
                skipped.Add($"candidate {i} has no metrics.{metric}");
            }
        }

        if (scored.Count == 0)
        {
            throw new StepFailedException(
                $"select-best: no candidate reports metric '{metric}' ({string.Join("; ", skipped)}). Check `metric` against the training step's metrics output.");
        }

        // Ties go to the earliest candidate so the choice is deterministic.
        var best = higher ? scored.OrderByDescending(c => c.Value).ThenBy(c => c.Index).First() : scored.OrderBy(c => c.Value).ThenBy(c => c.Index).First();
        var reason = new StringBuilder();
        reason.Append(CultureInfo.InvariantCulture, $"candidate {best.Index} ({best.Trainer ?? "?"}) has the {(higher ? "highest" : "lowest")} {metric} {MetricGoal.F(best.Value)} among ");
        reason.AppendJoin(", ", scored.Select(c => $"{c.Index}:{c.Trainer ?? "?"}={MetricGoal.F(c.Value)}"));
        var candidates = scored.Select(c => new { index = c.Index, trainer = c.Trainer, model = c.Model, value = c.Value }).ToList();
        // First output, so run summaries show the choice before the long paths.
        io.SetOutput("chosen", $"{best.Trainer ?? $"candidate {best.Index}"} {metric}={MetricGoal.F(best.Value)}");
        await io.PutJsonAsync("selection", "selection.json", new { metric, goal = higher ? "max" : "min", chosen = best.Index, reason = reason.ToString(), candidates, skipped });
        await context.Log("select-best: " + reason, cancellationToken);
        foreach (var p in best.Outputs.EnumerateObject())
        {
            io.SetOutput(p.Name, p.Value);
        }

        io.SetOutput("index", best.Index);
        io.SetOutput("reason", reason.ToString());
        io.SetOutput("candidates", candidates);
        return await io.FinishAsync();
    }

    private static string? Str(JsonElement o, string name) => o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private sealed record Candidate(int Index, string? Trainer, string? Model, double Value, JsonElement Outputs);
}

/// <summary>
/// `quality-gate`: checks metrics against min/max thresholds and, optionally, that the model is no worse than the
/// version now in a registry stage by more than a tolerance. Fails the task listing every violation, or with
/// `failOnViolation: false` reports `passed: false` for a `when:` condition downstream.
/// </summary>
public sealed class QualityGateStep : IBuiltinStep
{
    /// <inheritdoc />
    public BuiltinStepInfo Info => StandardSteps.QualityGate;

    /// <inheritdoc />
    public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var inputs = StepInputs.Of(Info.Name, context);
        var io = new StepIo(context, inputs) { Token = cancellationToken };
        var metrics = RegisterModelStep.ReadMetrics(inputs, "metrics");
        var checks = new List<GateCheck>();
        if (inputs.OptionalObject("thresholds") is { } thresholds)
        {
            foreach (var t in thresholds.EnumerateObject())
            {
                var where = $"thresholds.{t.Name}";
                var min = Expectations.Num(inputs, where, t.Value, "min");
                var max = Expectations.Num(inputs, where, t.Value, "max");
                if (min is null && max is null)
                {
                    throw inputs.Bad(where, "needs min and/or max");
                }

                if (!metrics.TryGetValue(t.Name, out var value))
                {
                    checks.Add(new GateCheck($"{t.Name} present", false, $"metric '{t.Name}' is missing (have: {string.Join(", ", metrics.Keys)})"));
                    continue;
                }

                if (min is { } lo)
                {
                    checks.Add(new GateCheck($"{t.Name} >= {MetricGoal.F(lo)}", value >= lo, $"{t.Name} = {MetricGoal.F(value)}"));
                }

                if (max is { } hi)
                {
                    checks.Add(new GateCheck($"{t.Name} <= {MetricGoal.F(hi)}", value <= hi, $"{t.Name} = {MetricGoal.F(value)}"));
                }
            }
        }

        if (inputs.OptionalObject("compare") is { } compare)
        {
            checks.Add(await CompareAsync(inputs, io, compare, metrics, cancellationToken));
        }

        if (checks.Count == 0)
        {
            throw inputs.Bad("thresholds", "or `compare` must be given: a gate with no checks passes everything");
        }

        var passed = checks.All(c => c.Passed);
        var reportRef = await io.PutJsonAsync("report", "gate.json", new { passed, metrics, checks });
        io.SetOutput("passed", passed);
        io.SetOutput("failures", checks.Where(c => !c.Passed).Select(c => $"{c.Check}: {c.Observed}").ToList());
        var summary = string.Join("\n  - ", checks.Where(c => !c.Passed).Select(c => $"{c.Check}: {c.Observed}"));
        if (!passed && inputs.Boolean("failOnViolation", true))
        {
            await io.FinishAsync();
            throw new StepFailedException($"quality-gate: {checks.Count(c => !c.Passed)} check(s) failed:\n  - {summary}\nReport: {reportRef.Path}.");
        }

        await context.Log(passed ? "quality-gate: passed" : "quality-gate: failed (reported, not failing):\n  - " + summary, cancellationToken);
        return await io.FinishAsync();
    }

    private static async Task<GateCheck> CompareAsync(StepInputs inputs, StepIo io, JsonElement compare, Dictionary<string, double> metrics, CancellationToken cancellationToken)
    {
        string Req(string p) => compare.TryGetProperty(p, out var v) && v.GetString() is { Length: > 0 } s ? s : throw inputs.Bad($"compare.{p}", "is required");
        var model = inputs.Checked("compare.model", Req("model"), InputRule.ModelName);
        var stage = compare.TryGetProperty("stage", out var st) ? st.GetString() ?? "production" : "production";
        var metric = Req("metric");
        var tolerance = Expectations.Num(inputs, "compare", compare, "maxRegression") ?? 0;
        var higher = MetricGoal.HigherIsBetter(metric, compare.TryGetProperty("goal", out var g) ? g.GetString() : null);
        var registry = io.Context.Services?.GetService(typeof(ModelRegistry)) as ModelRegistry ?? new ModelRegistry(io.Artifacts, io.Context.Time);
        var check = $"{metric} no worse than {model}@{stage} by more than {MetricGoal.F(tolerance)}";
        ModelVersion? current;
        try
        {
            current = await registry.GetStageVersionAsync(model, stage, cancellationToken);
        }
        catch (ModelRegistryException e)
        {
            throw new StepFailedException($"quality-gate: {e.Message}");
        }

        if (current is null)
        {
            return new GateCheck(check, true, $"no model in stage {stage} yet: nothing to compare with");
        }

        if (!metrics.TryGetValue(metric, out var mine) || !current.Metrics.TryGetValue(metric, out var theirs))
        {
            return new GateCheck(check, false, $"metric '{metric}' missing on the candidate or on {model} version {current.Version}");
        }

        var regression = higher ? theirs - mine : mine - theirs;
        return new GateCheck(check, regression <= tolerance,
            $"candidate {MetricGoal.F(mine)} vs version {current.Version} {MetricGoal.F(theirs)} (regression {MetricGoal.F(Math.Max(0, regression))})");
    }

    private sealed record GateCheck(string Check, bool Passed, string Observed);
}
