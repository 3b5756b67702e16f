using Trainyard.Execution.Contracts;
using Trainyard.Storage.Sqlite;

namespace Trainyard.Cli;

/// <summary>
/// The stores of the registry commands (`pipelines`, `models`, `lineage`): pipeline versions, small keyed values (the
/// active-version pointers, the step cache index) and artifacts (the model registry, lineage records). Either the
/// embedded store in a folder, or, with `--store azure:...`, Trainyard's blob containers that the Function App reads.
/// </summary>
internal sealed class RegistryStores(IPipelineStore pipelines, IKeyValueStore values, IArtifactStore artifacts, IAsyncDisposable? owned) : IAsyncDisposable
{
    /// <summary>Pipeline versions by content hash.</summary>
    public IPipelineStore Pipelines => pipelines;

    /// <summary>Small keyed values.</summary>
    public IKeyValueStore Values => values;

    /// <summary>Artifacts.</summary>
    public IArtifactStore Artifacts => artifacts;

    /// <summary>
    /// Opens the stores a `--store` value names: an `azure:` value (its containers are created or checked now, so an
    /// unreachable account or a missing role is one clear error) or a folder (created when missing).
    /// </summary>
    public static async Task<RegistryStores> OpenAsync(string store, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (AzureStore.TryOpen(store) is { } azure)
        {
            await AzureStore.EnsureReachableAsync(azure, cancellationToken);
            return new RegistryStores(azure.Pipelines, azure.Values, azure.Artifacts, null);
        }

        var folder = CliStore.PrepareFolder(store);
        var sqlite = SqliteBackend.Open(Path.Combine(folder, CliStore.DatabaseFile));
        return new RegistryStores(sqlite.Store, sqlite.Store, sqlite.Artifacts, sqlite);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => owned?.DisposeAsync() ?? ValueTask.CompletedTask;
}
