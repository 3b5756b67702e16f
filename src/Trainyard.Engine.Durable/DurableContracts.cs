using System.Text.Json;
using Trainyard.Core.Engine;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Engine.Durable;

/// <summary>Names of the Durable functions every host registers (the Function App and the in-process hosts alike).</summary>
public static class DurableNames
{
    /// <summary>The orchestrator that runs every pipeline by interpreting Core's decider.</summary>
    public const string RunPipeline = "RunPipeline";

    /// <summary>Sub-orchestration: one remote (Batch) attempt, submitted once and polled on durable timers.</summary>
    public const string RunRemoteTask = "RunRemoteTask";

    /// <summary>Sub-orchestration: a chunk of attempts of one large fan-out, so no history grows with the fan-out.</summary>
    public const string RunTaskChunk = "RunTaskChunk";

    /// <summary>Activity: one step attempt, exactly once per dispatch id.</summary>
    public const string RunTask = "RunTask";

    /// <summary>Activity: sets an attempt's cancel marker and stops its remote work.</summary>
    public const string CancelAttempt = "CancelAttempt";

    /// <summary>Activity: reads a pipeline version's text by content hash.</summary>
    public const string LoadPipeline = "LoadPipeline";

    /// <summary>Activity: releases what a finished run held remotely (Batch jobs).</summary>
    public const string RunFinished = "RunFinished";

    /// <summary>The one external event name a run listens to; the payload says what it is (<see cref="RunSignal"/>).</summary>
    public const string SignalEvent = "RunSignal";
}

/// <summary>Input of <see cref="DurableNames.RunPipeline"/>. The instance id is the run id.</summary>
public sealed record RunPipelineInput
{
    /// <summary>Run id (= Durable instance id).</summary>
    public required string RunId { get; init; }

    /// <summary>Pipeline name.</summary>
    public required string PipelineName { get; init; }

    /// <summary>Pipeline version (content hash): the orchestrator loads this exact version, never another.</summary>
    public required string PipelineHash { get; init; }

    /// <summary>
    /// The version's spec text, when the starter has it (the HTTP API, triggers and the CLI do): the run checks it against
    /// <see cref="PipelineHash"/> and skips the LoadPipeline activity. Null: the run loads the version by its hash.
    /// </summary>
    public string? SpecText { get; init; }

    /// <summary>Resolved params (defaults applied, types checked) as recorded in RunStarted.</summary>
    public IReadOnlyDictionary<string, JsonElement> Params { get; init; } = new Dictionary<string, JsonElement>();

    /// <summary>What started the run.</summary>
    public TriggerInfo Trigger { get; init; } = new("manual");

    /// <summary>For retry-from-failure: the run whose succeeded tasks are reused.</summary>
    public string? RetryOf { get; init; }

    /// <summary>For retry-from-failure: task key -> reused result.</summary>
    public IReadOnlyDictionary<string, TaskResult> Reused { get; init; } = new Dictionary<string, TaskResult>();

    /// <summary>Set by continue-as-new: the state to carry on from (null for a new run).</summary>
    public RunContinuation? Continuation { get; init; }
}

/// <summary>What a run carries across continue-as-new (history stays bounded for long runs and large fan-outs).</summary>
public sealed record RunContinuation
{
    /// <summary>The decider's state.</summary>
    public required RunState State { get; init; }

    /// <summary>Timers set by the decider that have not fired yet (timer id -> fire time).</summary>
    public IReadOnlyDictionary<string, DateTimeOffset> PendingTimers { get; init; } = new Dictionary<string, DateTimeOffset>();

    /// <summary>How many generations came before this one.</summary>
    public int Generation { get; init; }

    /// <summary>
    /// Attempts the decider dispatched that the previous generation held back (its history had reached its bound);
    /// this generation sends them first, in this order.
    /// </summary>
    public IReadOnlyList<TaskWorkItem> Held { get; init; } = [];
}

