using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Core.Steps;
using Trainyard.Execution;
using Trainyard.Execution.Contracts;

namespace Trainyard.Engine.Durable;

/// <summary>
/// The one implementation of the orchestrator's activities, over the Execution layer: every host (the Function App's
/// [Function] wrappers, the in-process Durable Task Framework hosts) runs step attempts through the same
/// <see cref="AttemptRunner"/> as the embedded engine, so a step behaves the same everywhere.
/// </summary>
public sealed class DurableActivities : IDurableActivities
{
    private readonly AttemptRunner _runner;
    private readonly IPipelineStore _pipelines;
    private readonly StepCatalog? _catalog;

    /// <summary>Creates the activities over a runner (executors, artifacts, claims) and the store of pipeline versions.</summary>
    public DurableActivities(AttemptRunner runner, IPipelineStore pipelines, StepCatalog? catalog = null)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(pipelines);
        _runner = runner;
        _pipelines = pipelines;
        _catalog = catalog;
    }

    /// <summary>The runner.</summary>
    public AttemptRunner Runner => _runner;

    /// <summary>
    /// Sends a finished run's `notify:` alerts (the hosts pass their webhook sender): called by RunFinished with the run's
    /// spec and final state when the pipeline has `notify:` entries. Its failures are logged by the host, never the run's.
    /// </summary>
    public Func<PipelineSpec, RunState, CancellationToken, Task>? OnRunFinished { get; init; }

    /// <inheritdoc />
    public async Task<AttemptReport> RunTaskAsync(RunTaskInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var once = await _runner.RunOnceAsync(input.Work, input.ResumeState, cancellationToken).ConfigureAwait(false);
        return once.Outcome switch
        {
            null => new AttemptReport { Kind = AttemptReportKind.Cancelled, Redelivered = once.Redelivered },
            TaskOutcome.Succeeded s => new AttemptReport { Kind = AttemptReportKind.Succeeded, Result = s.Result, Redelivered = once.Redelivered },
            TaskOutcome.Failed f => new AttemptReport
            {
                Kind = AttemptReportKind.Failed,
                Error = f.Error,
                Retryable = f.Retryable,
                ExitCode = f.ExitCode,
                TimedOut = once.TimedOut,
                Redelivered = once.Redelivered,
            },
            TaskOutcome.Pending p => new AttemptReport { Kind = AttemptReportKind.Pending, PollAfter = p.PollAfter, State = p.State },
            _ => throw new InvalidOperationException($"executor for {input.Work.Executor} returned an unknown outcome {once.Outcome.GetType().Name}"),
        };
    }

    /// <inheritdoc />
    public async Task CancelAttemptAsync(CancelAttemptInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        // The marker first: an attempt running in another process sees it at its next heartbeat and kills its process
        // tree; one that has not started yet finds it when it claims. Then the local and remote work, if any.
        await _runner.Claims.CancelAsync(input.Work.DispatchId, cancellationToken).ConfigureAwait(false);
        await _runner.CancelLocalAsync(input.Work.DispatchId).ConfigureAwait(false);
        await _runner.StopRemoteAsync(input.Work, started: true, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<string> LoadPipelineAsync(string pipelineHash, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pipelineHash);
        var version = await _pipelines.GetPipelineAsync(pipelineHash, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException(
                $"pipeline version {pipelineHash} is not in the pipeline store; a run keeps the version it started with, so push that version again (`trainyard pipelines push FILE`) or start a new run");
        return version.SpecText;
    }

    /// <inheritdoc />
    public async Task RunFinishedAsync(RunFinishedInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var release = _runner.RemoteExecutors.Any();
        var notify = input.State is not null && OnRunFinished is not null;
        if (!release && !notify)
        {
            return;
        }

        var text = await LoadPipelineAsync(input.PipelineHash, cancellationToken).ConfigureAwait(false);
        var spec = PipelineLoader.LoadOrThrow(text, input.PipelineHash, _catalog);
        if (notify)
        {
            // First: alerts go out even when releasing remote work fails (that failure is logged by the orchestrator).
            await OnRunFinished!(spec, input.State!, cancellationToken).ConfigureAwait(false);
        }

        if (release)
        {
            await _runner.ReleaseRemoteAsync(input.RunId, input.Status, spec, cancellationToken).ConfigureAwait(false);
        }
    }
}
