using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Azure;

/// <summary>
/// Azure Storage backend: run store on Tables, control/work (and poison) queues on Queues, artifacts on Blobs, all
/// named after one task hub so several installations can share an account. Resources are created on first use,
/// once per process. Works on Azurite (<c>UseDevelopmentStorage=true</c>) and on Azure with managed identity.
/// </summary>
public sealed class AzureBackend : IBackend, IPoisonQueues
{
    private readonly AzureStorageClients _clients;

    /// <summary>Creates the backend (no request is made until first use).</summary>
    public AzureBackend(AzureBackendOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _clients = new AzureStorageClients(options);
        time ??= TimeProvider.System;
        Names = _clients.Names;
        var large = new LargeValues(_clients.Blobs.GetBlobContainerClient(Names.LargeValuesContainer), options.InlineValueLimit);
        Store = new TableRunStore(_clients, large, options.InlineValueLimit);
        Control = Queue(Names.ControlQueue, time);
        Work = Queue(Names.WorkQueue, time);
        ControlPoison = Queue(Names.ControlPoisonQueue, time);
        WorkPoison = Queue(Names.WorkPoisonQueue, time);
        Artifacts = new BlobArtifactStore(_clients.Blobs.GetBlobContainerClient(Names.ArtifactsContainer), _clients.EnsureCreatedAsync);
        RequestCounter = options.RequestCounter;
    }

    /// <inheritdoc />
    public string Name => "azure";

    /// <summary>Names of the task hub's tables, queues and containers.</summary>
    public TaskHubNames Names { get; }

    /// <inheritdoc />
    public IRunStore Store { get; }

    /// <inheritdoc />
    public IMessageQueue Control { get; }

    /// <inheritdoc />
    public IMessageQueue Work { get; }

    /// <summary>Quarantined control messages (<c>{hub}-control-poison</c>).</summary>
    public AzureMessageQueue ControlPoison { get; }

    /// <summary>Quarantined work messages (<c>{hub}-work-poison</c>).</summary>
    public AzureMessageQueue WorkPoison { get; }

    /// <inheritdoc />
    public IArtifactStore Artifacts { get; }

    /// <summary>The request counter given in the options, if any.</summary>
    public StorageRequestCounter? RequestCounter { get; }

    /// <summary>Creates the task hub's resources now instead of on first use.</summary>
    public Task EnsureCreatedAsync(CancellationToken cancellationToken) => _clients.EnsureCreatedAsync(cancellationToken);

    /// <summary>Deletes every table, queue and container of the task hub, with all runs and artifacts in them.</summary>
    public Task DeleteTaskHubAsync(CancellationToken cancellationToken) => _clients.DeleteAllAsync(cancellationToken);

    /// <inheritdoc />
    public IMessageQueue PoisonQueueFor(IMessageQueue source) =>
        ReferenceEquals(source, Control) ? ControlPoison
        : ReferenceEquals(source, Work) ? WorkPoison
        : throw new ArgumentException($"Queue '{source?.Name}' is not a queue of task hub '{Names.TaskHub}': only its control and work queues have poison queues.", nameof(source));

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private AzureMessageQueue Queue(string name, TimeProvider time) =>
        new(_clients.Queues.GetQueueClient(name), _clients.EnsureCreatedAsync, time);
}