/// <summary>Input of <see cref="DurableNames.RunTaskChunk"/>: attempts of one large fan-out, run together.</summary>
public sealed record RunTaskChunkInput
{
    /// <summary>The attempts (remote ones run as <see cref="DurableNames.RunRemoteTask"/> sub-orchestrations).</summary>
    public required IReadOnlyList<TaskWorkItem> Works { get; init; }
}

/// <summary>Output of <see cref="DurableNames.RunTaskChunk"/>.</summary>
public sealed record RunTaskChunkOutput
{
    /// <summary>One report per attempt, in the order of <see cref="RunTaskChunkInput.Works"/>.</summary>
    public required IReadOnlyList<AttemptReport> Reports { get; init; }
}

/// <summary>Output of <see cref="DurableNames.RunPipeline"/>.</summary>
public sealed record RunPipelineOutput
{
    /// <summary>Final status.</summary>
    public required RunStatus Status { get; init; }

    /// <summary>Why it failed, if it did.</summary>
    public string? Error { get; init; }

    /// <summary>Final per-task view (small: statuses, attempts, errors, outputs are references).</summary>
    public required RunState State { get; init; }
}

/// <summary>What the single external event of a run (<see cref="DurableNames.SignalEvent"/>) carries.</summary>
public sealed record RunSignal
{
    /// <summary>"cancel" or "event".</summary>
    public required string Kind { get; init; }

    /// <summary>De-duplication id: the same id twice applies once.</summary>
    public required string EventId { get; init; }

    /// <summary>Event name (for "event"; approvals use the name the spec waits for).</summary>
    public string? Name { get; init; }

    /// <summary>Event payload (for "event").</summary>
    public JsonElement? Payload { get; init; }

    /// <summary>Why (for "cancel").</summary>
    public string? Reason { get; init; }

    /// <summary>Kind of a cancel request.</summary>
    public const string Cancel = "cancel";

    /// <summary>Kind of an external event.</summary>
    public const string Event = "event";
}

/// <summary>Input of <see cref="DurableNames.RunTask"/> (and of <see cref="DurableNames.RunRemoteTask"/>).</summary>
public sealed record RunTaskInput
{
    /// <summary>The attempt.</summary>
    public required TaskWorkItem Work { get; init; }

    /// <summary>Executor state from the previous poll of a remote attempt, or null on the first call.</summary>
    public JsonElement? ResumeState { get; init; }

    /// <summary>Poll count of a remote attempt (drives backoff).</summary>
    public int Poll { get; init; }
}

/// <summary>Outcome kinds of one <see cref="DurableNames.RunTask"/> call.</summary>
public enum AttemptReportKind
{
    /// <summary>The attempt succeeded.</summary>
    Succeeded,
    /// <summary>The attempt failed.</summary>
    Failed,
    /// <summary>The attempt was cancelled (its cancel marker was set); no result to apply.</summary>
    Cancelled,
    /// <summary>Remote work goes on: call again after <see cref="AttemptReport.PollAfter"/> with <see cref="AttemptReport.State"/>.</summary>
    Pending,
}

/// <summary>Output of <see cref="DurableNames.RunTask"/>: small (results are references, never data).</summary>
public sealed record AttemptReport
{
    /// <summary>What happened.</summary>
    public required AttemptReportKind Kind { get; init; }

    /// <summary>The result, when succeeded.</summary>
    public TaskResult? Result { get; init; }

    /// <summary>The error, when failed.</summary>
    public string? Error { get; init; }

    /// <summary>False when retrying cannot help.</summary>
    public bool Retryable { get; init; } = true;

    /// <summary>Process exit code, when there was a process.</summary>
    public int? ExitCode { get; init; }

    /// <summary>True when the attempt ran out of its own timeout.</summary>
    public bool TimedOut { get; init; }

    /// <summary>For pending remote work: when to poll again.</summary>
    public TimeSpan? PollAfter { get; init; }

    /// <summary>For pending remote work: executor state to pass to the next poll.</summary>
    public JsonElement? State { get; init; }

    /// <summary>True when this attempt's stored result was returned instead of running it again (a redelivery).</summary>
    public bool Redelivered { get; init; }
}

