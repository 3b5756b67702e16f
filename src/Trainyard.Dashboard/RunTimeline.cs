using Trainyard.Core.Engine;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Dashboard;

/// <summary>One attempt of one task on the timeline.</summary>
public sealed record AttemptBar(string TaskKey, int Attempt, string DispatchId, DateTimeOffset Start, DateTimeOffset? End, string Outcome, bool Cached);

/// <summary>Attempts of a run from its journal: dispatch to result, retries as separate bars, cache hits marked.</summary>
public static class RunTimeline
{
    /// <summary>The attempts in dispatch order.</summary>
    public static IReadOnlyList<AttemptBar> Of(IReadOnlyList<RunEvent> journal)
    {
        ArgumentNullException.ThrowIfNull(journal);
        var open = new Dictionary<string, int>(StringComparer.Ordinal);
        var bars = new List<AttemptBar>();
        foreach (var e in journal)
        {
            switch (e)
            {
                case TaskDispatched d:
                    open[d.DispatchId] = bars.Count;
                    bars.Add(new AttemptBar(d.TaskKey, d.Attempt, d.DispatchId, d.At, null, "running", false));
                    break;
                case TaskSucceeded s when open.Remove(s.DispatchId, out var i):
                    bars[i] = bars[i] with { End = s.At, Outcome = "succeeded", Cached = s.Result.Cached };
                    break;
                case TaskFailed f when open.Remove(f.DispatchId, out var i):
                    bars[i] = bars[i] with { End = f.At, Outcome = f.TimedOut ? "timed out" : "failed" };
                    break;
                case TaskCancelled c:
                    foreach (var (id, i) in open.Where(o => bars[o.Value].TaskKey == c.TaskKey).ToList())
                    {
                        bars[i] = bars[i] with { End = c.At, Outcome = "cancelled" };
                        open.Remove(id);
                    }

                    break;
                case RunCompleted done:
                    foreach (var i in open.Values)
                    {
                        bars[i] = bars[i] with { End = done.At, Outcome = "cancelled" };
                    }

                    open.Clear();
                    break;
            }
        }

        return bars;
    }

    /// <summary>
    /// The last attempt of each task from a run's state (a durable run keeps no journal: earlier attempts of a retried
    /// task are not on its timeline), in start order.
    /// </summary>
    public static IReadOnlyList<AttemptBar> OfState(RunState run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return [.. run.Tasks.Values
            .Where(t => t.StartedAt is not null && t.Items is null)
            .OrderBy(t => t.StartedAt)
            .ThenBy(t => t.TaskKey, StringComparer.Ordinal)
            .Select(t => new AttemptBar(t.TaskKey, t.Attempt, t.DispatchId ?? "", t.StartedAt!.Value, t.FinishedAt, Outcome(t.Status), t.Status == TaskStatus.Cached || t.Result?.Cached == true))];
    }

    private static string Outcome(TaskStatus status) => status switch
    {
        TaskStatus.Succeeded or TaskStatus.Cached => "succeeded",
        TaskStatus.Failed => "failed",
        TaskStatus.Cancelled or TaskStatus.Skipped => "cancelled",
        _ => "running",
    };
}
