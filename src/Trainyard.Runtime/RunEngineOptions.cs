using Microsoft.Extensions.Logging;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.Runtime;

/// <summary>How a <see cref="RunEngine"/> behaves. Every field has a working default.</summary>
public sealed record RunEngineOptions
{
    /// <summary>Clock for event times, delays and claims (never read by the decider).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Logging; none by default.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Executors by kind. The builtin executor with the standard steps is added when none serves Builtin.</summary>
    public IReadOnlyList<ITaskExecutor> Executors { get; init; } = [];

    /// <summary>
    /// Why an executor kind is missing from <see cref="Executors"/> and what to do about it (e.g. Batch: which setting
    /// to set). A run with a step on a missing kind is refused at start with this text.
    /// </summary>
    public IReadOnlyDictionary<ExecutorKind, string> MissingExecutorHints { get; init; } = new Dictionary<ExecutorKind, string>();

    /// <summary>Step cache consulted for work items with caching enabled; none by default.</summary>
    public ITaskCache? TaskCache { get; init; }

    /// <summary>Told when runs finish.</summary>
    public IReadOnlyList<IRunNotifier> Notifiers { get; init; } = [];

    /// <summary>
    /// Turns pipeline text into a spec when a version is not in the spec cache (another process started the run).
    /// Null: <see cref="PipelineLoader.LoadOrThrow"/> with the standard step catalog.
    /// </summary>
    public Func<PipelineVersion, PipelineSpec>? SpecParser { get; init; }

    /// <summary>Identity of this process in claims and logs (default: machine/pid).</summary>
    public string WorkerId { get; init; } = $"{Environment.MachineName}/{Environment.ProcessId}";

    /// <summary>Root of per-attempt working folders: `{root}/{run}/{taskKey}/{dispatchId}`.</summary>
    public string WorkRoot { get; init; } = Path.Combine(Path.GetTempPath(), "trainyard-work");

    /// <summary>
    /// Claim each dispatch id in the key-value store (`dispatch/{dispatchId}`) before executing, so a duplicated work
    /// message never runs the same attempt twice at once, and a finished one never again. Costs two small writes per
    /// task; turn off only where executors are idempotent and store requests are precious.
    /// </summary>
    public bool ClaimDispatches { get; init; } = true;

    /// <summary>How long a claim holds without renewal; a crashed worker's attempt is taken over after this.</summary>
    public TimeSpan ClaimDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a running attempt renews its claim and checks its cancel flag (default: a third of the claim).</summary>
    public TimeSpan? HeartbeatInterval { get; init; }

    /// <summary>ETag conflicts tolerated per run per batch before the batch fails (and its messages are retried).</summary>
    public int MaxCommitAttempts { get; init; } = 50;

    /// <summary>Longest delay the queues accept (Azure Storage: 7 days); longer timers are chained.</summary>
    public TimeSpan MaxQueueDelay { get; init; } = TimeSpan.FromDays(7);

    /// <summary>
    /// Run attempts of built-in steps in this process right after the commit that dispatches them, instead of sending
    /// them through the work queue, and commit their results together (one commit per run for every result that arrived
    /// meanwhile). Durability is unchanged: the dispatch stays in the run's outbox until the commit that records its
    /// result removes it, so after a crash it is delivered to the work queue like any pending command, and the dispatch
    /// claim still keeps two copies of an attempt from running at once. For long-lived hosts that work their own queues
    /// (a local worker); hosts whose instances may vanish between invocations (the Function App) restrict it to steps
    /// that finish in milliseconds with <see cref="InlineFilter"/>; leave it off in one-shot processes (a command that
    /// commits and exits would leave its inline attempts pending until the run is next loaded, swept or resumed).
    /// </summary>
    public bool InlineBuiltins { get; init; }

    /// <summary>
    /// Which built-in attempts run inline when <see cref="InlineBuiltins"/> is on (null: all). A host without a long
    /// life of its own (the Function App) keeps to steps that finish in milliseconds.
    /// </summary>
    public Func<TaskWorkItem, bool>? InlineFilter { get; init; }

    /// <summary>Inline attempts running at once (<see cref="InlineBuiltins"/>).</summary>
    public int MaxInlineTasks { get; init; } = Math.Max(4, Environment.ProcessorCount * 2);

    /// <summary>Largest task log kept (bytes of text); the rest is cut with a note.</summary>
    public int MaxLogChars { get; init; } = 1 << 20;
}
