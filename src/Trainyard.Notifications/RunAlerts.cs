using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Notifications;

/// <summary>One webhook delivery to make: which entry, which event, about what.</summary>
public sealed record Alert
{
    /// <summary>The `notify:` entry it goes to.</summary>
    public required NotifySpec Target { get; init; }

    /// <summary>The event.</summary>
    public required NotifyEvent Event { get; init; }

    /// <summary>Stable id of this delivery (run, event, task, entry): receivers de-duplicate at-least-once deliveries on it.</summary>
    public required string DeliveryId { get; init; }

    /// <summary>The JSON body.</summary>
    public required string Body { get; init; }
}

/// <summary>What a finished or stuck run should be told to whom, from its spec's `notify:` entries. Pure.</summary>
public static class RunAlerts
{
    /// <summary>Built-in step names whose results raise their own events.</summary>
    public const string QualityGateStep = "quality-gate";

    /// <summary>The drift step.</summary>
    public const string DriftStep = "drift";

    /// <summary>Alerts of a run that reached a final state.</summary>
    public static IReadOnlyList<Alert> ForFinishedRun(PipelineSpec spec, RunState run)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(run);
        var alerts = new List<Alert>();
        var runEvent = run.Status switch
        {
            RunStatus.Failed => NotifyEvent.RunFailed,
            RunStatus.Succeeded => NotifyEvent.RunSucceeded,
            _ => (NotifyEvent?)null,
        };
        for (int i = 0; i < spec.Notify.Count; i++)
        {
            var on = NotifyEvents.Effective(spec.Notify[i], stepLevel: false);
            if (runEvent is { } e && on.Contains(e))
            {
                alerts.Add(Make(spec.Notify[i], $"notify[{i}]", e, run, null, RunText(e, run)));
            }

            foreach (var (task, ev, text) in TaskEvents(spec, run, s => true))
            {
                if (on.Contains(ev) && ev != NotifyEvent.StepFailed)
                {
                    alerts.Add(Make(spec.Notify[i], $"notify[{i}]", ev, run, task, text));
                }
            }
        }

        foreach (var step in spec.Steps.Where(s => s.Notify.Count > 0))
        {
            for (int i = 0; i < step.Notify.Count; i++)
            {
                var on = NotifyEvents.Effective(step.Notify[i], stepLevel: true);
                foreach (var (task, ev, text) in TaskEvents(spec, run, s => s.Id == step.Id))
                {
                    if (on.Contains(ev))
                    {
                        alerts.Add(Make(step.Notify[i], $"{step.Id}.notify[{i}]", ev, run, task, text));
                    }
                }
            }
        }

