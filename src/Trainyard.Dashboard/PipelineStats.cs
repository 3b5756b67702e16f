using System.Globalization;
using Trainyard.Compute.Batch;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Dashboard;

/// <summary>Health of one pipeline over a window of runs (`trainyard stats`, the dashboard's health page).</summary>
public sealed record PipelineHealth
{
    /// <summary>Pipeline name.</summary>
    public required string Pipeline { get; init; }

    /// <summary>Start of the window.</summary>
    public required DateTimeOffset Since { get; init; }

    /// <summary>Runs started in the window.</summary>
    public int Runs { get; init; }

    /// <summary>Of those: succeeded.</summary>
    public int Succeeded { get; init; }

    /// <summary>Of those: failed.</summary>
    public int Failed { get; init; }

    /// <summary>Of those: cancelled.</summary>
    public int Cancelled { get; init; }

    /// <summary>Of those: still running.</summary>
    public int Running { get; init; }

    /// <summary>Succeeded / finished runs (null when none finished).</summary>
    public double? SuccessRate { get; init; }

    /// <summary>Median duration of finished runs, seconds.</summary>
    public double? RunP50Seconds { get; init; }

    /// <summary>95th percentile duration of finished runs, seconds.</summary>
    public double? RunP95Seconds { get; init; }

    /// <summary>Attempts after the first, over all tasks.</summary>
    public int Retries { get; init; }

    /// <summary>Tasks whose result came from the step cache / tasks that succeeded (null: none succeeded).</summary>
    public double? CacheHitRatio { get; init; }

    /// <summary>Azure Batch node hours per run (average over the window's runs).</summary>
    public double BatchNodeHoursPerRun { get; init; }

    /// <summary>Estimated Azure Batch cost per run in USD (average).</summary>
    public double BatchCostPerRun { get; init; }

    /// <summary>Per step, the largest critical-path share first.</summary>
    public IReadOnlyList<StepHealth> Steps { get; init; } = [];
}

/// <summary>Health of one step over the window.</summary>
public sealed record StepHealth
{
    /// <summary>Step id.</summary>
    public required string Step { get; init; }

    /// <summary>Tasks (foreach items count one each).</summary>
    public int Tasks { get; init; }

    /// <summary>Tasks that failed for good.</summary>
    public int Failed { get; init; }

    /// <summary>Attempts after the first.</summary>
    public int Retries { get; init; }

    /// <summary>Results reused from the step cache.</summary>
    public int CacheHits { get; init; }

    /// <summary>Median task duration (first dispatch to final state), seconds.</summary>
    public double? P50Seconds { get; init; }

    /// <summary>95th percentile task duration, seconds.</summary>
    public double? P95Seconds { get; init; }

    /// <summary>Share of succeeded runs' wall time this step held the critical path (0..1; a foreach step: first item start to last item end).</summary>
    public double CriticalPathShare { get; init; }

    /// <summary>What would shorten runs most, for steps that hold up runs; null otherwise.</summary>
    public string? Advice { get; init; }
}

/// <summary>Computes <see cref="PipelineHealth"/> from run states. Pure.</summary>
public static class PipelineStats
{
    /// <summary>A step holding this share of the critical path or more gets advice.</summary>
    public const double AdviceThreshold = 0.2;

    /// <summary>
    /// Health of <paramref name="pipeline"/> from its runs started at or after <paramref name="since"/>.
    /// <paramref name="specOf"/> gives a run's pipeline version (for needs, foreach and cache settings), null when unknown.
    /// </summary>
    public static PipelineHealth Compute(string pipeline, IEnumerable<RunState> runs, Func<string, PipelineSpec?> specOf, DateTimeOffset since)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(specOf);
        var window = runs.Where(r => r.PipelineName == pipeline && r.CreatedAt >= since).ToList();
        var finished = window.Where(r => r.Status != RunStatus.Running).ToList();
        var durations = finished.Select(r => ((r.FinishedAt ?? r.UpdatedAt) - r.CreatedAt).TotalSeconds).ToList();
        var tasks = window.SelectMany(r => r.Tasks.Values.Where(t => IsWork(t, specOf(r.PipelineHash)))).ToList();
        var succeeded = tasks.Count(t => t.Status is TaskStatus.Succeeded or TaskStatus.Cached);
        var critical = new Dictionary<string, double>(StringComparer.Ordinal);
        var criticalTotal = 0.0;
        foreach (var r in window.Where(r => r.Status == RunStatus.Succeeded))
        {
            if (specOf(r.PipelineHash) is not { } spec)
            {
                continue;
            }

            criticalTotal += ((r.FinishedAt ?? r.UpdatedAt) - r.CreatedAt).TotalSeconds;
            foreach (var t in CriticalPath(spec, r))
            {
                // A foreach step holds the run up from its first item's start to its last item's end (items may queue).
                var items = t.ItemIndex is null ? [] : r.Tasks.Values.Where(i => i.StepId == t.StepId && i.ItemIndex is not null && i.StartedAt is not null && i.FinishedAt is not null).ToList();
                var held = items.Count == 0 ? Seconds(t) : (items.Max(i => i.FinishedAt!.Value) - items.Min(i => i.StartedAt!.Value)).TotalSeconds;
                critical[t.StepId] = critical.GetValueOrDefault(t.StepId) + held;
            }
        }

