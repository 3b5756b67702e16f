using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Core.Steps;

namespace Trainyard.Execution.Contracts;

/// <summary>Runs task attempts of one executor kind. Must be idempotent per dispatch id (docs/architecture.md, invariant 2).</summary>
public interface ITaskExecutor
{
    /// <summary>The kind it serves.</summary>
    ExecutorKind Kind { get; }

    /// <summary>
    /// Runs (or, for remote executors, starts or polls) an attempt. Long remote work returns
    /// <see cref="TaskOutcome.Pending"/> instead of blocking; the runtime calls again after the delay with the state.
    /// </summary>
    Task<TaskOutcome> ExecuteAsync(TaskExecutionContext context, CancellationToken cancellationToken);
}

/// <summary>
/// An executor whose attempts run elsewhere (e.g. Azure Batch) and go on running between its calls. The runtime tells
/// it when an attempt was cancelled (run cancelled, attempt timed out) and when a run is over, so the remote work
/// stops and what the run held remotely is released. Both calls are best effort, may come more than once, and must
/// be idempotent.
/// </summary>
public interface IRemoteTaskExecutor : ITaskExecutor
{
    /// <summary>Stops the remote work of a cancelled attempt; no error when it already finished or never started.</summary>
    Task CancelAttemptAsync(TaskWorkItem work, CancellationToken cancellationToken);

    /// <summary>Releases what a finished run of <paramref name="spec"/> held remotely (e.g. its Batch jobs); called for runs with a step of this kind.</summary>
    Task RunFinishedAsync(string runId, RunStatus status, PipelineSpec spec, CancellationToken cancellationToken);
}

/// <summary>What an executor gets for one attempt.</summary>
public sealed record TaskExecutionContext
{
    /// <summary>The work item.</summary>
    public required TaskWorkItem Work { get; init; }

    /// <summary>Artifact store (inputs and outputs).</summary>
    public required IArtifactStore Artifacts { get; init; }

    /// <summary>A local scratch folder for this attempt (created by the runtime, kept for debugging).</summary>
    public required string WorkingDirectory { get; init; }

    /// <summary>Writes a line to the task's log (stored as an artifact beside the outputs).</summary>
    public required Func<string, CancellationToken, Task> Log { get; init; }

    /// <summary>State returned by a previous <see cref="TaskOutcome.Pending"/> for this attempt, or null on the first call.</summary>
    public JsonElement? ResumeState { get; init; }
}

/// <summary>The result of one executor call.</summary>
public abstract record TaskOutcome
{
    /// <summary>Done, successfully.</summary>
    public sealed record Succeeded(TaskResult Result) : TaskOutcome;

    /// <summary>Done, failed.</summary>
    public sealed record Failed(string Error, bool Retryable = true, int? ExitCode = null) : TaskOutcome;

    /// <summary>Still running remotely; call again after <see cref="PollAfter"/> with <see cref="State"/>.</summary>
    public sealed record Pending(TimeSpan PollAfter, JsonElement State) : TaskOutcome;
}

/// <summary>An in-process built-in step (`uses:`).</summary>
public interface IBuiltinStep
{
    /// <summary>Name, version, inputs and outputs (also feeds validation).</summary>
    BuiltinStepInfo Info { get; }

    /// <summary>Runs the step. Throw <see cref="StepFailedException"/> for an expected failure with a clear message.</summary>
    Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken);
}

/// <summary>What a built-in step gets.</summary>
public sealed record StepContext
{
    /// <summary>The work item (inputs, item, ids).</summary>
    public required TaskWorkItem Work { get; init; }

    /// <summary>Artifact store.</summary>
    public required IArtifactStore Artifacts { get; init; }

    /// <summary>Scratch folder for this attempt; not created in advance for built-in steps: call Directory.CreateDirectory before writing there.</summary>
    public required string WorkingDirectory { get; init; }

    /// <summary>Writes a line to the task's log.</summary>
    public required Func<string, CancellationToken, Task> Log { get; init; }

    /// <summary>Services a step may need (signal sinks, registry, clock).</summary>
    public IServiceProvider? Services { get; init; }

    /// <summary>Clock for steps that record times (never used by the decider).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>An expected step failure; <see cref="Retryable"/> false means retrying cannot help.</summary>
public sealed class StepFailedException(string message, bool retryable = false) : Exception(message)
{
    /// <summary>Whether another attempt may succeed.</summary>
    public bool Retryable { get; } = retryable;
}
