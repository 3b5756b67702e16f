using System.Globalization;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Azure;

/// <summary>
/// Small keyed values as one block blob each (blob name <c>{scope}/{key}</c>, both encoded by <see cref="BlobNames"/>),
/// with the blob's ETag as the value's ETag: a create is a PUT with <c>If-None-Match: *</c>, an update a PUT with
/// <c>If-Match</c>, and a 409/412 answer is the conflict the contract returns as null. Dispatch-id claims, the step cache
/// index, trigger watermarks and the active-pipeline pointers of the Durable engine live here.
/// </summary>
/// <param name="container">The container (created on first use).</param>
public sealed class BlobKeyValueStore(BlobContainerClient container) : IKeyValueStore
{
    /// <summary>Largest value accepted, in UTF-8 bytes: larger data belongs in the artifact store, referenced from here.</summary>
    public const int MaxValueBytes = 1024 * 1024;

    private const int DeleteParallelism = 8;

    private readonly BlobContainerClient _container = container ?? throw new ArgumentNullException(nameof(container));
    private readonly Func<CancellationToken, Task> _ensure = ContainerGate.For(container);

    /// <inheritdoc />
    public async Task<KeyValueEntry?> GetValueAsync(string scope, string key, CancellationToken cancellationToken)
    {
        var blob = Blob(scope, key);
        await _ensure(cancellationToken).ConfigureAwait(false);
        try
        {
            var download = (await blob.DownloadContentAsync(cancellationToken).ConfigureAwait(false)).Value;
            return new KeyValueEntry(download.Content.ToString(), download.Details.ETag.ToString());
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public async Task<string?> TryPutValueAsync(string scope, string key, string value, string? expectedETag, CancellationToken cancellationToken)
    {
        var blob = Blob(scope, key);
        ArgumentNullException.ThrowIfNull(value);
        var bytes = Encoding.UTF8.GetByteCount(value);
        if (bytes > MaxValueBytes)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"Value '{scope}/{key}' is {bytes} bytes; keyed values hold at most {MaxValueBytes}: store large data as an artifact and keep its path here."),
                nameof(value));
        }

        if (expectedETag is not null && !IsBlobETag(expectedETag))
        {
            // Not an ETag this service issues (another store's, or made up): it cannot match, and sending it could be refused as a malformed header.
            return null;
        }

        await _ensure(cancellationToken).ConfigureAwait(false);
        var options = new BlobUploadOptions
        {
            Conditions = expectedETag is null ? new BlobRequestConditions { IfNoneMatch = ETag.All } : new BlobRequestConditions { IfMatch = new ETag(expectedETag) },
            HttpHeaders = new BlobHttpHeaders { ContentType = "text/plain; charset=utf-8" },
        };
        try
        {
            var response = await blob.UploadAsync(BinaryData.FromString(value), options, cancellationToken).ConfigureAwait(false);
            return response.Value.ETag.ToString();
        }
        catch (RequestFailedException e) when (e.Status is 404 or 409 or 412)
        {
            // 409 BlobAlreadyExists / 412 ConditionNotMet: someone else wrote first; 404: updating a value that was deleted.
            return null;
        }
    }

    /// <inheritdoc />
    public async Task DeleteValuesAsync(string scope, IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(keys);
        var blobs = keys.Distinct(StringComparer.Ordinal).Select(k => Blob(scope, k)).ToList();
        if (blobs.Count == 0)
        {
            return;
        }

        await _ensure(cancellationToken).ConfigureAwait(false);
        await Parallel.ForEachAsync(
            blobs,
            new ParallelOptions { MaxDegreeOfParallelism = DeleteParallelism, CancellationToken = cancellationToken },
            async (blob, ct) => await blob.DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, cancellationToken: ct).ConfigureAwait(false)).ConfigureAwait(false);
    }

    /// <summary>The blob name of a scope and key (tests check the encoding).</summary>
    internal static string BlobName(string scope, string key) => BlobNames.Segment(scope) + "/" + BlobNames.Segment(key);

    private BlobClient Blob(string scope, string key)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(key);
        return _container.GetBlobClient(BlobName(scope, key));
    }

    /// <summary>Blob ETags are quoted strings ("0x8D..."); anything else was not issued by the blob service.</summary>
    private static bool IsBlobETag(string etag) => etag.Length > 2 && etag[0] == '"' && etag[^1] == '"';
}
