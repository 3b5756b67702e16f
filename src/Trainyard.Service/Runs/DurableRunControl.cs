using System.Text.Json;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Trainyard.Core.Engine;
using Trainyard.Engine.Durable;
using CoreTaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Service;

/// <summary>
/// <see cref="IRunControl"/> over a Durable Task client: one <see cref="DurableNames.RunPipeline"/> instance per run,
/// instance id = run id. Inputs and signals go through the client's data converter (the hosts set it to
/// <see cref="EngineJson.Options"/>); outputs and custom status are read from their serialized text with those options.
/// </summary>
public sealed partial class DurableRunControl : IRunControl
{
    /// <summary>Instances scanned at most for one listing (filters on pipeline and status are applied while scanning).</summary>
    public const int MaxScanned = 5000;

    private static readonly OrchestrationRuntimeStatus[] EveryStatus =
    [
        OrchestrationRuntimeStatus.Pending, OrchestrationRuntimeStatus.Running, OrchestrationRuntimeStatus.Suspended,
        OrchestrationRuntimeStatus.Completed, OrchestrationRuntimeStatus.Failed, OrchestrationRuntimeStatus.Terminated,
    ];

    private static readonly OrchestrationRuntimeStatus[] Finished =
        [OrchestrationRuntimeStatus.Completed, OrchestrationRuntimeStatus.Failed, OrchestrationRuntimeStatus.Terminated];

    private readonly DurableTaskClient _client;
    private readonly ILogger _logger;

