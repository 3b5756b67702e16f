using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Trainyard.Storage.Azure;

/// <summary>
/// Keeps JSON values out of table properties when they are larger than the inline limit: such a value is written to a
/// content-addressed blob (<c>{scope}/{sha256}.json</c>) BEFORE the table write that references it, so a crash or a
/// lost race leaves at most an unreferenced blob (garbage under the run's prefix, removed with the run), never a
/// reference to missing data. Content addressing also means two writers of different values never overwrite each other.
/// </summary>
internal sealed class LargeValues(BlobContainerClient container, int inlineLimit)
{
    private const long CacheBudgetChars = 64L * 1024 * 1024;
    private readonly ConcurrentDictionary<string, string> _cache = new(StringComparer.Ordinal);
    private long _cachedChars;

    /// <summary>Sets <paramref name="property"/> (inline) or <c>{property}Blob</c> (a blob name) on the entity.</summary>
    public async Task SetAsync(TableEntity entity, string property, string value, string scope, CancellationToken cancellationToken)
    {
        if (Encoding.UTF8.GetByteCount(value) <= inlineLimit)
        {
            entity[property] = value;
            return;
        }

        var bytes = Encoding.UTF8.GetBytes(value);
        var name = $"{scope}/{Convert.ToHexStringLower(SHA256.HashData(bytes))}.json";
        await container.GetBlobClient(name).UploadAsync(new BinaryData(bytes), overwrite: true, cancellationToken).ConfigureAwait(false);
        Remember(name, value);
        entity[property + "Blob"] = name;
    }

    /// <summary>The blob name an entity property refers to, or null when inline.</summary>
    public static string? BlobName(TableEntity entity, string property) => entity.GetString(property + "Blob");

    /// <summary>Reads a value written by <see cref="SetAsync"/>; throws <see cref="LargeValueMissingException"/> when its blob is gone.</summary>
    public async Task<string> GetAsync(TableEntity entity, string property, CancellationToken cancellationToken)
    {
        if (BlobName(entity, property) is not { } name)
        {
            return entity.GetString(property) ?? throw new InvalidDataException(
                $"Row {entity.PartitionKey}/{entity.RowKey} has neither '{property}' nor '{property}Blob': the table was changed by something other than Trainyard.");
        }

        if (_cache.TryGetValue(name, out var cached))
        {
            return cached;
        }

        try
        {
            var content = await container.GetBlobClient(name).DownloadContentAsync(cancellationToken).ConfigureAwait(false);
            var value = content.Value.Content.ToString();
            Remember(name, value);
            return value;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new LargeValueMissingException(name);
        }
    }

    /// <summary>Deletes one value blob (no error when absent).</summary>
    public async Task DeleteAsync(string name, CancellationToken cancellationToken)
    {
        _cache.TryRemove(name, out _);
        await container.DeleteBlobIfExistsAsync(name, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes every value blob under a prefix, in pages; returns how many.</summary>
    public async Task<int> DeletePrefixAsync(string prefix, CancellationToken cancellationToken)
    {
        var deleted = 0;
        await foreach (var blob in container.GetBlobsAsync(BlobTraits.None, BlobStates.None, prefix, cancellationToken).ConfigureAwait(false))
        {
            await DeleteAsync(blob.Name, cancellationToken).ConfigureAwait(false);
            deleted++;
        }

        return deleted;
    }

    private void Remember(string name, string value)
    {
        // Values are immutable per name (content-addressed), so the cache can never be stale; it is only bounded.
        if (Interlocked.Add(ref _cachedChars, value.Length) > CacheBudgetChars)
        {
            _cache.Clear();
            Interlocked.Exchange(ref _cachedChars, value.Length);
        }

        _cache[name] = value;
    }
}

/// <summary>A referenced value blob was deleted (its row was superseded or purged meanwhile): read the row again.</summary>
internal sealed class LargeValueMissingException(string blobName)
    : Exception($"Value blob '{blobName}' is gone: the row referring to it changed meanwhile; read it again.");
