using System.Globalization;
using System.Text;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Rendering;
using Trainyard.Compute.Batch;
using Trainyard.Core.Engine;
using Trainyard.Core.Text;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Cli;

/// <summary>The `--json` shape of one run (status, run and retry print it): stable names, camelCase, times in UTC.</summary>
internal sealed record RunReport(
    string RunId,
    string Pipeline,
    string PipelineHash,
    string Status,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FinishedAt,
    double DurationSeconds,
    string? Error,
    string? RetryOf,
    string Trigger,
    IReadOnlyDictionary<string, JsonElement> Params,
    IReadOnlyList<TaskReport> Tasks)
{
    /// <summary>
    /// Estimated Azure Batch cost of the run in USD (node time × the pool's price in TRAINYARD_BATCH_POOL_PRICES,
    /// summed over its tasks' results); null when no task ran on Batch.
    /// </summary>
    public double? EstimatedCostUsd { get; init; }

    /// <summary>Node time of the run's Batch tasks in seconds; null when no task ran on Batch.</summary>
    public double? BatchNodeSeconds { get; init; }

    /// <summary>Builds the report from a snapshot; <paramref name="now"/> measures what is still running.</summary>
    public static RunReport From(RunState state, DateTimeOffset now) => new(
        state.RunId,
        state.PipelineName,
        state.PipelineHash,
        Lower(state.Status),
        state.CreatedAt,
        state.FinishedAt,
        Seconds((state.FinishedAt ?? now) - state.CreatedAt),
        state.Error,
        state.RetryOf,
        state.Trigger.Kind,
        state.Params,
        [.. OrderTasks(state).Select(t => TaskReport.From(t, now))])
    {
        EstimatedCostUsd = Sum(state, BatchCost.CostOutput),
        BatchNodeSeconds = Sum(state, BatchCost.NodeSecondsOutput),
    };

    /// <summary>The sum of a Batch output over the tasks that ran on Batch in this run; null when none did.</summary>
    private static double? Sum(RunState state, string output)
    {
        var values = state.Tasks.Values
            .Select(t => t.Result is { } r ? BatchCost.OwnValue(t.DispatchId, r.Outputs, output) : null)
            .OfType<double>()
            .ToList();
        return values.Count == 0 ? null : Math.Round(values.Sum(), 6);
    }

    /// <summary>Tasks in a stable, readable order: by start time, unstarted ones after, then by key.</summary>
    public static IEnumerable<TaskState> OrderTasks(RunState state) => state.Tasks.Values
        .OrderBy(t => t.StartedAt ?? DateTimeOffset.MaxValue)
        .ThenBy(t => t.StepId, StringComparer.Ordinal)
        .ThenBy(t => t.ItemIndex ?? -1)
        .ThenBy(t => t.TaskKey, StringComparer.Ordinal);

    /// <summary>Lower-case enum names, as in the JSON.</summary>
    public static string Lower<T>(T value)
        where T : struct, Enum => value.ToString().ToLowerInvariant();

    /// <summary>The attempt column: empty for tasks that are never dispatched themselves (a foreach step's own task).</summary>
    public static string AttemptText(int attempt) => attempt == 0 ? "" : attempt.ToString(CultureInfo.InvariantCulture);

    /// <summary>Seconds with millisecond precision.</summary>
    public static double Seconds(TimeSpan span) => Math.Round(Math.Max(0, span.TotalSeconds), 3);

    /// <summary>Human duration: 850ms, 12.3s, 4m05s, 1h02m.</summary>
    public static string FormatDuration(TimeSpan span)
    {
        if (span < TimeSpan.Zero)
        {
            span = TimeSpan.Zero;
        }

        return span.TotalSeconds switch
        {
            < 1 => $"{span.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)}ms",
            < 60 => $"{span.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s",
            < 3600 => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalMinutes}m{span.Seconds:00}s"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalHours}h{span.Minutes:00}m"),
        };
    }

    /// <summary>Prints the human view: <see cref="ToText"/> in plain mode, a Spectre header, table and coloured lines on a terminal.</summary>
    public void Write(CliOutput output, bool includeLogHint)
    {
        if (output.Rich)
        {
            output.Ansi.Write(ToRenderable(includeLogHint));
        }
        else
        {
            output.Write(ToText(includeLogHint));
        }
    }

    /// <summary>The interactive view: the same content as <see cref="ToText"/>, untrusted text escaped for markup.</summary>
    public IRenderable ToRenderable(bool includeLogHint)
    {
        static string S(string? text) => SpectreViews.Safe(text);
        var items = new List<IRenderable>();
        var header = $"[bold]run[/] {S(RunId)}  [bold]pipeline[/] {S(Pipeline)}  [{SpectreViews.StatusStyle(Status).ToMarkup()}]{S(Status)}[/]  {S(FormatDuration(TimeSpan.FromSeconds(DurationSeconds)))}";
        if (RetryOf is not null)
        {
            header += $"  (retry of {S(RetryOf)})";
        }

        items.Add(new Markup(header));
        items.Add(SpectreViews.Table(
            ["TASK", "STATUS", "ATTEMPT", "DURATION", "NOTE"],
            Tasks.Select(t => new[] { t.Key, t.Status, AttemptText(t.Attempt), t.DurationSeconds is { } d ? FormatDuration(TimeSpan.FromSeconds(d)) : "", t.Note })));
        var counts = Tasks.GroupBy(t => t.Status).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Count()} {g.Key}");
        items.Add(SpectreViews.Cell($"{Tasks.Count} tasks: {string.Join(", ", counts)}"));
        if (EstimatedCostUsd is { } cost)
        {
            var perTask = Tasks.Where(t => t.CostUsd is not null).Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Key} ${t.CostUsd:0.0000}"));
            items.Add(SpectreViews.Cell(string.Create(CultureInfo.InvariantCulture,
                $"estimated Batch cost: ${cost:0.0000} for {FormatDuration(TimeSpan.FromSeconds(BatchNodeSeconds ?? 0))} of node time ({string.Join(", ", perTask)})")));
        }

        if (Error is not null)
        {
            items.Add(new Markup($"[red]error:[/] {S(Error)}"));
        }

        foreach (var failed in Tasks.Where(t => t.Status == "failed"))
        {
            items.Add(new Markup(string.Create(CultureInfo.InvariantCulture, $"[red]task[/] {S(failed.Key)} [red]failed[/] (attempt {failed.Attempt}): {S(failed.Message)}")));
            if (includeLogHint)
            {
                items.Add(new Markup($"  [grey]log:[/] trainyard logs {S(RunId)} {S(failed.Key)}"));
            }
        }

        return new Rows(items);
    }

    /// <summary>The human view: a header, the task table, and the errors of failed tasks.</summary>
    public string ToText(bool includeLogHint)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"run {Printable.Escape(RunId)}  pipeline {Printable.Escape(Pipeline)}  {Status}  {FormatDuration(TimeSpan.FromSeconds(DurationSeconds))}");
        if (RetryOf is not null)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  (retry of {RetryOf})");
        }

        sb.AppendLine();
        sb.Append(TextTable.Render(
            ["TASK", "STATUS", "ATTEMPT", "DURATION", "NOTE"],
            Tasks.Select(t => new[] { t.Key, t.Status, AttemptText(t.Attempt), t.DurationSeconds is { } d ? FormatDuration(TimeSpan.FromSeconds(d)) : "", t.Note })));
        var counts = Tasks.GroupBy(t => t.Status).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Count()} {g.Key}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"{Tasks.Count} tasks: {string.Join(", ", counts)}");
        if (EstimatedCostUsd is { } cost)
        {
            var perTask = Tasks.Where(t => t.CostUsd is not null).Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Key} ${t.CostUsd:0.0000}"));
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"estimated Batch cost: ${cost:0.0000} for {FormatDuration(TimeSpan.FromSeconds(BatchNodeSeconds ?? 0))} of node time ({string.Join(", ", perTask)})");
        }
        if (Error is not null)
        {
            // Untrusted text stays on its line: its newlines are shown as \n, not written (the plain view is greppable).
            sb.AppendLine(CultureInfo.InvariantCulture, $"error: {Printable.Escape(Error)}");
        }

        foreach (var failed in Tasks.Where(t => t.Status == "failed"))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"task {Printable.Escape(failed.Key)} failed (attempt {failed.Attempt}): {Printable.Escape(failed.Message)}");
            if (includeLogHint)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"  log: trainyard logs {Printable.Escape(RunId)} {Printable.Escape(failed.Key)}");
            }
        }

        return sb.ToString();
    }
}

