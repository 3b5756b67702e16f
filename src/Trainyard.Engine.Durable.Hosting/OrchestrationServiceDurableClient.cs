using DurableTask.Core;
using DurableTask.Core.History;
using DurableTask.Core.Query;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using CoreOrchestrationQuery = DurableTask.Core.Query.OrchestrationQuery;
using CorePurgeResult = DurableTask.Core.PurgeResult;
using OrchestrationQuery = Microsoft.DurableTask.Client.OrchestrationQuery;
using PurgeResult = Microsoft.DurableTask.Client.PurgeResult;

namespace Trainyard.Engine.Durable.Hosting;

/// <summary>
/// The isolated worker's <see cref="DurableTaskClient"/> over a Durable Task Framework task hub, so in-process hosts
/// and the Function App use one client API (schedule, get with inputs/outputs/custom status, raise, terminate, list,
/// purge, wait). Payloads use <see cref="EngineDataConverter"/>.
/// </summary>
public sealed class OrchestrationServiceDurableClient : DurableTaskClient
{
    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan LongestPoll = TimeSpan.FromMilliseconds(500);

    private readonly IOrchestrationServiceClient _client;
    private readonly DataConverter _converter;
    private readonly IDisposable? _owned;

    /// <summary>A client over <paramref name="client"/> (listing and purge need the service's query and purge support).</summary>
    public OrchestrationServiceDurableClient(string name, IOrchestrationServiceClient client, DataConverter? converter = null)
        : this(name, client, converter, owned: null)
    {
    }

