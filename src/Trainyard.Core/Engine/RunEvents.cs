using System.Text.Json;
using System.Text.Json.Serialization;

namespace Trainyard.Core.Engine;

/// <summary>
/// One entry of a run's journal. Inbound events (RunStarted, TaskSucceeded, TimerFired, ...) come from outside;
/// decision events (TaskDispatched, TaskSkipped, RunCompleted, ...) are recorded by the decider so replay can
/// check that the same journal still yields the same decisions.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(RunStarted), nameof(RunStarted))]
[JsonDerivedType(typeof(TaskDispatched), nameof(TaskDispatched))]
[JsonDerivedType(typeof(TaskStarted), nameof(TaskStarted))]
[JsonDerivedType(typeof(TaskSucceeded), nameof(TaskSucceeded))]
[JsonDerivedType(typeof(TaskFailed), nameof(TaskFailed))]
[JsonDerivedType(typeof(TaskSkipped), nameof(TaskSkipped))]
[JsonDerivedType(typeof(TaskCancelled), nameof(TaskCancelled))]
[JsonDerivedType(typeof(TimerFired), nameof(TimerFired))]
[JsonDerivedType(typeof(CancelRequested), nameof(CancelRequested))]
[JsonDerivedType(typeof(EventRaised), nameof(EventRaised))]
[JsonDerivedType(typeof(RunCompleted), nameof(RunCompleted))]
public abstract record RunEvent
{
    /// <summary>Unique id; inbound events with an id already applied are dropped.</summary>
    public required string EventId { get; init; }

    /// <summary>When the event happened (stamped by the runtime's TimeProvider; the decider never reads a clock).</summary>
    public required DateTimeOffset At { get; init; }
}

/// <summary>Who or what started a run.</summary>
public sealed record TriggerInfo(string Kind, string? TriggerId = null)
{
    /// <summary>Trigger identity details (blob path + ETag, scheduled time, message id...).</summary>
    public IReadOnlyDictionary<string, string> Detail { get; init; } = new Dictionary<string, string>();
}

/// <summary>A reference to an artifact a task produced (never the bytes).</summary>
public sealed record ArtifactRef(string Name, string Path, string Sha256, long Size);

/// <summary>The first event of every run.</summary>
public sealed record RunStarted : RunEvent
{
    /// <summary>Run id (deterministic for triggered runs).</summary>
    public required string RunId { get; init; }

    /// <summary>Pipeline name.</summary>
    public required string PipelineName { get; init; }

    /// <summary>Pipeline version (content hash).</summary>
    public required string PipelineHash { get; init; }

    /// <summary>Resolved params (defaults applied, types checked).</summary>
    public IReadOnlyDictionary<string, JsonElement> Params { get; init; } = new Dictionary<string, JsonElement>();

    /// <summary>What started it.</summary>
    public TriggerInfo Trigger { get; init; } = new("manual");

    /// <summary>For retry-from-failure: the run whose succeeded tasks are reused.</summary>
    public string? RetryOf { get; init; }

    /// <summary>For retry-from-failure: task key -> result reused from <see cref="RetryOf"/>.</summary>
    public IReadOnlyDictionary<string, TaskResult> Reused { get; init; } = new Dictionary<string, TaskResult>();
}

/// <summary>Decision: an attempt of a task was dispatched.</summary>
public sealed record TaskDispatched(string TaskKey, int Attempt, string DispatchId) : RunEvent;

/// <summary>Inbound: a worker began executing an attempt.</summary>
public sealed record TaskStarted(string TaskKey, string DispatchId) : RunEvent
{
    /// <summary>Worker identity, for display.</summary>
    public string? Worker { get; init; }
}

/// <summary>The result of a successful task: small values plus artifact references.</summary>
public sealed record TaskResult
{
    /// <summary>Small output values (metrics, names, paths).</summary>
    public IReadOnlyDictionary<string, JsonElement> Outputs { get; init; } = new Dictionary<string, JsonElement>();

    /// <summary>Files produced.</summary>
    public IReadOnlyList<ArtifactRef> Artifacts { get; init; } = [];

    /// <summary>True when reused from the step cache.</summary>
    public bool Cached { get; init; }

    /// <summary>Cache key of the step definition + inputs, when caching applies.</summary>
    public string? CacheKey { get; init; }
}

/// <summary>Inbound: an attempt succeeded.</summary>
public sealed record TaskSucceeded(string TaskKey, string DispatchId, TaskResult Result) : RunEvent;

/// <summary>Inbound: an attempt failed.</summary>
public sealed record TaskFailed(string TaskKey, string DispatchId, string Error) : RunEvent
{
    /// <summary>False when retrying cannot help (bad input, unknown step); the task fails at once.</summary>
    public bool Retryable { get; init; } = true;

    /// <summary>Process exit code, when there was a process.</summary>
    public int? ExitCode { get; init; }

    /// <summary>True for a timeout (reported by the runtime's timer).</summary>
    public bool TimedOut { get; init; }
}

/// <summary>Decision: a task will not run, and why.</summary>
public sealed record TaskSkipped(string TaskKey, string Reason) : RunEvent;

/// <summary>Decision: a task was cancelled.</summary>
public sealed record TaskCancelled(string TaskKey, string Reason) : RunEvent;

/// <summary>Inbound: a durable timer set by the decider fired.</summary>
public sealed record TimerFired(string TimerId) : RunEvent;

/// <summary>Inbound: someone asked to cancel the run.</summary>
public sealed record CancelRequested(string Reason) : RunEvent;

/// <summary>Inbound: an external event (e.g. an approval).</summary>
public sealed record EventRaised(string Name, JsonElement Payload) : RunEvent;

/// <summary>Decision: the run reached a final state.</summary>
public sealed record RunCompleted(RunStatus Status, string? Error) : RunEvent;
