using System.Text.Json;
using System.Text.Json.Serialization;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Engine.Durable;

/// <summary>Builds a run's <see cref="RunProgress"/> (the custom status, kept far below Durable's 16 KB).</summary>
internal sealed class ProgressBuilder
{
    public const int MaxListed = 20;

    /// <summary>16 KB of UTF-16 text, less a margin: the most characters the serialized status may take.</summary>
    public const int MaxChars = 8000;
    public const int MaxErrorChars = 300;
    private const int MaxRunErrorChars = 2000;

    private readonly RunPipelineInput _input;
    private readonly IReadOnlyList<(string StepId, IReadOnlyList<string> Events)> _waits;
    private readonly IReadOnlyList<string> _steps;

    public ProgressBuilder(PipelineSpec spec, RunPipelineInput input)
    {
        _input = input;

        // A step's entry takes its id plus at most ~70 characters; a pipeline whose entries could overflow the budget
        // reports counts only (the dashboard then shows progress without node states until the run finishes).
        _steps = spec.Steps.Sum(s => s.Id.Length + 70) <= RunProgress.MaxStepsChars ? [.. spec.Steps.Select(s => s.Id)] : [];
        _waits = [.. spec.Steps.Select(s => (s.Id, EventNames(s.When))).Where(w => w.Item2.Count > 0)];
    }

    public static string TriggerKind(RunPipelineInput input) => input.RetryOf is not null ? "retry" : input.Trigger.Kind;

    public static string Truncate(string text, int max) => text.Length <= max ? text : text[..(max - 3)] + "...";

    /// <summary>The progress of <paramref name="state"/>.</summary>
    public RunProgress Build(RunState state, int generation)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var running = new List<string>();
        var failed = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, t) in state.Tasks)
        {
            var status = JsonNamingPolicy.CamelCase.ConvertName(t.Status.ToString());
            counts[status] = counts.GetValueOrDefault(status) + 1;
            if (t.InFlight && running.Count < MaxListed)
            {
                running.Add(key);
            }
            else if (t.Status == TaskStatus.Failed && failed.Count < MaxListed)
            {
                failed[key] = Truncate(t.Message ?? "failed", MaxErrorChars);
            }
        }

        var waiting = new SortedSet<string>(StringComparer.Ordinal);
        if (state.Status == RunStatus.Running)
        {
            foreach (var (stepId, events) in _waits)
            {
                if (state.Tasks.TryGetValue(stepId, out var t) && t.Status == TaskStatus.Pending)
                {
                    waiting.UnionWith(events.Where(e => !state.RaisedEvents.ContainsKey(e)));
                }
            }
        }

        var progress = new RunProgress
        {
            Pipeline = _input.PipelineName,
            Version = _input.PipelineHash,
            Status = state.Status,
            Trigger = TriggerKind(_input),
            Counts = counts,
            Total = state.Tasks.Count,
            Running = running,
            Failed = failed,
            Error = state.Error is null ? null : Truncate(state.Error, MaxRunErrorChars),
            Waiting = [.. waiting.Take(MaxListed)],
            Generation = generation,
            Steps = StepsOf(state),
        };
        return Fit(progress);
    }

    /// <summary>
    /// Keeps the status within Durable's limit (16 KB of UTF-16 text: <see cref="MaxChars"/> characters): first without
    /// the per-step states, then with shorter lists. A status over the limit would fail the orchestration in Azure.
    /// </summary>
    internal static RunProgress Fit(RunProgress progress)
    {
        if (Chars(progress) <= MaxChars)
        {
            return progress;
        }

        progress = progress with { Steps = new Dictionary<string, StepProgress>() };
        if (Chars(progress) <= MaxChars)
        {
            return progress;
        }

        const int Few = 5, Short = 120;
        return progress with
        {
            Running = [.. progress.Running.Take(Few)],
            Failed = progress.Failed.Take(Few).ToDictionary(f => f.Key, f => Truncate(f.Value, Short), StringComparer.Ordinal),
            Waiting = [.. progress.Waiting.Take(Few)],
            Error = progress.Error is null ? null : Truncate(progress.Error, 1000),
        };
    }

    private static int Chars(RunProgress progress) => JsonSerializer.Serialize(progress, EngineJson.Options).Length;

    private SortedDictionary<string, StepProgress> StepsOf(RunState state)
    {
        var steps = new SortedDictionary<string, StepProgress>(StringComparer.Ordinal);
        foreach (var id in _steps)
        {
            if (state.Tasks.TryGetValue(id, out var t))
            {
                steps[id] = new StepProgress { Status = t.Status, Items = t.Items, ItemsOpen = t.Items is null ? null : t.ItemsOpen ?? 0, Attempt = t.Attempt > 1 ? t.Attempt : null };
            }
        }

        return steps;
    }

    // Names after "events." in a `when` expression: the external events a step waits for (approvals).
    private static IReadOnlyList<string> EventNames(string? when)
    {
        if (string.IsNullOrEmpty(when))
        {
            return [];
        }

        const string Prefix = "events.";
        var names = new List<string>();
        for (int i = when.IndexOf(Prefix, StringComparison.Ordinal); i >= 0; i = when.IndexOf(Prefix, i + 1, StringComparison.Ordinal))
        {
            if (i > 0 && (char.IsLetterOrDigit(when[i - 1]) || when[i - 1] is '_' or '.'))
            {
                continue;
            }

            int start = i + Prefix.Length;
            int end = start;
            while (end < when.Length && (char.IsLetterOrDigit(when[end]) || when[end] is '_' or '-'))
            {
                end++;
            }

            if (end > start)
            {
                names.Add(when[start..end]);
            }
        }

        return names;
    }
}

/// <summary>
/// The custom status of a running RunPipeline: serialized as the <see cref="RunProgress"/> of the run's state at the end
/// of each episode. Durable keeps only the status an episode ends with, and an episode that sets none clears it (one
/// whose only event wakes nothing, such as a replaced alarm firing): set once, it is right in every episode, computed
/// once per episode rather than after every event.
/// </summary>
[JsonConverter(typeof(Converter))]
internal sealed class LiveProgress(Func<RunProgress> current)
{
    public RunProgress Current() => current();

    private sealed class Converter : JsonConverter<LiveProgress>
    {
        public override LiveProgress Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
            => throw new NotSupportedException("the custom status is read as a RunProgress");

        public override void Write(Utf8JsonWriter writer, LiveProgress value, JsonSerializerOptions options)
            => JsonSerializer.Serialize(writer, value.Current(), options);
    }
}