/// <summary>
/// Input of <see cref="DurableNames.RunFinished"/>; <paramref name="State"/> (the final state) only when the pipeline has
/// `notify:` entries, for the alerts.
/// </summary>
public sealed record RunFinishedInput(string RunId, string PipelineHash, RunStatus Status, RunState? State = null);

/// <summary>Input of <see cref="DurableNames.CancelAttempt"/>.</summary>
public sealed record CancelAttemptInput(TaskWorkItem Work, string Reason);

/// <summary>
/// What the orchestrator's activities do, implemented over the Execution layer (one implementation, used by every
/// host: the [Function] wrappers of the Function App and the in-process Durable Task Framework hosts).
/// </summary>
public interface IDurableActivities
{
    /// <summary>Runs (or, for remote work, submits or polls) one attempt exactly once per dispatch id.</summary>
    Task<AttemptReport> RunTaskAsync(RunTaskInput input, CancellationToken cancellationToken);

    /// <summary>Sets the attempt's cancel marker (a running attempt kills its process tree) and stops remote work.</summary>
    Task CancelAttemptAsync(CancelAttemptInput input, CancellationToken cancellationToken);

    /// <summary>The spec text of a pipeline version; throws when the version is unknown.</summary>
    Task<string> LoadPipelineAsync(string pipelineHash, CancellationToken cancellationToken);

    /// <summary>Sends a finished run's `notify:` alerts and releases what it held remotely; best effort, idempotent.</summary>
    Task RunFinishedAsync(RunFinishedInput input, CancellationToken cancellationToken);
}

/// <summary>
/// The run's custom status (at most 16 KB of UTF-16 text, 8,192 characters): a progress summary for listings, `trainyard status` and the dashboard.
/// </summary>
public sealed record RunProgress
{
    /// <summary>Pipeline name.</summary>
    public required string Pipeline { get; init; }

    /// <summary>Pipeline version.</summary>
    public required string Version { get; init; }

    /// <summary>Run status.</summary>
    public required RunStatus Status { get; init; }

    /// <summary>Trigger kind (manual, schedule, blob, drift, retry).</summary>
    public required string Trigger { get; init; }

    /// <summary>Task count per status (lower-case status name -> count).</summary>
    public IReadOnlyDictionary<string, int> Counts { get; init; } = new Dictionary<string, int>();

    /// <summary>Total tasks.</summary>
    public int Total { get; init; }

    /// <summary>Up to 20 task keys in flight.</summary>
    public IReadOnlyList<string> Running { get; init; } = [];

    /// <summary>Up to 20 task keys that failed, with their errors (truncated to 300 chars).</summary>
    public IReadOnlyDictionary<string, string> Failed { get; init; } = new Dictionary<string, string>();

    /// <summary>The run's error, when failing or failed.</summary>
    public string? Error { get; init; }

    /// <summary>Names of external events the run waits for (approvals).</summary>
    public IReadOnlyList<string> Waiting { get; init; } = [];

    /// <summary>Continue-as-new generation.</summary>
    public int Generation { get; init; }

    /// <summary>
    /// Each started step's state (step id -> state; a foreach step's items counted): what the dashboard draws the DAG's
    /// live node states from. Empty when the steps' entries could exceed <see cref="MaxStepsChars"/> or the
    /// whole status would not fit Durable's limit.
    /// </summary>
    public IReadOnlyDictionary<string, StepProgress> Steps { get; init; } = new Dictionary<string, StepProgress>();

    /// <summary>The most characters the <see cref="Steps"/> entries may take (the whole status stays under 16 KB).</summary>
    public const int MaxStepsChars = 3500;
}

/// <summary>A step's state in <see cref="RunProgress.Steps"/>: its task (a foreach step's parent task) in brief.</summary>
public sealed record StepProgress
{
    /// <summary>The step's task status.</summary>
    public required TaskStatus Status { get; init; }

    /// <summary>A foreach step's item count.</summary>
    public int? Items { get; init; }

    /// <summary>A foreach step's items not final yet.</summary>
    public int? ItemsOpen { get; init; }

    /// <summary>The attempt, from the second on.</summary>
    public int? Attempt { get; init; }
}
