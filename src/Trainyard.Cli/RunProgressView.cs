using Spectre.Console;
using Spectre.Console.Rendering;
using Trainyard.Core.Engine;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

using Trainyard.Core.Text;

namespace Trainyard.Cli;

/// <summary>Shows a run's progress while `trainyard run` works on it.</summary>
internal abstract class RunProgressView
{
    /// <summary>The live table on a terminal, one line per change otherwise.</summary>
    public static RunProgressView Create(TextWriter output, bool interactive, Func<int> terminalHeight)
        => interactive ? new LiveView(SpectreViews.CreateConsole(output, interactive: true), terminalHeight) : new LineView(output);

    /// <summary>The live Spectre table when <paramref name="output"/> is a terminal, one plain line per change otherwise.</summary>
    public static RunProgressView Create(CliOutput output, Func<int> terminalHeight)
        => output.Rich ? new LiveView(output.Ansi, terminalHeight) : new LineView(output.Out);

    /// <summary>Shows the latest snapshot (called often; views throttle themselves).</summary>
    public abstract void Update(RunState state, DateTimeOffset now);

    /// <summary>Called once the run is final, before the summary is printed.</summary>
    public abstract void Finish(RunState state, DateTimeOffset now);

    /// <summary>
    /// A Spectre table redrawn in place, at most ten times a second. Long runs show the interesting tasks (running,
    /// failed, retrying) and a count of the rest so the view fits the terminal.
    /// </summary>
    internal sealed class LiveView(IAnsiConsole console, Func<int> terminalHeight) : RunProgressView
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
            Erase();
        }

        private void Erase()
        {
            if (_linesDrawn > 0)
            {
                console.Cursor.MoveUp(_linesDrawn);
                console.Write(new ControlCode("\e[J"));
                _linesDrawn = 0;
            }
        }

        private void Draw(RunState state, DateTimeOffset now)
        {
            _lastDraw = now;
            var frame = Frame(state, now, Math.Max(8, terminalHeight() - 2));
            Erase();
            console.Write(frame);
            _linesDrawn = SpectreViews.LineCount(console, frame);
        }

        /// <summary>One frame: a header line, the task table (borders take four lines) and a count of hidden tasks.</summary>
        internal static IRenderable Frame(RunState state, DateTimeOffset now, int maxLines)
        {
            var tasks = state.Tasks.Values.ToList();
            var done = tasks.Count(t => TaskReport.IsFinal(t.Status));
            var status = RunReport.Lower(state.Status);
            var items = new List<IRenderable>
            {
                new Markup($"[bold]run[/] {SpectreViews.Safe(state.RunId)}  {SpectreViews.Safe(state.PipelineName)}  [{SpectreViews.StatusStyle(status).ToMarkup()}]{status}[/]  {RunReport.FormatDuration((state.FinishedAt ?? now) - state.CreatedAt)}  {done}/{tasks.Count} tasks done"),
            };
            var budget = Math.Max(2, maxLines - 6);
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
            items.Add(SpectreViews.Table(["TASK", "STATUS", "ATTEMPT", "TIME", "NOTE"], rows));
            var hidden = tasks.Where(t => !shown.Contains(t)).ToList();
            if (hidden.Count > 0)
            {
                var byStatus = hidden.GroupBy(t => t.Status).OrderBy(g => g.Key).Select(g => $"{g.Count()} {RunReport.Lower(g.Key)}");
                items.Add(SpectreViews.Cell($"... and {hidden.Count} more: {string.Join(", ", byStatus)}"));
            }

            return new Rows(items);
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
