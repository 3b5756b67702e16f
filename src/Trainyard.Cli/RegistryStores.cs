using Trainyard.Execution.Contracts;
using Trainyard.Storage.Sqlite;

namespace Trainyard.Cli;

/// <summary>
/// The stores of the registry commands (`pipelines`, `models`, `lineage`): pipeline versions, small keyed values (the
/// active-version pointers, the step cache index) and artifacts (the model registry, lineage records). Either the
/// embedded store in a folder, or, with `--store azure:...`, Trainyard's blob containers that the Function App reads.
/// </summary>
internal sealed class RegistryStores : IAsyncDisposable
{
    private readonly IAsyncDisposable? _owned;

    private RegistryStores(IPipelineStore pipelines, IKeyValueStore values, IArtifactStore artifacts, string location, IAsyncDisposable? owned)
    {
        Pipelines = pipelines;
        Values = values;
        Artifacts = artifacts;
        Location = location;
        _owned = owned;
    }

    /// <summary>Pipeline versions by content hash.</summary>
    public IPipelineStore Pipelines { get; }

    /// <summary>Small keyed values.</summary>
    public IKeyValueStore Values { get; }

    /// <summary>Artifacts.</summary>
    public IArtifactStore Artifacts { get; }

    /// <summary>Where the stores are, for messages (a folder, or the task hub's containers).</summary>
    public string Location { get; }

    /// <summary>Opens the stores a `--store` value names (an `azure:` value or a folder, created when missing).</summary>
    public static RegistryStores Open(string store)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (AzureStore.TryOpen(store) is { } azure)
        {
            return new RegistryStores(azure.Pipelines, azure.Values, azure.Artifacts, $"Azure Storage containers {string.Join(", ", azure.Names.All)}", null);
        }

        var folder = CliStore.PrepareFolder(store);
        var sqlite = SqliteBackend.Open(Path.Combine(folder, CliStore.DatabaseFile));
        return new RegistryStores(sqlite.Store, sqlite.Store, sqlite.Artifacts, folder, sqlite);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _owned?.DisposeAsync() ?? ValueTask.CompletedTask;
}
