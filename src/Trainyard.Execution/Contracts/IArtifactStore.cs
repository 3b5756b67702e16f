namespace Trainyard.Execution.Contracts;

/// <summary>Files produced and consumed by tasks, addressed by '/'-separated paths, with SHA-256 content hashes.</summary>
public interface IArtifactStore
{
    /// <summary>Writes (or replaces) an artifact and returns its info, hash included.</summary>
    Task<ArtifactInfo> PutAsync(string path, Stream content, CancellationToken cancellationToken);

    /// <summary>
    /// Writes only if the current ETag matches (<paramref name="expectedETag"/> null: must not exist).
    /// Throws <see cref="ConcurrencyException"/> on conflict, changing nothing. Used for registry aliases.
    /// </summary>
    Task<ArtifactInfo> PutIfMatchAsync(string path, Stream content, string? expectedETag, CancellationToken cancellationToken);

    /// <summary>Opens an artifact for reading; null when absent.</summary>
    Task<Stream?> OpenReadAsync(string path, CancellationToken cancellationToken);

    /// <summary>Info of an artifact; null when absent.</summary>
    Task<ArtifactInfo?> GetInfoAsync(string path, CancellationToken cancellationToken);

    /// <summary>Lists artifacts whose path starts with <paramref name="prefix"/>, in path order.</summary>
    IAsyncEnumerable<ArtifactInfo> ListAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Deletes an artifact (no error when absent).</summary>
    Task DeleteAsync(string path, CancellationToken cancellationToken);
}

/// <summary>What is known of a stored artifact.</summary>
public sealed record ArtifactInfo(string Path, string Sha256, long Size, string ETag, DateTimeOffset LastModified);