        return alerts;
    }

    /// <summary>`run-stuck` alerts of a run that has been running for <paramref name="runningFor"/>.</summary>
    public static IReadOnlyList<Alert> ForStuckRun(PipelineSpec spec, RunState run, TimeSpan runningFor)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(run);
        var alerts = new List<Alert>();
        for (int i = 0; i < spec.Notify.Count; i++)
        {
            var n = spec.Notify[i];
            if (run.Status == RunStatus.Running && n.StuckAfter is { } after && runningFor >= after && NotifyEvents.Effective(n, stepLevel: false).Contains(NotifyEvent.RunStuck))
            {
                var text = string.Create(CultureInfo.InvariantCulture,
                    $"Trainyard run {run.RunId} of {run.PipelineName} has been running for {Hours(runningFor)} (stuckAfter {Hours(after)}); {Open(run)}");
                alerts.Add(Make(n, $"notify[{i}]", NotifyEvent.RunStuck, run, null, text));
            }
        }

        return alerts;
    }

    private static IEnumerable<(TaskState Task, NotifyEvent Event, string Text)> TaskEvents(PipelineSpec spec, RunState run, Func<StepSpec, bool> steps)
    {
        var byId = spec.Steps.Where(steps).ToDictionary(s => s.Id, StringComparer.Ordinal);
        foreach (var t in run.Tasks.Values)
        {
            if (!byId.TryGetValue(t.StepId, out var step) || (t.ItemIndex is null && step.Foreach is not null))
            {
                continue; // a foreach step's own task only sums up its items
            }

            if (t.Status == TaskStatus.Failed)
            {
                yield return (t, NotifyEvent.StepFailed, $"Trainyard step {t.TaskKey} of run {run.RunId} ({run.PipelineName}) failed after {t.Attempt} attempt(s): {t.Message}");
            }

            var outputs = t.Result?.Outputs;
            if (step.Uses == QualityGateStep
                && (t.Status == TaskStatus.Failed || (outputs is not null && outputs.TryGetValue("passed", out var passed) && passed.ValueKind == JsonValueKind.False)))
            {
                yield return (t, NotifyEvent.QualityGateFailed, $"Trainyard quality gate {t.TaskKey} of run {run.RunId} ({run.PipelineName}) failed: {t.Message ?? Failures(outputs)}");
            }

            if (step.Uses == DriftStep && outputs is not null && outputs.TryGetValue("drifted", out var drifted) && drifted.ValueKind == JsonValueKind.True)
            {
                yield return (t, NotifyEvent.DriftDetected, $"Trainyard detected drift in step {t.TaskKey} of run {run.RunId} ({run.PipelineName})");
            }
        }
    }

    private static string RunText(NotifyEvent e, RunState run) => e == NotifyEvent.RunFailed
        ? $"Trainyard run {run.RunId} of {run.PipelineName} failed: {run.Error ?? "a task failed"}"
        : string.Create(CultureInfo.InvariantCulture, $"Trainyard run {run.RunId} of {run.PipelineName} succeeded in {Hours((run.FinishedAt ?? run.UpdatedAt) - run.CreatedAt)}");

    private static string Failures(IReadOnlyDictionary<string, JsonElement>? outputs)
        => outputs is not null && outputs.TryGetValue("failures", out var f) && f.ValueKind == JsonValueKind.Array
            ? string.Join("; ", f.EnumerateArray().Select(x => x.ToString()))
            : "passed: false";

    private static string Open(RunState run)
    {
        var inFlight = run.Tasks.Values.Where(t => t.InFlight).Select(t => t.TaskKey).Take(5).ToList();
        return inFlight.Count == 0 ? "no task in flight" : "in flight: " + string.Join(", ", inFlight);
    }

    private static string Hours(TimeSpan t) => t.TotalHours >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalHours:0.#} h")
        : string.Create(CultureInfo.InvariantCulture, $"{t.TotalMinutes:0.#} min");

    private static Alert Make(NotifySpec target, string entry, NotifyEvent e, RunState run, TaskState? task, string text)
    {
        var name = NotifyEvents.NameOf(e);
        var delivery = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{run.RunId}\n{name}\n{task?.TaskKey}\n{entry}")))[..32];
        // `text` is what Slack and Teams incoming webhooks show; the other fields are for programs.
        var body = JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["text"] = text,
            ["event"] = name,
            ["deliveryId"] = delivery,
            ["run"] = new Dictionary<string, object?>
            {
                ["id"] = run.RunId,
                ["pipeline"] = run.PipelineName,
                ["version"] = run.PipelineHash,
                ["status"] = run.Status.ToString().ToLowerInvariant(),
                ["trigger"] = run.Trigger.Kind,
                ["startedAt"] = run.CreatedAt,
                ["finishedAt"] = run.FinishedAt,
                ["error"] = run.Error,
            },
            ["task"] = task is null ? null : new Dictionary<string, object?>
            {
                ["key"] = task.TaskKey,
                ["step"] = task.StepId,
                ["status"] = task.Status.ToString().ToLowerInvariant(),
                ["attempt"] = task.Attempt,
                ["message"] = task.Message,
                ["outputs"] = task.Result?.Outputs,
            },
        });
        return new Alert { Target = target, Event = e, DeliveryId = delivery, Body = body };
    }
}
