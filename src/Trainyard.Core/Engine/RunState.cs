using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Trainyard.Core.Engine;

/// <summary>Run status.</summary>
public enum RunStatus
{
    /// <summary>Started, not finished.</summary>
    Running,
    /// <summary>Every task succeeded, was skipped or was allowed to fail.</summary>
    Succeeded,
    /// <summary>A task failed and its step does not continue on failure, or the run timed out.</summary>
    Failed,
    /// <summary>Cancelled on request.</summary>
    Cancelled,
}

/// <summary>Task status.</summary>
public enum TaskStatus
{
    /// <summary>Waiting for its needs.</summary>
    Pending,
    /// <summary>Needs met; waiting for a parallelism slot or a retry timer.</summary>
    Ready,
    /// <summary>Work item sent.</summary>
    Dispatched,
    /// <summary>A worker reported it started.</summary>
    Running,
    /// <summary>Done.</summary>
    Succeeded,
    /// <summary>Failed for good (after retries).</summary>
    Failed,
    /// <summary>Will not run (condition false, or an upstream failed/skipped).</summary>
    Skipped,
    /// <summary>Cancelled.</summary>
    Cancelled,
    /// <summary>Succeeded by reusing a cached result.</summary>
    Cached,
}

/// <summary>One task (a step, or one foreach item of a step).</summary>
public sealed record TaskState
{
    /// <summary>Task key (`step` or `step[i]`).</summary>
    public required string TaskKey { get; init; }

    /// <summary>Step id.</summary>
    public required string StepId { get; init; }

    /// <summary>Foreach index, or null.</summary>
    public int? ItemIndex { get; init; }

    /// <summary>Status.</summary>
    public TaskStatus Status { get; init; } = TaskStatus.Pending;

    /// <summary>Current or last attempt (0 before the first dispatch).</summary>
    public int Attempt { get; init; }

    /// <summary>Dispatch id of the attempt in flight or last finished.</summary>
    public string? DispatchId { get; init; }

    /// <summary>Result when succeeded or cached.</summary>
    public TaskResult? Result { get; init; }

    /// <summary>Last error, or the skip/cancel reason.</summary>
    public string? Message { get; init; }

    /// <summary>First dispatch time.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>Time it reached a final state.</summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>When a retry timer will make it ready again.</summary>
    public DateTimeOffset? RetryAt { get; init; }

    /// <summary>For a step's own task while pending: how many of its needs are not final yet (null: none).</summary>
    public int? NeedsOpen { get; init; }

    /// <summary>The foreach item this task runs on (item tasks only).</summary>
    public JsonElement? Item { get; init; }

    /// <summary>For a foreach step's own task: how many items it fanned out to (null before expansion).</summary>
    public int? Items { get; init; }

    /// <summary>For a foreach step's own task: items not yet final.</summary>
    public int? ItemsOpen { get; init; }

    /// <summary>For a foreach step's own task: items dispatched or running (bounded by foreach.maxParallel).</summary>
    public int? ItemsInFlight { get; init; }

    /// <summary>True when the task is in flight (dispatched or running).</summary>
    [JsonIgnore]
    public bool InFlight => Status is TaskStatus.Dispatched or TaskStatus.Running;

    /// <summary>True when the task reached a final state (succeeded, cached, failed, skipped, cancelled).</summary>
    [JsonIgnore]
    public bool IsFinal => Status is TaskStatus.Succeeded or TaskStatus.Cached or TaskStatus.Failed or TaskStatus.Skipped or TaskStatus.Cancelled;
}

/// <summary>A run's state: the fold of its journal. Immutable; the decider returns a new one.</summary>
public sealed record RunState
{
    /// <summary>Run id.</summary>
    public required string RunId { get; init; }

    /// <summary>Pipeline name.</summary>
    public required string PipelineName { get; init; }

    /// <summary>Pipeline version.</summary>
    public required string PipelineHash { get; init; }

    /// <summary>Status.</summary>
    public RunStatus Status { get; init; } = RunStatus.Running;

    /// <summary>Resolved params.</summary>
    public ImmutableSortedDictionary<string, JsonElement> Params { get; init; } = ImmutableSortedDictionary.Create<string, JsonElement>(StringComparer.Ordinal);

    /// <summary>What started it.</summary>
    public TriggerInfo Trigger { get; init; } = new("manual");

    /// <summary>Tasks by key (ordinal order; the decider never relies on this order for decisions).</summary>
    public ImmutableSortedDictionary<string, TaskState> Tasks { get; init; } = ImmutableSortedDictionary.Create<string, TaskState>(StringComparer.Ordinal);

    /// <summary>Ids of inbound events already applied that cannot be de-duplicated by task state (raised events, cancels).</summary>
    public ImmutableSortedSet<string> SeenEventIds { get; init; } = ImmutableSortedSet.Create<string>(StringComparer.Ordinal);

    /// <summary>External events received, by name.</summary>
    public ImmutableSortedDictionary<string, JsonElement> RaisedEvents { get; init; } = ImmutableSortedDictionary.Create<string, JsonElement>(StringComparer.Ordinal);

    /// <summary>Run start.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Time of the last event applied.</summary>
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>Final time.</summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>Why the run failed or was cancelled.</summary>
    public string? Error { get; init; }

    /// <summary>Number of journal entries folded into this state.</summary>
    public long Version { get; init; }

    /// <summary>The run this one retries, if any.</summary>
    public string? RetryOf { get; init; }

    /// <summary>Tasks in flight (dispatched or running); bounded by the pipeline's maxParallel.</summary>
    public int InFlight { get; init; }

    /// <summary>Tasks not yet final (a foreach step's own task included); the run completes at zero.</summary>
    public int Open { get; init; }

    /// <summary>Ready task keys waiting for a parallelism slot, in dispatch order (step order in the file, then item index).</summary>
    public ImmutableList<string> Queue { get; init; } = ImmutableList<string>.Empty;

    /// <summary>Results of foreach items reused from <see cref="RetryOf"/>, applied when their step fans out (null: none).</summary>
    public ImmutableSortedDictionary<string, TaskResult>? ReusedItems { get; init; }

    /// <summary>True while a failure is failing the run: nothing new is dispatched and the run completes once no task is in flight.</summary>
    [JsonIgnore]
    public bool Failing => Status == RunStatus.Running && Error is not null;
}

/// <summary>What one event did to a run.</summary>
public sealed record Decision(RunState State, IReadOnlyList<RunEvent> Recorded, IReadOnlyList<RunCommand> Commands)
{
    /// <summary>True when the event was a duplicate and changed nothing.</summary>
    public bool Duplicate { get; init; }
}
