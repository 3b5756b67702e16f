using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Engine.Durable;
using Trainyard.Runtime;
using Trainyard.Runtime.Contracts;
using Trainyard.Service;

namespace Trainyard.Dashboard;

/// <summary>
/// <see cref="IRunControl"/> over the embedded engine, so the dashboard serves the Function App's HTTP API
/// (<see cref="ApiHandler"/>) over a local store with the same routes and shapes.
/// </summary>
public sealed class EngineRunControl(RunEngine engine, TimeProvider time) : IRunControl
{
    /// <inheritdoc />
    public async Task<RunStartResult> StartAsync(RunPipelineInput request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (await engine.GetRunAsync(request.RunId, cancellationToken).ConfigureAwait(false) is not null)
        {
            return new RunStartResult(request.RunId, false);
        }

        var version = await engine.Backend.Store.GetPipelineAsync(request.PipelineHash, cancellationToken).ConfigureAwait(false)
            ?? throw new RunControlException(RunControlError.NotFound, "unknown_version", $"pipeline version {request.PipelineHash} is not stored; push it with POST /api/pipelines", "version");
        var spec = await engine.GetPipelineSpecAsync(request.PipelineHash, cancellationToken).ConfigureAwait(false);
        try
        {
            var id = await engine.StartRunAsync(new StartRunRequest { Spec = spec, SpecText = version.SpecText, Params = request.Params, RunId = request.RunId, Trigger = request.Trigger }, cancellationToken).ConfigureAwait(false);
            return new RunStartResult(id, true);
        }
        catch (RunRequestException e)
        {
            throw new RunControlException(RunControlError.Invalid, "invalid_request", e.Message, "params");
        }
    }

    /// <inheritdoc />
    public async Task<RunInfo?> GetAsync(string runId, CancellationToken cancellationToken)
        => await engine.GetRunAsync(runId, cancellationToken).ConfigureAwait(false) is { } run ? Info(run) : null;

    /// <inheritdoc />
    public async Task<IReadOnlyList<RunInfo>> ListAsync(RunListQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Status == RunStatuses.Pending)
        {
            return []; // the embedded engine commits RunStarted and the first dispatches together: no run waits to be picked up
        }

        var list = await engine.Backend.Store.ListRunsAsync(new RunQuery { PipelineName = query.Pipeline, Status = query.Status, OlderThan = query.CreatedBefore, Limit = query.Limit }, cancellationToken).ConfigureAwait(false);
        return [.. list.Select(s => new RunInfo
        {
            RunId = s.RunId,
            Pipeline = s.PipelineName,
            Version = s.PipelineHash,
            Status = s.Status.ToLowerInvariant(),
            Trigger = s.TriggerKind is { } k ? new TriggerInfo(k) : null,
            CreatedAt = s.CreatedAt,
            LastUpdatedAt = s.UpdatedAt,
        })];
    }

    /// <inheritdoc />
    public async Task CancelAsync(string runId, string reason, CancellationToken cancellationToken)
    {
        var run = await Known(runId, cancellationToken).ConfigureAwait(false);
        if (run.Status != RunStatus.Running)
        {
            throw new RunControlException(RunControlError.Conflict, "run_finished", $"run '{runId}' is {Lower(run.Status)}; only running runs can be cancelled", "runId");
        }

        await engine.CancelRunAsync(runId, reason, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<RunStartResult> RetryAsync(string runId, CancellationToken cancellationToken)
    {
        var run = await Known(runId, cancellationToken).ConfigureAwait(false);
        if (run.Status is RunStatus.Running or RunStatus.Succeeded)
        {
            throw new RunControlException(RunControlError.Conflict, "not_retryable", $"run '{runId}' is {Lower(run.Status)}; only failed or cancelled runs can be retried", "runId");
        }

        return new RunStartResult(await engine.RetryRunAsync(runId, cancellationToken).ConfigureAwait(false), true);
    }

    /// <inheritdoc />
    public async Task RaiseEventAsync(string runId, string name, JsonElement payload, string eventId, CancellationToken cancellationToken)
    {
        var run = await Known(runId, cancellationToken).ConfigureAwait(false);
        if (run.Status != RunStatus.Running)
        {
            throw new RunControlException(RunControlError.Conflict, "run_finished", $"run '{runId}' is {Lower(run.Status)}; events go to running runs", "runId");
        }

        await engine.RaiseEventAsync(runId, name, payload, cancellationToken, eventId).ConfigureAwait(false);
    }

    /// <summary>Purges runs that finished before <paramref name="createdBefore"/>, all in one go (a local store needs no batching).</summary>
    public async Task<PurgeOutcome> PurgeFinishedAsync(DateTimeOffset createdBefore, int maxBatches, TimeSpan batchTimeout, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatches, 1);
        var purged = await RunPurger.PurgeAsync(engine.Backend, new PurgeOptions { FinishedBefore = createdBefore }, null, time, cancellationToken).ConfigureAwait(false);
        return new PurgeOutcome(purged, true);
    }

    private async Task<RunState> Known(string runId, CancellationToken ct)
        => await engine.GetRunAsync(runId, ct).ConfigureAwait(false)
            ?? throw new RunControlException(RunControlError.NotFound, "unknown_run", $"no run with id '{runId}'; list runs with GET /api/runs", "runId");

    private static RunInfo Info(RunState run) => new()
    {
        RunId = run.RunId,
        Pipeline = run.PipelineName,
        Version = run.PipelineHash,
        Status = Lower(run.Status),
        Trigger = run.Trigger,
        RetryOf = run.RetryOf,
        CreatedAt = run.CreatedAt,
        LastUpdatedAt = run.UpdatedAt,
        Error = run.Error,
        State = run,
    };

    private static string Lower(RunStatus status) => status.ToString().ToLowerInvariant();
}
