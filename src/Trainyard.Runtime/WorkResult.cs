using Trainyard.Execution;
using Trainyard.Execution.Contracts;

namespace Trainyard.Runtime;

/// <summary>What <see cref="RunEngine.ExecuteWorkAsync"/> did with one work message.</summary>
public enum WorkResultKind
{
    /// <summary>Executed; success reported to the run.</summary>
    Succeeded,
    /// <summary>Executed; failure reported to the run.</summary>
    Failed,
    /// <summary>A remote attempt is still running; a poll message was queued.</summary>
    Pending,
    /// <summary>Not executed: the attempt was already done, cancelled, superseded, or its run is finished.</summary>
    Skipped,
    /// <summary>Another worker holds this attempt; give the message back and look again after <see cref="WorkResult.RetryAfter"/>.</summary>
    Busy,
    /// <summary>Cancelled while running (run cancelled, task timed out elsewhere); nothing reported.</summary>
    Cancelled,
}

/// <summary>The result of one work message; complete the message unless <see cref="RetryAfter"/> is set.</summary>
public sealed record WorkResult(WorkResultKind Kind, string? Detail = null)
{
    /// <summary>When set, abandon the message with this delay instead of completing it.</summary>
    public TimeSpan? RetryAfter { get; init; }
}

/// <summary>What <see cref="RunEngine.HandleControlAsync"/> did with a batch.</summary>
public sealed record ControlBatchResult
{
    /// <summary>Runs whose events were committed (or found to be duplicates).</summary>
    public IReadOnlyList<string> Applied { get; init; } = [];

    /// <summary>Messages dropped for good (unknown run, unreadable pipeline), with the reason; complete them.</summary>
    public IReadOnlyList<RejectedMessage> Rejected { get; init; } = [];

    /// <summary>Runs that hit a transient error (storage, conflicts beyond the bound); retry their messages later.</summary>
    public IReadOnlyDictionary<string, Exception> Failed { get; init; } = new Dictionary<string, Exception>();
}

/// <summary>A control message that can never apply.</summary>
public sealed record RejectedMessage(string RunId, string EventId, string Reason);

/// <summary>What <see cref="RunEngine.RecoverStalledAsync"/> found: the keys of items pending now (pass them to the next sweep) and how many it delivered.</summary>
public sealed record StalledSweep(IReadOnlySet<string> Pending, int Delivered)
{
    /// <summary>Runs that had items delivered.</summary>
    public int Runs { get; init; }
}
