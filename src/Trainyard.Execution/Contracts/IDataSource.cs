namespace Trainyard.Execution.Contracts;

/// <summary>
/// Where datasets come from before they are artifacts of a run: a blob that landed in the data container (Azure), or
/// a file under the configured local data root. Read by the `ingest` step, streamed, never buffered whole.
/// </summary>
public interface IDataSource
{
    /// <summary>True when this source serves <paramref name="uri"/> (by scheme or account).</summary>
    bool Serves(string uri);

    /// <summary>
    /// Opens the object for reading, pinned to <paramref name="expectedETag"/> when given. Throws
    /// <see cref="DataSourceException"/> when it is missing, changed since that ETag, or not allowed.
    /// </summary>
    Task<DataObject> OpenAsync(string uri, string? expectedETag, CancellationToken cancellationToken);
}

/// <summary>An opened data object: its content stream (the caller disposes it) and what identifies this version.</summary>
public sealed record DataObject(Stream Content, string Uri, string ETag, long Size) : IAsyncDisposable
{
    /// <inheritdoc />
    public ValueTask DisposeAsync() => Content.DisposeAsync();
}

/// <summary>Why a data object could not be opened.</summary>
public enum DataSourceError
{
    /// <summary>It does not exist (or vanished since the trigger saw it).</summary>
    NotFound,
    /// <summary>It exists, but not in the version (ETag) the run was started for.</summary>
    Changed,
    /// <summary>The URI is malformed, leaves its root, or no source serves it.</summary>
    Refused,
}

/// <summary>A data object could not be opened; the message names the URI and what to do.</summary>
public sealed class DataSourceException(DataSourceError error, string message) : Exception(message)
{
    /// <summary>What went wrong.</summary>
    public DataSourceError Error { get; } = error;
}
