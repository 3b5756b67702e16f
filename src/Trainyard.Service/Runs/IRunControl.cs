using System.Collections.Immutable;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Engine.Durable;

namespace Trainyard.Service;

/// <summary>
/// Starts, reads and steers runs, whatever engine holds them (Durable Functions in Azure). A run id is the engine's
/// instance id; starting an id that exists changes nothing, so a trigger delivered twice starts one run.
/// </summary>
public interface IRunControl
{
    /// <summary>
    /// Starts the run <see cref="RunPipelineInput.RunId"/> unless a run with that id exists (whatever its status);
    /// tolerates a concurrent start. Params must be resolved already (defaults applied, types checked).
    /// </summary>
    Task<RunStartResult> StartAsync(RunPipelineInput request, CancellationToken cancellationToken);

    /// <summary>A run, or null when no run has that id.</summary>
    Task<RunInfo?> GetAsync(string runId, CancellationToken cancellationToken);

    /// <summary>Runs matching the query, newest first.</summary>
    Task<IReadOnlyList<RunInfo>> ListAsync(RunListQuery query, CancellationToken cancellationToken);

    /// <summary>Asks a run to cancel. Throws <see cref="RunControlException"/> for an unknown or finished run.</summary>
    Task CancelAsync(string runId, string reason, CancellationToken cancellationToken);

    /// <summary>
    /// Starts a run of a failed or cancelled run's pipeline version and params that reuses its succeeded tasks. The new
    /// run's id derives from the old one, so retrying the same run twice starts one retry. Throws
    /// <see cref="RunControlException"/> for an unknown, unfinished or succeeded run.
    /// </summary>
    Task<RunStartResult> RetryAsync(string runId, CancellationToken cancellationToken);

    /// <summary>Raises an external event (an approval); the same <paramref name="eventId"/> twice applies once.</summary>
    Task RaiseEventAsync(string runId, string name, JsonElement payload, string eventId, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes the engine's records of finished runs created before <paramref name="createdBefore"/>, at most
    /// <paramref name="maxBatches"/> engine calls of <paramref name="batchTimeout"/> each. Returns how many it purged
    /// and whether any are left.
    /// </summary>
    Task<PurgeOutcome> PurgeFinishedAsync(DateTimeOffset createdBefore, int maxBatches, TimeSpan batchTimeout, CancellationToken cancellationToken);
}

/// <summary>What a start did.</summary>
/// <param name="RunId">The run id.</param>
/// <param name="Created">True when this call started it; false when it existed already.</param>
public sealed record RunStartResult(string RunId, bool Created);

/// <summary>What a run looks like from outside: status, progress and, once finished, its final state.</summary>
public sealed record RunInfo
{
    /// <summary>Run id.</summary>
    public required string RunId { get; init; }

    /// <summary>Pipeline name (empty when the engine holds no input for the instance).</summary>
    public required string Pipeline { get; init; }

    /// <summary>Pipeline version.</summary>
    public required string Version { get; init; }

    /// <summary>pending, running, succeeded, failed or cancelled (<see cref="RunStatuses"/>).</summary>
    public required string Status { get; init; }

    /// <summary>What started the run.</summary>
    public TriggerInfo? Trigger { get; init; }

    /// <summary>For a retry: the run retried.</summary>
    public string? RetryOf { get; init; }

    /// <summary>When the engine created the run.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When the engine last recorded progress.</summary>
    public DateTimeOffset LastUpdatedAt { get; init; }

    /// <summary>The progress summary the run publishes (null before its first step).</summary>
    public RunProgress? Progress { get; init; }

    /// <summary>Why the run failed, when it did.</summary>
    public string? Error { get; init; }

    /// <summary>The final per-task state, once finished (only from <see cref="IRunControl.GetAsync"/>).</summary>
    public RunState? State { get; init; }

    /// <summary>True when the run is pending or running.</summary>
    public bool IsActive => Status is RunStatuses.Pending or RunStatuses.Running;

    /// <summary>
    /// The run as far as this tells: its final <see cref="State"/> once finished; until then its identity, trigger and
    /// times with one task per started step from the progress's per-step states (no attempts, outputs or logs).
    /// </summary>
    public RunState StateSoFar() => State ?? new RunState
    {
        RunId = RunId,
        PipelineName = Pipeline,
        PipelineHash = Version,
        Status = Progress?.Status ?? RunStatus.Running,
        Trigger = Trigger ?? new TriggerInfo("manual"),
        RetryOf = RetryOf,
        Error = Error ?? Progress?.Error,
        CreatedAt = CreatedAt,
        UpdatedAt = LastUpdatedAt,
        Tasks = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, (Progress?.Steps ?? new Dictionary<string, StepProgress>()).Select(s => KeyValuePair.Create(s.Key, new TaskState
        {
            TaskKey = s.Key,
            StepId = s.Key,
            Status = s.Value.Status,
            Attempt = s.Value.Attempt ?? 1,
            Items = s.Value.Items,
            ItemsOpen = s.Value.ItemsOpen,
        }))),
    };
}

/// <summary>The run statuses a caller sees (and filters by).</summary>
public static class RunStatuses
{
    /// <summary>Started, not yet picked up by the engine.</summary>
    public const string Pending = "pending";

    /// <summary>Running.</summary>
    public const string Running = "running";

    /// <summary>Finished: every task succeeded, was skipped or was allowed to fail.</summary>
    public const string Succeeded = "succeeded";

    /// <summary>Finished: a task failed for good, or the orchestration itself failed.</summary>
    public const string Failed = "failed";

    /// <summary>Finished: cancelled on request (or terminated).</summary>
    public const string Cancelled = "cancelled";

    /// <summary>Every status, in lifecycle order.</summary>
    public static IReadOnlyList<string> All { get; } = [Pending, Running, Succeeded, Failed, Cancelled];
}

/// <summary>A run listing filter.</summary>
public sealed record RunListQuery
{
    /// <summary>Only runs of this pipeline.</summary>
    public string? Pipeline { get; init; }

    /// <summary>Only runs with this status (one of <see cref="RunStatuses.All"/>).</summary>
    public string? Status { get; init; }

    /// <summary>Only runs created before this.</summary>
    public DateTimeOffset? CreatedBefore { get; init; }

    /// <summary>At most this many (1-1000).</summary>
    public int Limit { get; init; } = 100;
}

/// <summary>What a purge did.</summary>
/// <param name="Purged">Instances deleted.</param>
/// <param name="Complete">False when more are left for the next purge.</param>
public sealed record PurgeOutcome(int Purged, bool Complete);

/// <summary>Why a run request was refused.</summary>
public enum RunControlError
{
    /// <summary>No run has the id.</summary>
    NotFound,

    /// <summary>The run's status does not allow the request.</summary>
    Conflict,

    /// <summary>The request is malformed.</summary>
    Invalid,
}

/// <summary>A refused run request: what went wrong, the field at fault and what to do.</summary>
public sealed class RunControlException(RunControlError error, string code, string message, string field) : Exception(message)
{
    /// <summary>The kind of refusal.</summary>
    public RunControlError Error { get; } = error;

    /// <summary>A stable error code (unknown_run, run_finished...).</summary>
    public string Code { get; } = code;

    /// <summary>The request field at fault.</summary>
    public string Field { get; } = field;
}
