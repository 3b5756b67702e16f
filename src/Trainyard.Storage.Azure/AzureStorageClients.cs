using System.Collections.Concurrent;
using Azure;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;

namespace Trainyard.Storage.Azure;

/// <summary>Names of everything a task hub owns in the account; one place so creation and deletion agree.</summary>
public sealed record TaskHubNames(string TaskHub)
{
    /// <summary>Run partitions: snapshot, journal and outbox rows.</summary>
    public string RunsTable => TaskHub + "runs";

    /// <summary>Run listing and pipeline versions.</summary>
    public string IndexTable => TaskHub + "index";

    /// <summary>Small keyed values (watermarks, cache index, cancel flags).</summary>
    public string ValuesTable => TaskHub + "kv";

    /// <summary>Control queue (run events, timers).</summary>
    public string ControlQueue => TaskHub + "-control";

    /// <summary>Work queue (task attempts).</summary>
    public string WorkQueue => TaskHub + "-work";

    /// <summary>Poison queue of the control queue (the Functions host's `&lt;queue&gt;-poison` convention).</summary>
    public string ControlPoisonQueue => ControlQueue + "-poison";

    /// <summary>Poison queue of the work queue.</summary>
    public string WorkPoisonQueue => WorkQueue + "-poison";

    /// <summary>Artifacts (task outputs, registered models).</summary>
    public string ArtifactsContainer => TaskHub + "-artifacts";

    /// <summary>JSON values too large for a table property, keyed by run.</summary>
    public string LargeValuesContainer => TaskHub + "-large";

    internal IEnumerable<string> Tables => [RunsTable, IndexTable, ValuesTable];

    internal IEnumerable<string> Queues => [ControlQueue, WorkQueue, ControlPoisonQueue, WorkPoisonQueue];

    internal IEnumerable<string> Containers => [ArtifactsContainer, LargeValuesContainer];
}

/// <summary>The three service clients of one account, with request counting, and one-time resource creation.</summary>
internal sealed class AzureStorageClients
{
    // Once per process and resource, not per call: every operation awaits this (a completed task after the first).
    private static readonly ConcurrentDictionary<string, Lazy<Task>> Created = new(StringComparer.Ordinal);

    public AzureStorageClients(AzureBackendOptions options)
    {
        options.Validate();
        Names = new TaskHubNames(options.TaskHub);
        var tableOptions = new TableClientOptions();
        // Base64 is applied by QueueEnvelope, not the SDK, so a malformed message still reaches the poison handling.
        var queueOptions = new QueueClientOptions();
        var blobOptions = new BlobClientOptions();
        if (options.RequestCounter is { } counter)
        {
            tableOptions.AddPolicy(counter.PolicyFor("table"), HttpPipelinePosition.PerRetry);
            queueOptions.AddPolicy(counter.PolicyFor("queue"), HttpPipelinePosition.PerRetry);
            blobOptions.AddPolicy(counter.PolicyFor("blob"), HttpPipelinePosition.PerRetry);
        }

        if (options.ConnectionString is { } cs)
        {
            Tables = new TableServiceClient(cs, tableOptions);
            Queues = new QueueServiceClient(cs, queueOptions);
            Blobs = new BlobServiceClient(cs, blobOptions);
        }
        else
        {
            var credential = options.Credential ?? new DefaultAzureCredential();
            Tables = new TableServiceClient(options.TableServiceUri!, credential, tableOptions);
            Queues = new QueueServiceClient(options.QueueServiceUri!, credential, queueOptions);
            Blobs = new BlobServiceClient(options.BlobServiceUri!, credential, blobOptions);
        }

        Account = Blobs.Uri.ToString();
    }

    public TaskHubNames Names { get; }

    public TableServiceClient Tables { get; }

    public QueueServiceClient Queues { get; }

    public BlobServiceClient Blobs { get; }

    private string Account { get; }

    /// <summary>Creates the task hub's tables, queues and containers if missing (once per process).</summary>
    public Task EnsureCreatedAsync(CancellationToken cancellationToken)
    {
        var key = Account + "|" + Names.TaskHub;
        var lazy = Created.GetOrAdd(key, _ => new Lazy<Task>(() => CreateAllAsync(CancellationToken.None)));
        var task = lazy.Value;
        if (task.IsFaulted || task.IsCanceled)
        {
            // A failed creation (account unreachable) must not poison the process: the next call tries again.
            Created.TryRemove(new KeyValuePair<string, Lazy<Task>>(key, lazy));
        }

        return task.IsCompletedSuccessfully ? Task.CompletedTask : task.WaitAsync(cancellationToken);
    }

    /// <summary>Deletes every table, queue and container of the task hub (tests, uninstall).</summary>
    public async Task DeleteAllAsync(CancellationToken cancellationToken)
    {
        Created.TryRemove(Account + "|" + Names.TaskHub, out _);
        var work = new List<Task>();
        work.AddRange(Names.Tables.Select(t => Tables.DeleteTableAsync(t, cancellationToken)));
        work.AddRange(Names.Queues.Select(q => Queues.GetQueueClient(q).DeleteIfExistsAsync(cancellationToken)));
        work.AddRange(Names.Containers.Select(c => Blobs.GetBlobContainerClient(c).DeleteIfExistsAsync(cancellationToken: cancellationToken)));
        await Task.WhenAll(work).ConfigureAwait(false);
    }

    private async Task CreateAllAsync(CancellationToken cancellationToken)
    {
        var work = new List<Task>();
        work.AddRange(Names.Tables.Select(t => Tables.CreateTableIfNotExistsAsync(t, cancellationToken)));
        work.AddRange(Names.Queues.Select(q => Queues.GetQueueClient(q).CreateIfNotExistsAsync(cancellationToken: cancellationToken)));
        work.AddRange(Names.Containers.Select(c => Blobs.GetBlobContainerClient(c).CreateIfNotExistsAsync(cancellationToken: cancellationToken)));
        try
        {
            await Task.WhenAll(work).ConfigureAwait(false);
        }
        catch (RequestFailedException e)
        {
            throw new InvalidOperationException(
                $"Could not create the storage resources of task hub '{Names.TaskHub}' ({e.Status} {e.ErrorCode}): check that the account " +
                "is reachable and the identity has the Storage Blob/Queue/Table Data Contributor roles (for Azurite: that it runs on 127.0.0.1:10000-10002).",
                e);
        }
    }
}
