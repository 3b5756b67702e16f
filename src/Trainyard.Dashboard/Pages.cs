using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Runtime.Contracts;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Dashboard;

/// <summary>
/// Server-rendered HTML of the dashboard. Everything that comes from outside (ids, messages, outputs, logs) goes
/// through <see cref="H"/>; the only script is static/app.js, which reads data- attributes. Links are relative to the
/// page's `&lt;base href&gt;`: the dashboard's root (`/` under `trainyard ui`, `/api/ui/` in the Function App).
/// </summary>
internal static class Pages
{
    public static readonly string[] RunStatuses = ["running", "succeeded", "failed", "cancelled"];

    /// <summary>HTML-encodes outside text.</summary>
    public static string H(string? text) => HtmlEncoder.Default.Encode(text ?? "");

    /// <summary>The data-state of a task: pending, running, succeeded, failed, skipped or cancelled.</summary>
    public static string State(TaskStatus status) => status switch
    {
        TaskStatus.Pending or TaskStatus.Ready => "pending",
        TaskStatus.Dispatched or TaskStatus.Running => "running",
        TaskStatus.Succeeded or TaskStatus.Cached => "succeeded",
        TaskStatus.Failed => "failed",
        TaskStatus.Skipped => "skipped",
        _ => "cancelled",
    };

