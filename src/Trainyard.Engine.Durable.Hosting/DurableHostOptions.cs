namespace Trainyard.Engine.Durable.Hosting;

/// <summary>Where an in-process Durable host keeps its task hub.</summary>
public abstract record DurableStore
{
    private protected DurableStore()
    {
    }

    /// <summary>In memory: nothing survives the process (tests, `--engine durable` without storage).</summary>
    public static DurableStore Memory { get; } = new MemoryStore();

    /// <summary>The Durable Task Framework's Azure Storage provider (Azure, or Azurite with <c>UseDevelopmentStorage=true</c>).</summary>
    public static AzureStorageStore AzureStorage(string connectionString, string taskHubName)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        ArgumentException.ThrowIfNullOrEmpty(taskHubName);
        return new AzureStorageStore(connectionString, taskHubName);
    }

    /// <summary>
    /// The Azure Storage provider on an account reached with <paramref name="credential"/> (managed identity, or a
    /// developer's az login): no key or connection string.
    /// </summary>
    public static AzureStorageStore AzureStorageAccount(string accountName, Azure.Core.TokenCredential credential, string taskHubName)
    {
        ArgumentException.ThrowIfNullOrEmpty(accountName);
        ArgumentNullException.ThrowIfNull(credential);
        ArgumentException.ThrowIfNullOrEmpty(taskHubName);
        return new AzureStorageStore("", taskHubName) { AccountName = accountName, Credential = credential };
    }

    /// <summary>The in-memory store.</summary>
    public sealed record MemoryStore : DurableStore;
}

/// <summary>
/// The Azure Storage task hub. The defaults are for a local, single-process host: a killed run is picked up again about
/// 20 s after the next start instead of the provider's 5 minutes (measured; see docs/engine-durable.md).
/// </summary>
public sealed record AzureStorageStore : DurableStore
{
    internal AzureStorageStore(string connectionString, string taskHubName)
    {
        ConnectionString = connectionString;
        TaskHubName = taskHubName;
    }

    /// <summary>Storage connection string (never logged); empty for an account reached with <see cref="Credential"/>.</summary>
    public string ConnectionString { get; }

    /// <summary>The account name when the hub is reached with <see cref="Credential"/>.</summary>
    public string? AccountName { get; init; }

    /// <summary>Identity for <see cref="AccountName"/> (null: the connection string is used).</summary>
    public Azure.Core.TokenCredential? Credential { get; init; }

    /// <summary>Task hub name: 3-45 letters and digits, starting with a letter.</summary>
    public string TaskHubName { get; }

    /// <summary>Control queue partitions (1 for one process).</summary>
    public int PartitionCount { get; init; } = 1;

    /// <summary>How long a dequeued work item stays invisible; a dead host's work returns after it.</summary>
    public TimeSpan VisibilityTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Partition lease length; a dead host's partitions are taken over after it.</summary>
    public TimeSpan LeaseInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Lease renew and acquire period.</summary>
    public TimeSpan LeaseRenewInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Longest idle wait between queue polls.</summary>
    public TimeSpan MaxQueuePollingInterval { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>Options of an in-process Durable host.</summary>
public sealed record DurableHostOptions
{
    /// <summary>The task hub's store.</summary>
    public DurableStore Store { get; init; } = DurableStore.Memory;

    /// <summary>Activities run at once (Azure Storage; the in-memory store runs one per core).</summary>
    public int MaxConcurrentActivities { get; init; } = 10;

    /// <summary>Orchestration episodes run at once (Azure Storage).</summary>
    public int MaxConcurrentOrchestrations { get; init; } = 100;

    /// <summary>Client name (shows in DurableTaskClient.Name).</summary>
    public string ClientName { get; init; } = "trainyard";

    /// <summary>
    /// Orchestrators registered beside Trainyard's, by name (bench/ compares a hand-written orchestration with
    /// RunPipeline on the same host and store). Empty in the CLI and the tests of the engine.
    /// </summary>
    public IReadOnlyDictionary<string, Func<Microsoft.DurableTask.ITaskOrchestrator>> ExtraOrchestrators { get; init; } =
        new Dictionary<string, Func<Microsoft.DurableTask.ITaskOrchestrator>>();

    /// <summary>Activities registered beside Trainyard's, by name (see <see cref="ExtraOrchestrators"/>).</summary>
    public IReadOnlyDictionary<string, Microsoft.DurableTask.ITaskActivity> ExtraActivities { get; init; } =
        new Dictionary<string, Microsoft.DurableTask.ITaskActivity>();
}
