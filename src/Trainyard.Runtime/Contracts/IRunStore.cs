using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.Runtime.Contracts;

/// <summary>
/// Durable run state. Stores are dumb: they hold JSON text the runtime produces and enforce the ETag.
/// See docs/architecture.md, "The embedded engine".
/// </summary>
public interface IRunStore : IPipelineStore, IKeyValueStore
{
    /// <summary>Loads a run's snapshot, ETag and undelivered outbox; null when the run does not exist.</summary>
    Task<StoredRun?> LoadAsync(string runId, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically appends journal entries, replaces the snapshot and adds outbox items, only if the stored ETag
    /// equals <see cref="RunCommit.ExpectedETag"/> (null: the run must not exist yet).
    /// Throws <see cref="ConcurrencyException"/> otherwise, changing nothing. Returns the new ETag.
    /// </summary>
    Task<string> CommitAsync(RunCommit commit, CancellationToken cancellationToken);

    /// <summary>Removes delivered outbox items (idempotent; unknown ids are ignored).</summary>
    Task MarkDeliveredAsync(string runId, IReadOnlyList<string> outboxIds, CancellationToken cancellationToken);

    /// <summary>Reads a run's journal in order.</summary>
    Task<IReadOnlyList<JournalEntry>> ReadJournalAsync(string runId, CancellationToken cancellationToken);

    /// <summary>Lists runs, newest first.</summary>
    Task<IReadOnlyList<RunSummary>> ListRunsAsync(RunQuery query, CancellationToken cancellationToken);

    /// <summary>Deletes a run's snapshot, journal and outbox (not its artifacts).</summary>
    Task DeleteRunAsync(string runId, CancellationToken cancellationToken);
}

/// <summary>A loaded run.</summary>
public sealed record StoredRun(string RunId, string SnapshotJson, string ETag, IReadOnlyList<OutboxItem> PendingOutbox);

/// <summary>One atomic commit.</summary>
public sealed record RunCommit
{
    /// <summary>Run id.</summary>
    public required string RunId { get; init; }

    /// <summary>ETag the stored run must have; null to create.</summary>
    public required string? ExpectedETag { get; init; }

    /// <summary>New snapshot (JSON of RunState).</summary>
    public required string SnapshotJson { get; init; }

    /// <summary>Journal entries to append (sequence numbers continue the stored journal).</summary>
    public required IReadOnlyList<JournalEntry> NewEntries { get; init; }

    /// <summary>Commands to deliver after the commit.</summary>
    public required IReadOnlyList<OutboxItem> Outbox { get; init; }

    /// <summary>
    /// Ids of pending outbox items removed in the same atomic commit (commands the runtime delivered in-process, e.g. a
    /// task it ran inline whose result this commit records). Unknown ids are ignored, as by <see cref="IRunStore.MarkDeliveredAsync"/>.
    /// </summary>
    public IReadOnlyList<string> Delivered { get; init; } = [];

    /// <summary>Listing fields, kept beside the snapshot.</summary>
    public required RunSummary Summary { get; init; }
}

/// <summary>A journal entry: one event as JSON.</summary>
public sealed record JournalEntry(long Sequence, string Type, string EventJson, DateTimeOffset At);

/// <summary>A command waiting to be delivered: the target queue and the message to send.</summary>
public sealed record OutboxItem(string Id, OutboxTarget Target, string Body, DateTimeOffset? VisibleAt);

/// <summary>Where an outbox item goes.</summary>
public enum OutboxTarget
{
    /// <summary>The control queue (run events, timers).</summary>
    Control,
    /// <summary>The work queue (task attempts).</summary>
    Work,
    /// <summary>Notification sinks (run finished).</summary>
    Notify,
    /// <summary>Cancel an in-flight attempt: sets its `dispatch/{dispatchId}` key-value record to cancelled (body: a CancelTask command).</summary>
    Cancel,
}

/// <summary>Listing fields of a run.</summary>
public sealed record RunSummary(string RunId, string PipelineName, string PipelineHash, string Status, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    /// <summary>Final time, if finished.</summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>Trigger kind.</summary>
    public string? TriggerKind { get; init; }
}

/// <summary>Run listing filter.</summary>
public sealed record RunQuery
{
    /// <summary>Only this pipeline.</summary>
    public string? PipelineName { get; init; }

    /// <summary>Only this status.</summary>
    public string? Status { get; init; }

    /// <summary>Only runs finished (or, if running, updated) before this.</summary>
    public DateTimeOffset? OlderThan { get; init; }

    /// <summary>At most this many.</summary>
    public int Limit { get; init; } = 100;
}