        var latest = window.OrderByDescending(r => r.CreatedAt).Select(r => specOf(r.PipelineHash)).FirstOrDefault(s => s is not null);
        var steps = tasks.GroupBy(t => t.StepId, StringComparer.Ordinal).Select(g =>
        {
            var share = criticalTotal > 0 ? Math.Min(1, critical.GetValueOrDefault(g.Key) / criticalTotal) : 0;
            var times = g.Where(t => t.IsFinal && t.StartedAt is not null && t.Status != TaskStatus.Cached).Select(Seconds).ToList();
            return new StepHealth
            {
                Step = g.Key,
                Tasks = g.Count(),
                Failed = g.Count(t => t.Status == TaskStatus.Failed),
                Retries = g.Sum(t => Math.Max(0, t.Attempt - 1)),
                CacheHits = g.Count(t => t.Status == TaskStatus.Cached),
                P50Seconds = Percentile(times, 0.5),
                P95Seconds = Percentile(times, 0.95),
                CriticalPathShare = Math.Round(share, 4),
                Advice = share >= AdviceThreshold ? Advise(latest?.Steps.FirstOrDefault(s => s.Id == g.Key), share) : null,
            };
        }).OrderByDescending(s => s.CriticalPathShare).ThenBy(s => s.Step, StringComparer.Ordinal).ToList();

        return new PipelineHealth
        {
            Pipeline = pipeline,
            Since = since,
            Runs = window.Count,
            Succeeded = window.Count(r => r.Status == RunStatus.Succeeded),
            Failed = window.Count(r => r.Status == RunStatus.Failed),
            Cancelled = window.Count(r => r.Status == RunStatus.Cancelled),
            Running = window.Count(r => r.Status == RunStatus.Running),
            SuccessRate = finished.Count == 0 ? null : Math.Round((double)finished.Count(r => r.Status == RunStatus.Succeeded) / finished.Count, 4),
            RunP50Seconds = Percentile(durations, 0.5),
            RunP95Seconds = Percentile(durations, 0.95),
            Retries = tasks.Sum(t => Math.Max(0, t.Attempt - 1)),
            CacheHitRatio = succeeded == 0 ? null : Math.Round((double)tasks.Count(t => t.Status == TaskStatus.Cached) / succeeded, 4),
            BatchNodeHoursPerRun = window.Count == 0 ? 0 : Math.Round(tasks.Sum(t => Own(t, BatchCost.NodeSecondsOutput)) / 3600 / window.Count, 6),
            BatchCostPerRun = window.Count == 0 ? 0 : Math.Round(tasks.Sum(t => Own(t, BatchCost.CostOutput)) / window.Count, 6),
            Steps = steps,
        };
    }

    /// <summary>
    /// The chain of tasks that decided when the run ended: from the task that finished last, back through the need that
    /// finished last, to a task with no needs.
    /// </summary>
    public static IReadOnlyList<TaskState> CriticalPath(PipelineSpec spec, RunState run)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(run);
        var byStep = run.Tasks.Values.Where(t => IsWork(t, spec) && t.FinishedAt is not null && t.Status != TaskStatus.Skipped)
            .GroupBy(t => t.StepId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var needs = spec.Steps.ToDictionary(s => s.Id, s => s.Needs, StringComparer.Ordinal);
        var path = new List<TaskState>();
        var current = byStep.Values.SelectMany(t => t).MaxBy(t => t.FinishedAt);
        var guard = spec.Steps.Count + 1;
        while (current is not null && guard-- > 0)
        {
            path.Add(current);
            var upstream = needs.GetValueOrDefault(current.StepId) ?? [];
            current = upstream.SelectMany(n => byStep.GetValueOrDefault(n) ?? []).MaxBy(t => t.FinishedAt);
        }

        path.Reverse();
        return path;
    }

    /// <summary>A nearest-rank percentile, or null for no values.</summary>
    public static double? Percentile(IReadOnlyList<double> values, double p)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            return null;
        }

        var sorted = values.Order().ToList();
        var rank = (int)Math.Ceiling(p * sorted.Count) - 1;
        return Math.Round(sorted[Math.Clamp(rank, 0, sorted.Count - 1)], 3);
    }

    private static string Advise(StepSpec? step, double share)
    {
        var pct = (share * 100).ToString("0", CultureInfo.InvariantCulture) + "%";
        if (step?.Foreach is { } fe)
        {
            return $"{pct} of run time on the critical path: more parallelism (foreach.maxParallel {(fe.MaxParallel is { } m ? m.ToString(CultureInfo.InvariantCulture) : "unbounded")}, pipeline maxParallel) or fewer, larger items";
        }

        if (step?.Cache is not { Enabled: true })
        {
            return $"{pct} of run time on the critical path and not cached: `cache: true` if its inputs repeat between runs";
        }

        return $"{pct} of run time on the critical path: cached but missed; check what changes its inputs, or give it more resources";
    }

    // A foreach step's own task only sums up its items; its items are the work.
    private static bool IsWork(TaskState t, PipelineSpec? spec)
        => t.ItemIndex is not null || spec?.Steps.FirstOrDefault(s => s.Id == t.StepId)?.Foreach is null;

    private static double Seconds(TaskState t) => t.StartedAt is { } s && t.FinishedAt is { } f ? Math.Max(0, (f - s).TotalSeconds) : 0;

    private static double Own(TaskState t, string output) => t.Result is { } r ? BatchCost.OwnValue(t.DispatchId, r.Outputs, output) ?? 0 : 0;
}
