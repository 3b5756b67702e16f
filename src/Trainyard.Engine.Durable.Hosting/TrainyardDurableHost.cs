using DurableTask.AzureStorage;
using DurableTask.Core;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing.Sidecar;
using Microsoft.DurableTask.Worker;
using Microsoft.DurableTask.Worker.Shims;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Trainyard.Engine.Durable.Hosting;

/// <summary>
/// The RunPipeline orchestrator and its activities hosted in this process on the Durable Task Framework
/// (<see cref="TaskHubWorker"/> running the isolated worker's classes through its shims), with an in-memory or an Azure
/// Storage task hub, and a <see cref="DurableTaskClient"/> over the same hub. Dispose to stop it.
/// </summary>
public sealed partial class TrainyardDurableHost : IAsyncDisposable
{
    private readonly TaskHubWorker _worker;
    private readonly IOrchestrationService _service;
    private readonly ILogger _logger;
    private int _stopped;

    private TrainyardDurableHost(TaskHubWorker worker, IOrchestrationService service, DurableTaskClient client, HistoryMeter history, DurableHostOptions options, ILogger logger)
    {
        _worker = worker;
        _service = service;
        Client = client;
        History = history;
        Options = options;
        _logger = logger;
    }

    /// <summary>The client of this host's task hub (the same API as the Function App's durable client).</summary>
    public DurableTaskClient Client { get; }

    /// <summary>History length per instance run by this host.</summary>
    public HistoryMeter History { get; }

    /// <summary>The options it was started with.</summary>
    public DurableHostOptions Options { get; }

    /// <summary>Creates the task hub if needed, registers every orchestrator and activity, and starts the worker.</summary>
    /// <param name="options">Store and concurrency.</param>
    /// <param name="activities">What the activities do (one implementation over the Execution layer).</param>
    /// <param name="loggerFactory">Logs of the framework and of the orchestrators (replay-safe).</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<TrainyardDurableHost> StartAsync(
        DurableHostOptions options, IDurableActivities activities, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(activities);
        loggerFactory ??= NullLoggerFactory.Instance;
        var logger = loggerFactory.CreateLogger<TrainyardDurableHost>();
        IOrchestrationService service = options.Store switch
        {
            AzureStorageStore azure => new AzureStorageOrchestrationService(Settings(azure, options, loggerFactory)),
            _ => new InMemoryOrchestrationService(loggerFactory),
        };

        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            await service.CreateIfNotExistsAsync().ConfigureAwait(false);
            var shims = new DurableTaskShimFactory(new DurableTaskWorkerOptions { DataConverter = EngineDataConverter.Instance }, loggerFactory);
            var worker = new TaskHubWorker(service, loggerFactory) { ErrorPropagationMode = ErrorPropagationMode.UseFailureDetails };
            foreach (var (name, create) in DurableFunctions.Orchestrators)
            {
                worker.AddTaskOrchestrations(new OrchestrationShimCreator(shims, name, create));
            }

            foreach (var (name, activity) in DurableFunctions.Activities(activities))
            {
                worker.AddTaskActivities(new ActivityShimCreator(shims, name, activity));
            }

            var history = new HistoryMeter();
            worker.AddOrchestrationDispatcherMiddleware(history.MiddlewareAsync);
            await worker.StartAsync().ConfigureAwait(false);
            var client = new OrchestrationServiceDurableClient(options.ClientName, (IOrchestrationServiceClient)service);
            Log.Started(logger, options.Store is AzureStorageStore a ? $"Azure Storage task hub '{a.TaskHubName}'" : "in-memory task hub");
            return new TrainyardDurableHost(worker, service, client, history, options, logger);
        }
        catch
        {
            (service as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A client-only connection to an Azure Storage task hub (no worker: lists, reads, starts, cancels and signals runs that
    /// another process executes). Creates the hub's storage if it does not exist yet.
    /// </summary>
    /// <param name="store">The task hub.</param>
    /// <param name="clientName">The client's name.</param>
    /// <param name="loggerFactory">Logs of the framework.</param>
    /// <param name="cancellationToken">Cancels the connection.</param>
    public static async Task<DurableTaskClient> ConnectClientAsync(
        AzureStorageStore store, string clientName = "trainyard", ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        cancellationToken.ThrowIfCancellationRequested();
        var service = new AzureStorageOrchestrationService(Settings(store, new DurableHostOptions { Store = store }, loggerFactory ?? NullLoggerFactory.Instance));
        await service.CreateIfNotExistsAsync().ConfigureAwait(false);
        return new OrchestrationServiceDurableClient(clientName, service);
    }

    /// <summary>Stops the worker (waiting for work items in progress) and deletes the task hub's storage.</summary>
    public async Task StopAndDeleteTaskHubAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await _service.DeleteAsync().ConfigureAwait(false);
    }

    /// <summary>Stops the worker; waits for work items in progress.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        await _worker.StopAsync(isForced: false).ConfigureAwait(false);
        Log.Stopped(_logger);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await Client.DisposeAsync().ConfigureAwait(false);
        _worker.Dispose();
        (_service as IDisposable)?.Dispose();
    }

    private static AzureStorageOrchestrationServiceSettings Settings(AzureStorageStore store, DurableHostOptions options, ILoggerFactory loggerFactory) => new()
    {
        TaskHubName = store.TaskHubName,
        StorageAccountClientProvider = new StorageAccountClientProvider(store.ConnectionString),
        PartitionCount = store.PartitionCount,
        ControlQueueVisibilityTimeout = store.VisibilityTimeout,
        WorkItemQueueVisibilityTimeout = store.VisibilityTimeout,
        LeaseInterval = store.LeaseInterval,
        LeaseRenewInterval = store.LeaseRenewInterval,
        LeaseAcquireInterval = store.LeaseRenewInterval,
        MaxQueuePollingInterval = store.MaxQueuePollingInterval,
        MaxConcurrentTaskActivityWorkItems = options.MaxConcurrentActivities,
        MaxConcurrentTaskOrchestrationWorkItems = options.MaxConcurrentOrchestrations,
        LoggerFactory = loggerFactory,
    };

    private static partial class Log
    {
        [LoggerMessage(EventId = 4200, Level = LogLevel.Information, Message = "Durable host started on the {Store}")]
        public static partial void Started(ILogger logger, string store);

        [LoggerMessage(EventId = 4201, Level = LogLevel.Information, Message = "Durable host stopped")]
        public static partial void Stopped(ILogger logger);
    }
}