    public static string Layout(string title, string body, string nav = "runs") => $$"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>{{H(title)}} · Trainyard</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <base href="/"><link rel="stylesheet" href="static/app.css"></head>
        <body><nav class="top"><b>Trainyard</b>
        <a href="./" class="{{(nav == "runs" ? "on" : "")}}">Runs</a>
        <a href="pipelines" class="{{(nav == "pipelines" ? "on" : "")}}">Pipelines</a>
        <a href="models" class="{{(nav == "models" ? "on" : "")}}">Models</a></nav>
        <main>{{body}}</main>
        <script src="static/app.js"></script></body></html>
        """;

    // ---- runs list --------------------------------------------------------------------------------------------------

    public static string Runs(IReadOnlyList<RunSummary> runs, IReadOnlyList<string> pipelines, string? pipeline, string? status, DateTimeOffset now)
    {
        var sb = new StringBuilder();
        sb.Append("<h1>Runs</h1><form class=\"filters\" method=\"get\" action=\"./\"><label>Pipeline <select name=\"pipeline\" id=\"filter-pipeline\"><option value=\"\">all</option>");
        foreach (var p in pipelines)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<option{(p == pipeline ? " selected" : "")}>{H(p)}</option>");
        }

        sb.Append("</select></label> <label>Status <select name=\"status\" id=\"filter-status\"><option value=\"\">all</option>");
        foreach (var s in RunStatuses)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<option{(s == status ? " selected" : "")}>{s}</option>");
        }

        var query = $"pipeline={Uri.EscapeDataString(pipeline ?? "")}&status={Uri.EscapeDataString(status ?? "")}";
        sb.Append("</select></label> <button type=\"submit\">Filter</button></form>");
        sb.Append(CultureInfo.InvariantCulture, $"<table class=\"runs\" id=\"runs\" data-live=\"runs-rows?{H(query)}\"><thead><tr><th>Run</th><th>Pipeline</th><th>Version</th><th>Status</th><th>Trigger</th><th>Started</th><th>Duration</th></tr></thead><tbody>");
        sb.Append(RunRows(runs, now));
        sb.Append("</tbody></table>");
        return Layout("Runs", sb.ToString());
    }

    public static string RunRows(IReadOnlyList<RunSummary> runs, DateTimeOffset now)
    {
        if (runs.Count == 0)
        {
            return "<tr><td colspan=\"7\" class=\"empty\">No runs yet. Start one with <code>trainyard run pipeline.yaml</code>.</td></tr>";
        }

        var sb = new StringBuilder();
        foreach (var r in runs)
        {
            var status = r.Status.ToLowerInvariant();
            sb.Append(CultureInfo.InvariantCulture, $"<tr data-run=\"{H(r.RunId)}\" data-status=\"{H(status)}\"><td><a href=\"runs/{H(Uri.EscapeDataString(r.RunId))}\">{H(r.RunId)}</a></td>")
              .Append(CultureInfo.InvariantCulture, $"<td><a href=\"pipelines/{H(Uri.EscapeDataString(r.PipelineName))}\">{H(r.PipelineName)}</a></td><td><code>{H(Short(r.PipelineHash))}</code></td>")
              .Append(CultureInfo.InvariantCulture, $"<td><span class=\"status s-{H(status)}\">{H(status)}</span></td><td>{H(r.TriggerKind ?? "manual")}</td>")
              .Append(CultureInfo.InvariantCulture, $"<td>{Time(r.CreatedAt)}</td><td>{Dur((r.FinishedAt ?? now) - r.CreatedAt)}</td></tr>");
        }

        return sb.ToString();
    }

    // ---- run detail -------------------------------------------------------------------------------------------------

    /// <summary>The run page; <paramref name="live"/> when drawn from a running durable run's progress (no attempts yet).</summary>
    public static string Run(RunState run, PipelineSpec? spec, IReadOnlyList<AttemptBar> attempts, DateTimeOffset now, bool live = false)
    {
        var status = run.Status.ToString().ToLowerInvariant();
        var sb = new StringBuilder();
        var id = H(run.RunId);
        var url = H(Uri.EscapeDataString(run.RunId));
        sb.Append(CultureInfo.InvariantCulture, $"<div id=\"run\" data-run=\"{id}\" data-status=\"{status}\" data-api=\"api/runs/{url}\"{(live ? " data-source=\"progress\"" : "")}>");
        sb.Append(CultureInfo.InvariantCulture, $"<h1>Run <code>{id}</code> <span class=\"status s-{status}\" id=\"run-status\">{status}</span></h1>");
        sb.Append(CultureInfo.InvariantCulture, $"<p class=\"meta\">pipeline <a href=\"pipelines/{H(Uri.EscapeDataString(run.PipelineName))}\">{H(run.PipelineName)}</a> · version <code>{H(Short(run.PipelineHash))}</code> · trigger {H(run.Trigger.Kind)}{(run.Trigger.TriggerId is { } t ? " " + H(t) : "")}")
          .Append(CultureInfo.InvariantCulture, $" · started {Time(run.CreatedAt)} · <span id=\"run-duration\">{Dur((run.FinishedAt ?? now) - run.CreatedAt)}</span>{(run.RetryOf is { } ro ? $" · retry of <a href=\"runs/{H(Uri.EscapeDataString(ro))}\">{H(ro)}</a>" : "")}</p>");
        sb.Append(CultureInfo.InvariantCulture, $"<p class=\"error\" id=\"run-error\"{(run.Error is null ? " hidden" : "")}>{H(run.Error)}</p>");
        sb.Append("<div class=\"actions\">")
          .Append(CultureInfo.InvariantCulture, $"<button id=\"cancel\" data-action=\"api/runs/{url}/cancel\" data-body='{{\"reason\":\"cancelled from the dashboard\"}}' data-confirm=\"Cancel run {id}?\"{(run.Status == RunStatus.Running ? "" : " disabled")}>Cancel</button> ")
          .Append(CultureInfo.InvariantCulture, $"<button id=\"retry\" data-action=\"api/runs/{url}/retry\" data-body=\"{{}}\" data-confirm=\"Start a new run reusing the succeeded tasks of {id}?\"{(run.Status is RunStatus.Failed or RunStatus.Cancelled ? "" : " disabled")}>Retry</button> ")
          .Append(CultureInfo.InvariantCulture, $"<button id=\"approve\" data-action=\"api/runs/{url}/events/approve\" data-body='{{\"approved\":true,\"by\":\"dashboard\"}}' data-confirm=\"Send the approve event to run {id}?\"{(run.Status == RunStatus.Running ? "" : " disabled")}>Approve</button>")
          .Append("<span id=\"action-result\" role=\"status\"></span></div>");

        sb.Append("<h2>Graph</h2>");
        sb.Append(spec is null ? "<p class=\"empty\">The pipeline version of this run is not stored here; the graph cannot be drawn.</p>" : Dag(spec, run));
        sb.Append("<div id=\"task-panel\" class=\"panel\" hidden></div>");
        sb.Append("<h2>Timeline</h2><div id=\"timeline\">").Append(live
            ? "<p class=\"empty\">The durable engine records attempt times in the run's final state: the timeline shows when the run finishes.</p>"
            : Gantt(attempts, run, now)).Append("</div>");
        sb.Append("</div>");
        return Layout("Run " + run.RunId, sb.ToString());
    }

    public static string Dag(PipelineSpec spec, RunState? run)
    {
        var layout = DagLayout.Of(spec);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<div class=\"dag\" id=\"dag\" style=\"width:{Px(layout.Width)};height:{Px(layout.Height)}\"><svg width=\"{Px(layout.Width)}\" height=\"{Px(layout.Height)}\" aria-hidden=\"true\">");
        foreach (var (from, to) in layout.Edges())
        {
            double x1 = from.X + DagLayout.NodeWidth, y1 = from.Y + (DagLayout.NodeHeight / 2), x2 = to.X, y2 = to.Y + (DagLayout.NodeHeight / 2), mid = (x1 + x2) / 2;
            sb.Append(CultureInfo.InvariantCulture, $"<path d=\"M{x1:0.#},{y1:0.#} C{mid:0.#},{y1:0.#} {mid:0.#},{y2:0.#} {x2:0.#},{y2:0.#}\"/>");
        }

        sb.Append("</svg>");
        foreach (var n in layout.Nodes)
        {
            var s = n.Step;
            var task = run?.Tasks.GetValueOrDefault(s.Id);
            var state = task is null ? "pending" : State(task.Status);
            var kind = s.Uses ?? (s.Run is { } r && r.Command.Count > 0 ? r.Command[0] : "run");
            var style = string.Create(CultureInfo.InvariantCulture, $"left:{Px(n.X)};top:{Px(n.Y)};width:{Px(DagLayout.NodeWidth)}");
            if (s.Foreach is not null && run is not null)
            {
                var items = run.Tasks.Values.Where(t => t.StepId == s.Id && t.ItemIndex is not null).OrderBy(t => t.ItemIndex).ToList();
                sb.Append(CultureInfo.InvariantCulture, $"<details class=\"node foreach\" data-step=\"{H(s.Id)}\" data-state=\"{state}\" style=\"{style}\"><summary><b>{H(s.Id)}</b> <small>{H(kind)} · <span class=\"items\">{ItemCount(task, items)}</span> items</small></summary><ul class=\"items\">");
                foreach (var item in items)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"<li data-task=\"{H(item.TaskKey)}\" data-state=\"{State(item.Status)}\" title=\"{H(item.TaskKey)}\">{item.ItemIndex}</li>");
                }

                sb.Append("</ul></details>");
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"<div class=\"node\" data-step=\"{H(s.Id)}\" data-state=\"{state}\" data-task=\"{H(s.Id)}\" style=\"{style}\" tabindex=\"0\"><b>{H(s.Id)}</b><small>{H(kind)}{(task is { Attempt: > 1 } ? $" · attempt {task.Attempt}" : "")}{(task?.Status == TaskStatus.Cached ? " · cached" : "")}</small></div>");
            }
        }

        sb.Append("</div>");
        return sb.ToString();
    }

    private const double MinBar = 0.2;

    // Final items of a foreach step over all of them: from its item tasks, or (a running durable run) its parent's counts.
    private static string ItemCount(TaskState? parent, List<TaskState> items) => items.Count == 0 && parent?.Items is { } n
        ? string.Create(CultureInfo.InvariantCulture, $"{n - (parent.ItemsOpen ?? 0)}/{n}")
        : string.Create(CultureInfo.InvariantCulture, $"{items.Count(t => t.IsFinal)}/{items.Count}");

    internal static string Gantt(IReadOnlyList<AttemptBar> attempts, RunState run, DateTimeOffset now)
    {
        if (attempts.Count == 0)
        {
            return "<p class=\"empty\">No attempts yet.</p>";
        }

        var start = run.CreatedAt;
        var end = run.FinishedAt ?? now;
        var span = Math.Max(0.001, (end - start).TotalSeconds);
        var sb = new StringBuilder("<div class=\"gantt\" id=\"gantt\">");
        foreach (var a in attempts)
        {
            // A bar is at least MinBar wide, so one that starts at the very end of the run (or after the run's recorded
            // end: a durable run's times come from two clocks) is drawn flush with the right edge.
            var left = Math.Clamp((a.Start - start).TotalSeconds / span * 100, 0, 100 - MinBar);
            var width = Math.Clamp(((a.End ?? now) - a.Start).TotalSeconds / span * 100, MinBar, 100 - left);
            sb.Append(CultureInfo.InvariantCulture, $"<div class=\"bar-row\" data-task=\"{H(a.TaskKey)}\" data-attempt=\"{a.Attempt}\"><span class=\"label\">{H(a.TaskKey)}{(a.Attempt > 1 ? $" <em>retry {a.Attempt - 1}</em>" : "")}</span>")
              .Append(CultureInfo.InvariantCulture, $"<span class=\"track\"><span class=\"bar o-{H(a.Outcome.Replace(' ', '-'))}{(a.Cached ? " cached" : "")}\" style=\"left:{left:0.###}%;width:{width:0.###}%\" title=\"{H(a.TaskKey)} attempt {a.Attempt}: {H(a.Outcome)}{(a.Cached ? " (cache hit)" : "")}, {Dur((a.End ?? now) - a.Start)}\">{(a.Cached ? "cache" : "")}</span></span></div>");
        }

        return sb.Append("</div>").ToString();
    }

    // ---- task panel -------------------------------------------------------------------------------------------------

    public static string TaskPanel(RunState run, TaskState task, PipelineSpec? spec, string? log)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<h3>Task <code>{H(task.TaskKey)}</code> <span class=\"status s-{State(task.Status)}\">{H(task.Status.ToString().ToLowerInvariant())}</span></h3>");
        sb.Append(CultureInfo.InvariantCulture, $"<p class=\"meta\">attempt {task.Attempt}{(task.DispatchId is { } d ? $" · dispatch <code>{H(d)}</code>" : "")}{(task.StartedAt is { } s ? " · started " + Time(s) : "")}{(task.FinishedAt is { } f && task.StartedAt is { } s2 ? " · took " + Dur(f - s2) : "")}</p>");
        if (task.Message is { } m)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<pre class=\"error task-error\">{H(m)}</pre>");
        }

        if (task.Result is { } result)
        {
            sb.Append("<h4>Outputs</h4>");
            sb.Append(result.Outputs.Count == 0 ? "<p class=\"empty\">none</p>" : "<table class=\"kv\">" + string.Concat(result.Outputs.Select(o => $"<tr><th>{H(o.Key)}</th><td><code>{H(o.Value.GetRawText())}</code></td></tr>")) + "</table>");
            sb.Append("<h4>Artifacts and lineage</h4>");
            var consumers = spec?.Steps.Where(st => st.Needs.Contains(task.StepId)).Select(st => st.Id).ToList() ?? [];
            sb.Append(result.Artifacts.Count == 0 ? "<p class=\"empty\">none</p>" : "<table class=\"kv\"><tr><th>name</th><th>path</th><th>sha256</th><th>bytes</th></tr>" + string.Concat(result.Artifacts.Select(a =>
                string.Create(CultureInfo.InvariantCulture, $"<tr><td>{H(a.Name)}</td><td><code>{H(a.Path)}</code></td><td><code title=\"{H(a.Sha256)}\">{H(Short(a.Sha256))}</code></td><td>{a.Size}</td></tr>"))) + "</table>");
            sb.Append(CultureInfo.InvariantCulture, $"<p class=\"meta\">produced by {H(task.TaskKey)} ({H(task.DispatchId)}){(result.Cached ? ", reused from the step cache" : "")}; read by {(consumers.Count == 0 ? "no step" : H(string.Join(", ", consumers)))}</p>");
        }

        sb.Append("<h4>Log</h4>");
        sb.Append(log is null ? "<p class=\"empty\">No log stored for this attempt.</p>" : $"<pre class=\"log\" id=\"task-log\">{H(log)}</pre>");
        return sb.ToString();
    }

    // ---- pipelines and models ---------------------------------------------------------------------------------------

    public static string Pipelines(IReadOnlyList<(string Name, int Versions, string? Active, DateTimeOffset Latest)> pipelines)
    {
        var sb = new StringBuilder("<h1>Pipelines</h1><table class=\"runs\" id=\"pipelines\"><thead><tr><th>Pipeline</th><th>Versions</th><th>Active</th><th>Latest</th></tr></thead><tbody>");
        foreach (var p in pipelines)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<tr data-pipeline=\"{H(p.Name)}\"><td><a href=\"pipelines/{H(Uri.EscapeDataString(p.Name))}\">{H(p.Name)}</a></td><td>{p.Versions}</td><td><code>{H(Short(p.Active ?? "-"))}</code></td><td>{Time(p.Latest)}</td></tr>");
        }

        if (pipelines.Count == 0)
        {
            sb.Append("<tr><td colspan=\"4\" class=\"empty\">No pipeline versions stored yet.</td></tr>");
        }

        return Layout("Pipelines", sb.Append("</tbody></table>").ToString(), "pipelines");
    }

    public static string Pipeline(string name, IReadOnlyList<(string Hash, DateTimeOffset Created, bool Active)> versions, PipelineSpec? shown, PipelineHealth health)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<h1>Pipeline {H(name)}</h1><h2>Versions</h2><table class=\"runs\"><thead><tr><th>Version</th><th>Stored</th><th></th></tr></thead><tbody>");
        foreach (var v in versions)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td><code title=\"{H(v.Hash)}\">{H(Short(v.Hash))}</code></td><td>{Time(v.Created)}</td><td>{(v.Active ? "active" : "")}</td></tr>");
        }

        sb.Append("</tbody></table><h2>Diagram</h2>");
        sb.Append(shown is null ? "<p class=\"empty\">No stored version parses.</p>" : Dag(shown, null));
        sb.Append(CultureInfo.InvariantCulture, $"<h2>Health since {Time(health.Since)}</h2>");
        sb.Append(CultureInfo.InvariantCulture, $"<table class=\"kv\" id=\"health\"><tr><th>runs</th><td>{health.Runs} ({health.Succeeded} succeeded, {health.Failed} failed, {health.Cancelled} cancelled, {health.Running} running)</td></tr>")
          .Append(CultureInfo.InvariantCulture, $"<tr><th>success rate</th><td>{Pct(health.SuccessRate)}</td></tr><tr><th>run duration p50 / p95</th><td>{Sec(health.RunP50Seconds)} / {Sec(health.RunP95Seconds)}</td></tr>")
          .Append(CultureInfo.InvariantCulture, $"<tr><th>retries</th><td>{health.Retries}</td></tr><tr><th>cache hit ratio</th><td>{Pct(health.CacheHitRatio)}</td></tr>")
          .Append(CultureInfo.InvariantCulture, $"<tr><th>Batch per run</th><td>{health.BatchNodeHoursPerRun:0.###} node-hours, ${health.BatchCostPerRun:0.####}</td></tr></table>");
        sb.Append("<table class=\"runs\"><thead><tr><th>Step</th><th>Tasks</th><th>Failed</th><th>Retries</th><th>Cached</th><th>p50</th><th>p95</th><th>Critical path</th><th>Would gain</th></tr></thead><tbody>");
        foreach (var s in health.Steps)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{H(s.Step)}</td><td>{s.Tasks}</td><td>{s.Failed}</td><td>{s.Retries}</td><td>{s.CacheHits}</td><td>{Sec(s.P50Seconds)}</td><td>{Sec(s.P95Seconds)}</td><td>{Pct(s.CriticalPathShare)}</td><td>{H(s.Advice)}</td></tr>");
        }

        return Layout("Pipeline " + name, sb.Append("</tbody></table>").ToString(), "pipelines");
    }

    public static string Models(IReadOnlyList<ModelView> models)
    {
        var sb = new StringBuilder("<h1>Models</h1>");
        if (models.Count == 0)
        {
            sb.Append("<p class=\"empty\">No model registered yet (the <code>register-model</code> step registers one).</p>");
        }

        foreach (var m in models)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<section class=\"model\" data-model=\"{H(m.Name)}\"><h2>{H(m.Name)}</h2><p class=\"meta\">")
              .Append(string.Join(" · ", m.Stages.Select(s => $"{H(s.Key)}: v{s.Value}")))
              .Append("</p><table class=\"runs\"><thead><tr><th>Version</th><th>Registered</th><th>Stage</th><th>Metrics</th><th>Produced by</th><th>Data (lineage)</th></tr></thead><tbody>");
            foreach (var v in m.Versions)
            {
                var stages = string.Join(", ", m.Stages.Where(s => s.Value == v.Version).Select(s => s.Key));
                sb.Append(CultureInfo.InvariantCulture, $"<tr><td>v{v.Version}</td><td>{Time(v.CreatedAt)}</td><td>{H(stages)}</td>")
                  .Append(CultureInfo.InvariantCulture, $"<td>{H(string.Join(", ", v.Metrics.Select(x => string.Create(CultureInfo.InvariantCulture, $"{x.Key}={x.Value:0.####}"))))}</td>")
                  .Append(CultureInfo.InvariantCulture, $"<td>{(v.Producer is { } p ? $"<a href=\"runs/{H(Uri.EscapeDataString(p.RunId))}\">{H(p.RunId)}</a> {H(p.Step)}" : "")}</td>")
                  .Append(CultureInfo.InvariantCulture, $"<td>{H(string.Join("; ", v.Data))}</td></tr>");
            }

            sb.Append("</tbody></table></section>");
        }

        return Layout("Models", sb.ToString(), "models");
    }

    /// <summary>A durable run that has not finished: its progress (the orchestration's custom status), refreshed every 2 s.</summary>
    public static string Progress(Trainyard.Service.RunInfo info)
    {
        var counts = info.Progress is { } p ? string.Join(", ", p.Counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{H(c.Key)} {c.Value.ToString(CultureInfo.InvariantCulture)}")) + $" of {p.Total.ToString(CultureInfo.InvariantCulture)} tasks" : "no progress reported yet";
        return Layout(info.RunId, $"<h1>Run {H(info.RunId)}</h1><p>{H(info.Pipeline)} · <span class=\"status\" data-run-state=\"{H(info.Status)}\">{H(info.Status)}</span></p><p data-progress>{counts}</p>{Buttons(info)}<p class=\"empty\">The durable engine reports task states when the run finishes; this page reloads until then.</p><meta http-equiv=\"refresh\" content=\"2\">");
    }

    private static string Buttons(Trainyard.Service.RunInfo info)
    {
        var (id, url) = (H(info.RunId), H(Uri.EscapeDataString(info.RunId)));
        var live = info.Status == "running" ? "" : " disabled";
        return $"<p class=\"actions\"><button id=\"cancel\" data-action=\"api/runs/{url}/cancel\" data-body='{{\"reason\":\"cancelled from the dashboard\"}}' data-confirm=\"Cancel run {id}?\"{live}>Cancel</button> "
            + $"<button id=\"approve\" data-action=\"api/runs/{url}/events/approve\" data-body='{{\"approved\":true,\"by\":\"dashboard\"}}' data-confirm=\"Send the approve event to run {id}?\"{live}>Approve</button></p>";
    }

    public static string Error(int status, string message) => Layout("Error", $"<h1>{status}</h1><p>{H(message)}</p>");

    private static string Px(double v) => v.ToString("0.#", CultureInfo.InvariantCulture) + "px";

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash;

    private static string Time(DateTimeOffset t) => $"<time datetime=\"{t.UtcDateTime.ToString("O", CultureInfo.InvariantCulture)}\">{t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}Z</time>";

    private static string Dur(TimeSpan t) => t.TotalSeconds < 60
        ? t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + "s"
        : t.TotalMinutes < 60 ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalMinutes}m{t.Seconds:00}s") : string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}h{t.Minutes:00}m");

    private static string Pct(double? v) => v is { } x ? (x * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%" : "-";

    private static string Sec(double? v) => v is { } x ? x.ToString("0.###", CultureInfo.InvariantCulture) + "s" : "-";
}

/// <summary>What the models page shows of one model.</summary>
internal sealed record ModelView(string Name, IReadOnlyDictionary<string, int> Stages, IReadOnlyList<ModelVersionView> Versions);

/// <summary>One model version on the models page.</summary>
internal sealed record ModelVersionView(int Version, DateTimeOffset CreatedAt, IReadOnlyDictionary<string, double> Metrics, (string RunId, string Step)? Producer, IReadOnlyList<string> Data);