    /// <summary>A client that disposes <paramref name="owned"/> (the service it was made for) with itself.</summary>
    internal OrchestrationServiceDurableClient(string name, IOrchestrationServiceClient client, DataConverter? converter, IDisposable? owned)
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        _converter = converter ?? EngineDataConverter.Instance;
        _owned = owned;
    }

    /// <inheritdoc />
    public override async Task<string> ScheduleNewOrchestrationInstanceAsync(
        TaskName orchestratorName, object? input = null, StartOrchestrationOptions? options = null, CancellationToken cancellation = default)
    {
        cancellation.ThrowIfCancellationRequested();
        var instance = new OrchestrationInstance
        {
            InstanceId = options?.InstanceId ?? Guid.NewGuid().ToString("N"),
            ExecutionId = Guid.NewGuid().ToString("N"),
        };
        var started = new ExecutionStartedEvent(-1, _converter.Serialize(input))
        {
            Name = orchestratorName.Name,
            Version = options?.Version?.ToString() ?? "",
            OrchestrationInstance = instance,
            ScheduledStartTime = options?.StartAt?.UtcDateTime,
            Tags = options?.Tags?.ToDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal) ?? new Dictionary<string, string>(StringComparer.Ordinal),
        };
        await _client.CreateTaskOrchestrationAsync(new TaskMessage { OrchestrationInstance = instance, Event = started }).ConfigureAwait(false);
        return instance.InstanceId;
    }

    /// <inheritdoc />
    public override Task RaiseEventAsync(string instanceId, string eventName, object? eventPayload = null, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        ArgumentException.ThrowIfNullOrEmpty(eventName);
        cancellation.ThrowIfCancellationRequested();
        return _client.SendTaskOrchestrationMessageAsync(new TaskMessage
        {
            OrchestrationInstance = new OrchestrationInstance { InstanceId = instanceId },
            Event = new EventRaisedEvent(-1, _converter.Serialize(eventPayload)) { Name = eventName },
        });
    }

    /// <inheritdoc />
    public override Task<OrchestrationMetadata> WaitForInstanceStartAsync(string instanceId, bool getInputsAndOutputs = false, CancellationToken cancellation = default)
        => PollAsync(instanceId, getInputsAndOutputs, m => m.RuntimeStatus != OrchestrationRuntimeStatus.Pending, cancellation);

    /// <inheritdoc />
    public override Task<OrchestrationMetadata> WaitForInstanceCompletionAsync(string instanceId, bool getInputsAndOutputs = false, CancellationToken cancellation = default)
        => PollAsync(instanceId, getInputsAndOutputs, m => m.IsCompleted, cancellation);

    /// <inheritdoc />
    public override Task TerminateInstanceAsync(string instanceId, TerminateInstanceOptions? options = null, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        cancellation.ThrowIfCancellationRequested();
        return _client.ForceTerminateTaskOrchestrationAsync(instanceId, _converter.Serialize(options?.Output) ?? "terminated");
    }

    /// <inheritdoc />
    public override Task SuspendInstanceAsync(string instanceId, string? reason = null, CancellationToken cancellation = default)
        => SendAsync(instanceId, new ExecutionSuspendedEvent(-1, reason), cancellation);

    /// <inheritdoc />
    public override Task ResumeInstanceAsync(string instanceId, string? reason = null, CancellationToken cancellation = default)
        => SendAsync(instanceId, new ExecutionResumedEvent(-1, reason), cancellation);

    /// <inheritdoc />
    public override async Task<OrchestrationMetadata?> GetInstancesAsync(string instanceId, bool getInputsAndOutputs = false, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        cancellation.ThrowIfCancellationRequested();
        var states = await _client.GetOrchestrationStateAsync(instanceId, allExecutions: false).ConfigureAwait(false);
        return states?.FirstOrDefault(s => s is not null) is { } state ? ToMetadata(state, getInputsAndOutputs) : null;
    }

    /// <inheritdoc />
    public override AsyncPageable<OrchestrationMetadata> GetAllInstancesAsync(OrchestrationQuery? filter = null)
    {
        var queries = Require<IOrchestrationServiceQueryClient>("listing instances");
        return Pageable.Create(async (continuation, pageSize, cancellation) =>
        {
            var query = new CoreOrchestrationQuery
            {
                RuntimeStatus = filter?.Statuses?.Select(s => (OrchestrationStatus)(int)s).ToList(),
                CreatedTimeFrom = filter?.CreatedFrom?.UtcDateTime,
                CreatedTimeTo = filter?.CreatedTo?.UtcDateTime,
                TaskHubNames = filter?.TaskHubNames?.ToList(),
                PageSize = pageSize ?? filter?.PageSize ?? OrchestrationQuery.DefaultPageSize,
                ContinuationToken = continuation ?? filter?.ContinuationToken,
                InstanceIdPrefix = filter?.InstanceIdPrefix,
                FetchInputsAndOutputs = filter?.FetchInputsAndOutputs ?? false,
            };
            var result = await queries.GetOrchestrationWithQueryAsync(query, cancellation).ConfigureAwait(false);
            return new Page<OrchestrationMetadata>(
                [.. result.OrchestrationState.Select(s => ToMetadata(s, query.FetchInputsAndOutputs))],
                string.IsNullOrEmpty(result.ContinuationToken) ? null : result.ContinuationToken);
        });
    }

    /// <summary>
    /// Purges a finished instance; with <see cref="PurgeInstanceOptions.Recursive"/> also its sub-orchestrations
    /// (RunPipeline names them "{runId}:…").
    /// </summary>
    public override async Task<PurgeResult> PurgeInstanceAsync(string instanceId, PurgeInstanceOptions? options = null, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        var purges = Require<IOrchestrationServicePurgeClient>("purging instances");
        var instance = await GetInstancesAsync(instanceId, getInputsAndOutputs: false, cancellation).ConfigureAwait(false);
        if (instance is null)
        {
            return new PurgeResult(0);
        }

        if (!instance.IsCompleted)
        {
            throw new InvalidOperationException($"instance '{instanceId}' is {instance.RuntimeStatus}: only finished instances can be purged; terminate it first");
        }

        int purged = (await purges.PurgeInstanceStateAsync(instanceId).ConfigureAwait(false)).DeletedInstanceCount;
        if (options?.Recursive == true)
        {
            var children = new List<string>();
            await foreach (var child in GetAllInstancesAsync(new OrchestrationQuery { InstanceIdPrefix = instanceId + ":" }).WithCancellation(cancellation).ConfigureAwait(false))
            {
                children.Add(child.InstanceId);
            }

            foreach (var child in children)
            {
                purged += (await purges.PurgeInstanceStateAsync(child).ConfigureAwait(false)).DeletedInstanceCount;
            }
        }

        return new PurgeResult(purged);
    }

    /// <inheritdoc />
    public override async Task<PurgeResult> PurgeAllInstancesAsync(PurgeInstancesFilter filter, PurgeInstanceOptions? options = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        cancellation.ThrowIfCancellationRequested();
        var purges = Require<IOrchestrationServicePurgeClient>("purging instances");
        CorePurgeResult result = await purges.PurgeInstanceStateAsync(new PurgeInstanceFilter(
            filter.CreatedFrom?.UtcDateTime ?? DateTime.MinValue,
            filter.CreatedTo?.UtcDateTime,
            filter.Statuses?.Select(s => (OrchestrationStatus)(int)s))).ConfigureAwait(false);
        return new PurgeResult(result.DeletedInstanceCount);
    }

    /// <inheritdoc />
    public override ValueTask DisposeAsync()
    {
        _owned?.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<OrchestrationMetadata> PollAsync(string instanceId, bool getInputsAndOutputs, Func<OrchestrationMetadata, bool> done, CancellationToken cancellation)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        var delay = FirstPoll;
        while (true)
        {
            var metadata = await GetInstancesAsync(instanceId, getInputsAndOutputs, cancellation).ConfigureAwait(false);
            if (metadata is not null && done(metadata))
            {
                return metadata;
            }

            await Task.Delay(delay, cancellation).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(LongestPoll.Ticks, delay.Ticks * 2));
        }
    }

    private Task SendAsync(string instanceId, HistoryEvent evt, CancellationToken cancellation)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        cancellation.ThrowIfCancellationRequested();
        return _client.SendTaskOrchestrationMessageAsync(new TaskMessage { OrchestrationInstance = new OrchestrationInstance { InstanceId = instanceId }, Event = evt });
    }

    private T Require<T>(string what) where T : class
        => _client as T ?? throw new NotSupportedException($"{what} needs a task hub store with {typeof(T).Name}; {_client.GetType().Name} has none");

    private OrchestrationMetadata ToMetadata(OrchestrationState state, bool withPayloads)
    {
        var failed = state.OrchestrationStatus == OrchestrationStatus.Failed;
        return new OrchestrationMetadata(state.Name, state.OrchestrationInstance.InstanceId)
        {
            DataConverter = _converter,
            RuntimeStatus = (OrchestrationRuntimeStatus)(int)state.OrchestrationStatus,
            CreatedAt = new DateTimeOffset(DateTime.SpecifyKind(state.CreatedTime, DateTimeKind.Utc)),
            LastUpdatedAt = new DateTimeOffset(DateTime.SpecifyKind(state.LastUpdatedTime, DateTimeKind.Utc)),
            SerializedInput = withPayloads ? state.Input : null,
            SerializedOutput = withPayloads && !failed ? state.Output : null,
            SerializedCustomStatus = state.Status,
            Tags = state.Tags is null ? new Dictionary<string, string>() : new Dictionary<string, string>(state.Tags, StringComparer.Ordinal),
            FailureDetails = failed ? Failure(state) : null,
        };
    }

    private static TaskFailureDetails Failure(OrchestrationState state)
        => state.FailureDetails is { } f
            ? new TaskFailureDetails(f.ErrorType, f.ErrorMessage, f.StackTrace, null, null)
            : new TaskFailureDetails("OrchestrationFailed", state.Output ?? "the orchestration failed", null, null, null);
}