    /// <summary>Creates run control over a client (in Functions, the one the invocation's DurableClient binding gives).</summary>
    public DurableRunControl(DurableTaskClient client, ILogger<DurableRunControl> logger)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(logger);
        _client = client;
        _logger = logger;
    }

    /// <inheritdoc />
    public async Task<RunStartResult> StartAsync(RunPipelineInput request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (RunIds.Problem(request.RunId) is { } problem)
        {
            throw new RunControlException(RunControlError.Invalid, "invalid_run_id", problem + "; choose another run id.", "runId");
        }

        // Starting an id whose instance finished would replace that instance (and its history): look first.
        if (await _client.GetInstanceAsync(request.RunId, getInputsAndOutputs: false, cancellationToken).ConfigureAwait(false) is not null)
        {
            LogExists(request.RunId, request.PipelineName);
            return new RunStartResult(request.RunId, false);
        }

        // Belt and braces for the race between the check and the start: the terminal statuses (the SDK's documented
        // dedupe set) make the provider refuse to replace a finished run; providers refuse a pending or running one anyway.
        var options = new StartOrchestrationOptions(request.RunId).WithDedupeStatuses([.. StartOrchestrationOptionsExtensions.ValidDedupeStatuses]);
        try
        {
            await _client.ScheduleNewOrchestrationInstanceAsync(DurableNames.RunPipeline, request, options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A concurrent start of the same id won the race: the run exists, which is all the caller asked for.
            if (await _client.GetInstanceAsync(request.RunId, getInputsAndOutputs: false, cancellationToken).ConfigureAwait(false) is not null)
            {
                LogStartRace(request.RunId);
                return new RunStartResult(request.RunId, false);
            }

            throw;
        }

        LogStarted(request.RunId, request.PipelineName, request.PipelineHash, request.Trigger.Kind);
        return new RunStartResult(request.RunId, true);
    }

    /// <inheritdoc />
    public async Task<RunInfo?> GetAsync(string runId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runId);
        if (RunIds.Problem(runId) is not null)
        {
            return null;
        }

        var metadata = await _client.GetInstanceAsync(runId, getInputsAndOutputs: true, cancellationToken).ConfigureAwait(false);

        // Sub-orchestrations (remote attempts, fan-out chunks) are engine internals, not runs.
        return metadata is null || metadata.Name != DurableNames.RunPipeline ? null : ToInfo(metadata, withState: true);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<RunInfo>> ListAsync(RunListQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Limit is < 1 or > 1000)
        {
            throw new RunControlException(RunControlError.Invalid, "invalid_query", "'limit' must be a whole number from 1 to 1000", "limit");
        }

        IReadOnlyList<OrchestrationRuntimeStatus> statuses = query.Status switch
        {
            null => EveryStatus,
            RunStatuses.Pending => [OrchestrationRuntimeStatus.Pending],
            RunStatuses.Running => [OrchestrationRuntimeStatus.Running, OrchestrationRuntimeStatus.Suspended],
            RunStatuses.Succeeded => [OrchestrationRuntimeStatus.Completed],
            RunStatuses.Failed => [OrchestrationRuntimeStatus.Completed, OrchestrationRuntimeStatus.Failed],
            RunStatuses.Cancelled => [OrchestrationRuntimeStatus.Completed, OrchestrationRuntimeStatus.Terminated],
            var other => throw new RunControlException(RunControlError.Invalid, "invalid_query", $"'status' must be one of {string.Join(", ", RunStatuses.All)} (got '{other}')", "status"),
        };

        var found = new List<RunInfo>();
        int scanned = 0;
        var pages = _client.GetAllInstancesAsync(new OrchestrationQuery(CreatedTo: query.CreatedBefore, Statuses: statuses, FetchInputsAndOutputs: true));
        await foreach (var metadata in pages.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (++scanned > MaxScanned)
            {
                break;
            }

            // Sub-orchestrations (remote attempts, fan-out chunks) are engine internals, not runs.
            if (metadata.Name != DurableNames.RunPipeline)
            {
                continue;
            }

            var info = ToInfo(metadata, withState: false);
            if ((query.Pipeline is null || info.Pipeline == query.Pipeline) && (query.Status is null || info.Status == query.Status))
            {
                found.Add(info);
            }
        }

        return [.. found.OrderByDescending(r => r.CreatedAt).ThenBy(r => r.RunId, StringComparer.Ordinal).Take(query.Limit)];
    }

    /// <inheritdoc />
    public async Task CancelAsync(string runId, string reason, CancellationToken cancellationToken)
    {
        var run = await ActiveRunAsync(runId, "cancel", cancellationToken).ConfigureAwait(false);
        var signal = new RunSignal
        {
            Kind = RunSignal.Cancel,
            EventId = "cancel",
            Reason = string.IsNullOrWhiteSpace(reason) ? "cancelled on request" : reason,
        };
        await _client.RaiseEventAsync(run.RunId, DurableNames.SignalEvent, signal, cancellationToken).ConfigureAwait(false);
        LogCancel(runId);
    }

    /// <inheritdoc />
    public async Task<RunStartResult> RetryAsync(string runId, CancellationToken cancellationToken)
    {
        var metadata = await FindRunAsync(runId, cancellationToken).ConfigureAwait(false);
        var info = ToInfo(metadata, withState: true);
        if (info.Status is not (RunStatuses.Failed or RunStatuses.Cancelled))
        {
            throw new RunControlException(RunControlError.Conflict, "run_not_retryable", $"run '{runId}' is {info.Status}; only failed or cancelled runs can be retried", "runId");
        }

        var input = Read<RunPipelineInput>(metadata.SerializedInput)
            ?? throw new RunControlException(RunControlError.Conflict, "run_not_retryable", $"run '{runId}' has no recorded input to retry from; start a new run of its pipeline", "runId");
        var reused = info.State?.Tasks.Values
            .Where(t => t.Status is CoreTaskStatus.Succeeded or CoreTaskStatus.Cached && t.Result is not null)
            .ToDictionary(t => t.TaskKey, t => t.Result!, StringComparer.Ordinal) ?? new Dictionary<string, TaskResult>();
        var retry = input with
        {
            RunId = RunIds.RetryOf(input.PipelineName, runId),
            Trigger = new TriggerInfo("retry", runId),
            RetryOf = runId,
            Reused = reused,
            Continuation = null,
        };
        return await StartAsync(retry, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task RaiseEventAsync(string runId, string name, JsonElement payload, string eventId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(eventId);
        var run = await ActiveRunAsync(runId, "take events", cancellationToken).ConfigureAwait(false);
        var signal = new RunSignal { Kind = RunSignal.Event, EventId = eventId, Name = name, Payload = payload.Clone() };
        await _client.RaiseEventAsync(run.RunId, DurableNames.SignalEvent, signal, cancellationToken).ConfigureAwait(false);
        LogEvent(runId, name, eventId);
    }

    /// <inheritdoc />
    public async Task<PurgeOutcome> PurgeFinishedAsync(DateTimeOffset createdBefore, int maxBatches, TimeSpan batchTimeout, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatches, 1);
        int purged = 0;
        for (int batch = 0; batch < maxBatches; batch++)
        {
            // The timeout makes one call a batch: the provider stops when it runs out and says whether it finished.
            // CreatedFrom is required by the providers' filter (a null start fails the call), hence the epoch.
            var filter = new PurgeInstancesFilter(DateTimeOffset.UnixEpoch, createdBefore, Finished) { Timeout = batchTimeout };
            var result = await _client.PurgeAllInstancesAsync(filter, cancellationToken).ConfigureAwait(false);
            purged += result.PurgedInstanceCount;
            if (result.IsComplete != false)
            {
                LogPurged(purged, createdBefore, true);
                return new PurgeOutcome(purged, true);
            }
        }

        LogPurged(purged, createdBefore, false);
        return new PurgeOutcome(purged, false);
    }

    private async Task<OrchestrationMetadata> FindRunAsync(string runId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runId);
        var metadata = RunIds.Problem(runId) is null
            ? await _client.GetInstanceAsync(runId, getInputsAndOutputs: true, cancellationToken).ConfigureAwait(false)
            : null;
        return metadata is not null && metadata.Name == DurableNames.RunPipeline ? metadata : throw UnknownRun(runId);
    }

    private async Task<RunInfo> ActiveRunAsync(string runId, string what, CancellationToken cancellationToken)
    {
        var info = ToInfo(await FindRunAsync(runId, cancellationToken).ConfigureAwait(false), withState: false);
        if (!info.IsActive)
        {
            throw new RunControlException(RunControlError.Conflict, "run_finished", $"run '{runId}' has finished ({info.Status}) and cannot {what}", "runId");
        }

        return info;
    }

    private static RunControlException UnknownRun(string runId) =>
        new(RunControlError.NotFound, "unknown_run", $"no run with id '{runId}'; list runs with GET /api/runs", "runId");

    private static RunInfo ToInfo(OrchestrationMetadata m, bool withState)
    {
        var input = Read<RunPipelineInput>(m.SerializedInput);
        var progress = Read<RunProgress>(m.SerializedCustomStatus);
        var output = m.RuntimeStatus == OrchestrationRuntimeStatus.Completed ? Read<RunPipelineOutput>(m.SerializedOutput) : null;
        var status = m.RuntimeStatus switch
        {
            OrchestrationRuntimeStatus.Pending => RunStatuses.Pending,
            OrchestrationRuntimeStatus.Completed => Lower(output?.Status ?? progress?.Status ?? RunStatus.Succeeded),
            OrchestrationRuntimeStatus.Failed => RunStatuses.Failed,
            OrchestrationRuntimeStatus.Terminated => RunStatuses.Cancelled,
            _ => RunStatuses.Running,
        };
        return new RunInfo
        {
            RunId = m.InstanceId,
            Pipeline = input?.PipelineName ?? progress?.Pipeline ?? "",
            Version = input?.PipelineHash ?? progress?.Version ?? "",
            Status = status,
            Trigger = input?.Trigger,
            RetryOf = input?.RetryOf,
            CreatedAt = m.CreatedAt,
            LastUpdatedAt = m.LastUpdatedAt,
            Progress = progress,
            Error = output?.Error ?? (m.RuntimeStatus == OrchestrationRuntimeStatus.Failed ? m.FailureDetails?.ErrorMessage ?? "the orchestration failed" : progress?.Error),
            State = withState ? output?.State : null,
        };
    }

    private static string Lower(RunStatus status) => status.ToString().ToLowerInvariant();

    private static T? Read<T>(string? json)
        where T : class
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<T>(json, EngineJson.Options);
        }
        catch (JsonException)
        {
            // Not written by Trainyard (another app's instance in a shared hub): shown without the missing details.
            return null;
        }
    }

    [LoggerMessage(EventId = 6201, Level = LogLevel.Information, Message = "Run {RunId} of {Pipeline} ({Hash}) started by {Trigger}")]
    private partial void LogStarted(string runId, string pipeline, string hash, string trigger);

    [LoggerMessage(EventId = 6202, Level = LogLevel.Information, Message = "Run {RunId} of {Pipeline} exists; not started again")]
    private partial void LogExists(string runId, string pipeline);

    [LoggerMessage(EventId = 6203, Level = LogLevel.Information, Message = "Run {RunId} was started concurrently by another caller; not started again")]
    private partial void LogStartRace(string runId);

    [LoggerMessage(EventId = 6204, Level = LogLevel.Information, Message = "Cancel requested for run {RunId}")]
    private partial void LogCancel(string runId);

    [LoggerMessage(EventId = 6205, Level = LogLevel.Information, Message = "Event {Name} ({EventId}) raised on run {RunId}")]
    private partial void LogEvent(string runId, string name, string eventId);

    [LoggerMessage(EventId = 6206, Level = LogLevel.Information, Message = "Purged {Count} finished instance(s) created before {Cutoff}; complete {Complete}")]
    private partial void LogPurged(int count, DateTimeOffset cutoff, bool complete);
}
