using Azure.Storage.Blobs;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Azure;

/// <summary>Names of Trainyard's containers in an account, all prefixed by one task hub; one place so creation and deletion agree.</summary>
public sealed record BlobContainerNames(string TaskHub)
{
    /// <summary>Artifacts: task outputs, task logs, the model registry, lineage records, step cache entries.</summary>
    public string Artifacts => TaskHub + "-artifacts";

    /// <summary>Small keyed values: dispatch-id claims, step cache index, trigger watermarks, active-pipeline pointers.</summary>
    public string Values => TaskHub + "-values";

    /// <summary>Pipeline versions by content hash.</summary>
    public string Pipelines => TaskHub + "-pipelines";

    /// <summary>Every container above.</summary>
    public IReadOnlyList<string> All => [Artifacts, Values, Pipelines];
}

/// <summary>
/// Trainyard's blob stores in one storage account: artifacts (<see cref="IArtifactStore"/>), small keyed values
/// (<see cref="BlobKeyValueStore"/>) and pipeline versions (<see cref="BlobPipelineStore"/>), each in its own container
/// named after the task hub. Containers are created on first use, once per process. Run state is not here: in Azure it is
/// the Durable Task Framework's (its task hub's queues, tables and blobs).
/// </summary>
public sealed class AzureBlobStores
{
    private readonly BlobServiceClient _service;

    /// <summary>Opens the stores the options describe (no request is made until first use).</summary>
    public AzureBlobStores(AzureStorageOptions options)
        : this((options ?? throw new ArgumentNullException(nameof(options))).CreateServiceClient(), options.TaskHub)
    {
    }

    /// <summary>Opens the stores over a blob service client a host already has (e.g. the Function App's, by managed identity).</summary>
    public AzureBlobStores(BlobServiceClient service, string taskHub = AzureStorageOptions.DefaultTaskHub)
    {
        ArgumentNullException.ThrowIfNull(service);
        AzureStorageOptions.ValidateTaskHub(taskHub);
        _service = service;
        Names = new BlobContainerNames(taskHub);
        Artifacts = new BlobArtifactStore(Container(Names.Artifacts));
        Values = new BlobKeyValueStore(Container(Names.Values));
        Pipelines = new BlobPipelineStore(Container(Names.Pipelines));
    }

    /// <summary>The container names.</summary>
    public BlobContainerNames Names { get; }

    /// <summary>Artifacts (blob name = artifact path, SHA-256 in metadata).</summary>
    public IArtifactStore Artifacts { get; }

    /// <summary>Small keyed values with ETags.</summary>
    public BlobKeyValueStore Values { get; }

    /// <summary>Pipeline versions.</summary>
    public BlobPipelineStore Pipelines { get; }

    /// <summary>Creates the containers now instead of on first use.</summary>
    public Task EnsureCreatedAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(Names.All.Select(n => ContainerGate.EnsureAsync(Container(n), cancellationToken)));

    /// <summary>Deletes every container of the task hub with everything in it (tests, uninstall).</summary>
    public Task DeleteAllAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(Names.All.Select(async n =>
        {
            var container = Container(n);
            ContainerGate.Forget(container);
            await container.DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        }));

    private BlobContainerClient Container(string name) => _service.GetBlobContainerClient(name);
}