/// <summary>One task in <see cref="RunReport"/>.</summary>
internal sealed record TaskReport(
    string Key,
    string Step,
    string Status,
    int Attempt,
    string? DispatchId,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    double? DurationSeconds,
    string? Message,
    bool Reused,
    IReadOnlyDictionary<string, JsonElement> Outputs,
    IReadOnlyList<ArtifactRef> Artifacts,
    int? Items)
{
    /// <summary>Estimated Azure Batch cost of the task's successful attempt in USD; null for tasks that did not run on Batch.</summary>
    public double? CostUsd => BatchCost.OwnValue(DispatchId, Outputs, BatchCost.CostOutput);

    /// <summary>Builds a task row.</summary>
    public static TaskReport From(TaskState task, DateTimeOffset now) => new(
        task.TaskKey,
        task.StepId,
        RunReport.Lower(task.Status),
        task.Attempt,
        task.DispatchId,
        task.StartedAt,
        task.FinishedAt,
        task.StartedAt is { } start ? RunReport.Seconds((task.FinishedAt ?? now) - start) : null,
        task.Message,
        task.Result?.Cached == true,
        task.Result?.Outputs ?? new Dictionary<string, JsonElement>(),
        task.Result?.Artifacts ?? [],
        task.Items);

    /// <summary>Short text for the NOTE column: the first line of the message, or the number of outputs.</summary>
    public string Note
    {
        get
        {
            if (Message is { Length: > 0 } message)
            {
                var line = message.Split('\n')[0];
                return line.Length > 80 ? line[..77] + "..." : line;
            }

            if (Reused)
            {
                return "reused";
            }

            if (Items is { } items)
            {
                return $"foreach: {items} item(s)";
            }

            return Outputs.Count > 0 ? string.Join(" ", Outputs.Take(3).Select(o => $"{o.Key}={Short(o.Value)}")) : "";
        }
    }

    private static string Short(JsonElement value)
    {
        var text = value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : value.GetRawText();
        return text.Length > 24 ? text[..21] + "..." : text;
    }

    /// <summary>True when the status is final.</summary>
    public static bool IsFinal(TaskStatus status)
        => status is TaskStatus.Succeeded or TaskStatus.Cached or TaskStatus.Failed or TaskStatus.Skipped or TaskStatus.Cancelled;
}

/// <summary>Left-aligned plain-text columns (the non-interactive form of <see cref="SpectreViews.Table"/>).</summary>
internal static class TextTable
{
    /// <summary>Renders a header and rows, columns padded to their widest cell, trailing spaces trimmed.</summary>
    public static string Render(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        // Cells are untrusted: escaped here (newlines too) so a cell never breaks its row or acts on a terminal.
        var all = new List<IReadOnlyList<string>> { header };
        all.AddRange(rows.Select(r => (IReadOnlyList<string>)[.. r.Select(c => Printable.Escape(c))]));
        var widths = new int[header.Count];
        foreach (var row in all)
        {
            for (var i = 0; i < widths.Length; i++)
            {
                widths[i] = Math.Max(widths[i], i < row.Count ? row[i].Length : 0);
            }
        }

        var sb = new StringBuilder();
        foreach (var row in all)
        {
            var line = new StringBuilder();
            for (var i = 0; i < widths.Length; i++)
            {
                line.Append((i < row.Count ? row[i] : "").PadRight(widths[i] + 2));
            }

            sb.AppendLine(line.ToString().TrimEnd());
        }

        return sb.ToString();
    }
}
