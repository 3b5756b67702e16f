using System.Text.Json;
using System.Text.Json.Serialization;
using Trainyard.Core.Spec;

namespace Trainyard.Core.Engine;

/// <summary>Something the decider asks the runtime to do after a commit. Every command has a deterministic id.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(DispatchTask), nameof(DispatchTask))]
[JsonDerivedType(typeof(ScheduleTimer), nameof(ScheduleTimer))]
[JsonDerivedType(typeof(CancelTask), nameof(CancelTask))]
[JsonDerivedType(typeof(NotifyRunFinished), nameof(NotifyRunFinished))]
public abstract record RunCommand
{
    /// <summary>Deterministic id (receivers de-duplicate on it).</summary>
    public required string CommandId { get; init; }
}

/// <summary>Send a work item for one task attempt.</summary>
public sealed record DispatchTask(TaskWorkItem Work) : RunCommand;

/// <summary>Deliver <see cref="TimerFired"/> to the run no earlier than <see cref="FireAt"/>.</summary>
public sealed record ScheduleTimer(string RunId, string TimerId, DateTimeOffset FireAt) : RunCommand;

/// <summary>Stop an attempt that is in flight (best effort; its late result is ignored).</summary>
public sealed record CancelTask(string RunId, string TaskKey, string DispatchId) : RunCommand;

/// <summary>The run finished; tell whoever listens.</summary>
public sealed record NotifyRunFinished(string RunId, RunStatus Status) : RunCommand;

/// <summary>Everything an executor needs to run one attempt; small (no data, only references).</summary>
public sealed record TaskWorkItem
{
    /// <summary>Run id.</summary>
    public required string RunId { get; init; }

    /// <summary>Task key: the step id, or `step[i]` for a foreach item.</summary>
    public required string TaskKey { get; init; }

    /// <summary>Step id.</summary>
    public required string StepId { get; init; }

    /// <summary>Attempt number, from 1.</summary>
    public required int Attempt { get; init; }

    /// <summary>Deterministic id of this attempt; side effects are keyed by it.</summary>
    public required string DispatchId { get; init; }

    /// <summary>Pipeline name.</summary>
    public required string PipelineName { get; init; }

    /// <summary>Pipeline version.</summary>
    public required string PipelineHash { get; init; }

    /// <summary>Where it runs.</summary>
    public required ExecutorKind Executor { get; init; }

    /// <summary>Built-in step name, for `uses`.</summary>
    public string? Uses { get; init; }

    /// <summary>Resolved argv, for `run`.</summary>
    public IReadOnlyList<string>? Command { get; init; }

    /// <summary>Container image, for `run`.</summary>
    public string? Image { get; init; }

    /// <summary>Resolved environment.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    /// <summary>Resolved `with` inputs.</summary>
    public IReadOnlyDictionary<string, JsonElement> Inputs { get; init; } = new Dictionary<string, JsonElement>();

    /// <summary>The foreach item, when fanned out.</summary>
    public JsonElement? Item { get; init; }

    /// <summary>Upstream artifacts this task may read (step id -> artifacts), for executors that stage inputs.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<ArtifactRef>> UpstreamArtifacts { get; init; } = new Dictionary<string, IReadOnlyList<ArtifactRef>>();

    /// <summary>Per-attempt timeout.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Resources asked.</summary>
    public ResourceSpec? Resources { get; init; }

    /// <summary>Caching for this step, if enabled.</summary>
    public CacheSpec? Cache { get; init; }

    /// <summary>Name of the attempt's captured stdout/stderr beside its outputs.</summary>
    public const string LogName = "log.txt";

    /// <summary>Artifact path prefix for this attempt's outputs: `runs/{run}/{taskKey}/{dispatchId}/`.</summary>
    public string OutputPrefix => OutputPrefixOf(RunId, TaskKey, DispatchId);

    /// <summary>Where this attempt's log is stored: `{OutputPrefix}log.txt`.</summary>
    public string LogPath => OutputPrefix + LogName;

    /// <summary>The output prefix of an attempt given by run, task and dispatch id.</summary>
    public static string OutputPrefixOf(string runId, string taskKey, string dispatchId) => $"runs/{runId}/{taskKey}/{dispatchId}/";

    /// <summary>The log path of an attempt given by run, task and dispatch id.</summary>
    public static string LogPathOf(string runId, string taskKey, string dispatchId) => OutputPrefixOf(runId, taskKey, dispatchId) + LogName;
}
