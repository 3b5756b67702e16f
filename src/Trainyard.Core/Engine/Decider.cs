using System.Collections.Immutable;
using Trainyard.Core.Spec;

namespace Trainyard.Core.Engine;

/// <summary>The pure run state machine: Decide(spec, state, event) -> (state', recorded events, commands).</summary>
/// <remarks>
/// No clock, randomness or I/O: time comes from <see cref="RunEvent.At"/>, ids and jitter from hashes
/// (<see cref="EngineIds"/>, <see cref="Backoff"/>). A decision costs O(log n) per task it touches, not O(n).
/// </remarks>
public static class Decider
{
    /// <summary>Applies one inbound event. <paramref name="state"/> is null only for <see cref="RunStarted"/>.</summary>
    /// <exception cref="ArgumentException">A decision event was passed in, or a non-start event has no state.</exception>
    /// <exception cref="InvalidOperationException">The spec does not match the run's state (a step of the run is missing).</exception>
    public static Decision Decide(PipelineSpec spec, RunState? state, RunEvent evt)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (state is not null && state.PipelineHash.Length > 0 && spec.ContentHash.Length > 0 && state.PipelineHash != spec.ContentHash)
        {
            throw new InvalidOperationException(
                $"run '{state.RunId}' started with version {state.PipelineHash} of pipeline '{state.PipelineName}', but was given version {spec.ContentHash}: load the pipeline version the run started with");
        }

        return DecideUnchecked(spec, state, evt);
    }

    // Replay skips the version check on purpose: it exists to find out whether another version decides the same.
    internal static Decision DecideUnchecked(PipelineSpec spec, RunState? state, RunEvent evt)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(evt);
        if (IsDecisionEvent(evt))
        {
            throw new ArgumentException(
                $"{evt.GetType().Name} '{evt.EventId}' is a decision event the decider records itself; pass only inbound events (RunStarted, TaskStarted, TaskSucceeded, TaskFailed, TimerFired, CancelRequested, EventRaised)",
                nameof(evt));
        }

        if (evt is RunStarted started)
        {
            return state is null ? DecisionContext.Start(spec, started) : Unchanged(state);
        }

        if (state is null)
        {
            throw new ArgumentException(
                $"{evt.GetType().Name} '{evt.EventId}' arrived with no run state: the first event of a run is RunStarted; load the run's snapshot before deciding",
                nameof(state));
        }

        if (state.Status != RunStatus.Running)
        {
            return Unchanged(state);
        }

        var ctx = new DecisionContext(spec, Normalize(state), evt);
        bool applied = evt switch
        {
            TaskStarted e => ctx.OnTaskStarted(e),
            TaskSucceeded e => ctx.OnTaskSucceeded(e),
            TaskFailed e => ctx.OnTaskFailed(e),
            TimerFired e => ctx.OnTimerFired(e),
            CancelRequested e => ctx.OnCancelRequested(e),
            EventRaised e => ctx.OnEventRaised(e),
            _ => throw new ArgumentException($"the decider does not know event type {evt.GetType().Name}: add a case for it", nameof(evt)),
        };
        return applied ? ctx.Finish() : Unchanged(state);
    }

    /// <summary>True for the events the decider records (TaskDispatched, TaskSkipped, TaskCancelled, RunCompleted).</summary>
    public static bool IsDecisionEvent(RunEvent evt)
        => evt is TaskDispatched or TaskSkipped or TaskCancelled or RunCompleted;

    private static Decision Unchanged(RunState state) => new(state, [], []) { Duplicate = true };

    // A snapshot read back from JSON gets the default (culture-aware) key comparer; lookups must be ordinal.
    private static RunState Normalize(RunState state)
        => ReferenceEquals(state.Tasks.KeyComparer, StringComparer.Ordinal)
            ? state
            : state with { Tasks = state.Tasks.WithComparers(StringComparer.Ordinal) };
}
