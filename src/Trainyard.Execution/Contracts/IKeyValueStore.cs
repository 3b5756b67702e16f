namespace Trainyard.Execution.Contracts;

/// <summary>
/// Small keyed values with optimistic concurrency: dispatch-id claims, trigger watermarks, cooldowns, the active
/// pipeline pointers. Implemented by every run store (SQLite, memory) and by Azure Blob Storage for the Durable engine.
/// </summary>
public interface IKeyValueStore
{
    /// <summary>Reads a small keyed value; null when absent.</summary>
    Task<KeyValueEntry?> GetValueAsync(string scope, string key, CancellationToken cancellationToken);

    /// <summary>
    /// Writes a small keyed value if its ETag matches (null: must not exist). Returns the new ETag, or null on conflict.
    /// </summary>
    Task<string?> TryPutValueAsync(string scope, string key, string value, string? expectedETag, CancellationToken cancellationToken);

    /// <summary>Deletes keyed values whatever their ETags (idempotent: unknown keys are ignored).</summary>
    Task DeleteValuesAsync(string scope, IReadOnlyList<string> keys, CancellationToken cancellationToken);
}

/// <summary>A small keyed value with its ETag.</summary>
public sealed record KeyValueEntry(string Value, string ETag);

/// <summary>A conditional write lost: someone else changed the item first.</summary>
public sealed class ConcurrencyException(string message) : Exception(message);
