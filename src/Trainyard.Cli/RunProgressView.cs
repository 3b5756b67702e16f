using System.Globalization;
using System.Text;
using Trainyard.Core.Engine;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

using Trainyard.Core.Text;

namespace Trainyard.Cli;

/// <summary>Shows a run's progress while `trainyard run` works on it.</summary>
internal abstract class RunProgressView
{
    /// <summary>The live table on a terminal, one line per change otherwise.</summary>
    public static RunProgressView Create(TextWriter output, bool interactive, Func<int> terminalHeight)
        => interactive ? new LiveView(output, terminalHeight) : new LineView(output);

    /// <summary>Shows the latest snapshot (called often; views throttle themselves).</summary>
    public abstract void Update(RunState state, DateTimeOffset now);

    /// <summary>Called once the run is final, before the summary is printed.</summary>
    public abstract void Finish(RunState state, DateTimeOffset now);

    /// <summary>
    /// A table redrawn in place with ANSI cursor movement, at most ten times a second. Long runs show the
    /// interesting tasks (running, failed, retrying) and a count of the rest so the view fits the terminal.
    /// </summary>
    private sealed class LiveView(TextWriter output, Func<int> terminalHeight) : RunProgressView
    {
        private static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(100);
        private int _linesDrawn;
        private DateTimeOffset _lastDraw = DateTimeOffset.MinValue;

        public override void Update(RunState state, DateTimeOffset now)
        {
            if (now - _lastDraw < MinInterval)
            {
                return;
            }

            Draw(state, now);
        }

        public override void Finish(RunState state, DateTimeOffset now)
        {
            // The summary that follows shows every task; erase the live frame rather than print the table twice.
            if (_linesDrawn > 0)
            {
                output.Write(string.Create(CultureInfo.InvariantCulture, $"\e[{_linesDrawn}A\e[J"));
                output.Flush();
                _linesDrawn = 0;
            }
        }

        private void Draw(RunState state, DateTimeOffset now)
        {
            _lastDraw = now;
            var lines = Render(state, now, Math.Max(6, terminalHeight() - 2));
            var sb = new StringBuilder();
            if (_linesDrawn > 0)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\e[{_linesDrawn}A");
            }

            foreach (var line in lines)
            {
                // The view's own escape sequences frame the line; what the line holds came from outside and is escaped.
                sb.Append("\e[2K").Append(Printable.Escape(line)).Append('\n');
            }

            // The table may shrink (rows folded into the summary); clear what the last frame left below.
            for (var i = lines.Count; i < _linesDrawn; i++)
            {
                sb.Append("\e[2K\n");
            }

            if (_linesDrawn > lines.Count)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\e[{_linesDrawn - lines.Count}A");
            }

            _linesDrawn = lines.Count;
            output.Write(sb.ToString());
            output.Flush();
        }

        internal static List<string> Render(RunState state, DateTimeOffset now, int maxLines)
        {
            var tasks = state.Tasks.Values.ToList();
            var done = tasks.Count(t => TaskReport.IsFinal(t.Status));
            var lines = new List<string>
            {
                $"run {state.RunId}  {state.PipelineName}  {RunReport.Lower(state.Status)}  {RunReport.FormatDuration((state.FinishedAt ?? now) - state.CreatedAt)}  {done}/{tasks.Count} tasks done",
            };
            var budget = maxLines - 3;
            var shown = RunReport.OrderTasks(state)
                .OrderBy(t => Priority(t.Status))
                .Take(tasks.Count <= budget ? tasks.Count : budget - 1)
                .ToHashSet();
            var rows = RunReport.OrderTasks(state).Where(shown.Contains).Select(t => new[]
            {
                t.TaskKey,
                Symbol(t.Status) + " " + RunReport.Lower(t.Status),
                RunReport.AttemptText(t.Attempt),
                t.StartedAt is { } s ? RunReport.FormatDuration((t.FinishedAt ?? now) - s) : "",
                t.RetryAt is { } retry && t.Status == TaskStatus.Ready ? $"retry in {RunReport.FormatDuration(retry - now)}" : FirstLine(t.Message),
            });
            lines.AddRange(TextTable.Render(["TASK", "STATUS", "ATTEMPT", "TIME", "NOTE"], rows).TrimEnd('\n').Split('\n'));
            var hidden = tasks.Where(t => !shown.Contains(t)).ToList();
            if (hidden.Count > 0)
            {
                var byStatus = hidden.GroupBy(t => t.Status).OrderBy(g => g.Key).Select(g => $"{g.Count()} {RunReport.Lower(g.Key)}");
                lines.Add($"... and {hidden.Count} more: {string.Join(", ", byStatus)}");
            }

            return lines;
        }

        private static int Priority(TaskStatus status) => status switch
        {
            TaskStatus.Running => 0,
            TaskStatus.Failed => 1,
            TaskStatus.Dispatched => 2,
            TaskStatus.Ready => 3,
            TaskStatus.Pending => 4,
            _ => 5,
        };

        private static string Symbol(TaskStatus status) => status switch
        {
            TaskStatus.Succeeded or TaskStatus.Cached => "✔",
            TaskStatus.Failed => "✘",
            TaskStatus.Running or TaskStatus.Dispatched => "▶",
            TaskStatus.Skipped or TaskStatus.Cancelled => "–",
            _ => "·",
        };

        private static string FirstLine(string? message)
        {
            if (message is null)
            {
                return "";
            }

            var line = message.Split('\n')[0];
            return line.Length > 60 ? line[..57] + "..." : line;
        }
    }

    /// <summary>For logs and pipes: one line each time a task changes status or attempt, nothing redrawn.</summary>
    private sealed class LineView(TextWriter output) : RunProgressView
    {
        private readonly Dictionary<string, (TaskStatus Status, int Attempt)> _seen = new(StringComparer.Ordinal);
        private bool _headerWritten;

        public override void Update(RunState state, DateTimeOffset now)
        {
            if (!_headerWritten)
            {
                output.WriteLine(Printable.Escape($"run {state.RunId} ({state.PipelineName}) started"));
                _headerWritten = true;
            }

            foreach (var task in RunReport.OrderTasks(state))
            {
                var key = (task.Status, task.Attempt);
                if (_seen.TryGetValue(task.TaskKey, out var last) && last == key)
                {
                    continue;
                }

                // Pending is where every task starts; printing it would only repeat the plan.
                if (task.Status == TaskStatus.Pending && !_seen.ContainsKey(task.TaskKey))
                {
                    _seen[task.TaskKey] = key;
                    continue;
                }

                _seen[task.TaskKey] = key;
                var elapsed = RunReport.FormatDuration(now - state.CreatedAt);
                var detail = task.Status switch
                {
                    TaskStatus.Failed or TaskStatus.Skipped or TaskStatus.Cancelled when task.Message is not null => ": " + task.Message.Split('\n')[0],
                    TaskStatus.Succeeded when task.StartedAt is { } s && task.FinishedAt is { } f => $" in {RunReport.FormatDuration(f - s)}",
                    _ => "",
                };
                var attempt = task.Attempt == 0 ? "" : $" (attempt {task.Attempt})";
                output.WriteLine(Printable.Escape($"[{elapsed,7}] {task.TaskKey} {RunReport.Lower(task.Status)}{attempt}{detail}"));
            }

            output.Flush();
        }

        public override void Finish(RunState state, DateTimeOffset now) => Update(state, now);
    }
}
