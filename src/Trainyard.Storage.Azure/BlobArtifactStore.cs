using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Azure;

/// <summary>
/// Artifacts as block blobs (blob name = artifact path). The SHA-256 is computed while the content streams up and
/// stored in the blob's <c>sha256</c> metadata in the same request that makes the content visible (single PUT for
/// small content, the block-list commit for large), so no reader ever sees content without its hash.
/// </summary>
internal sealed class BlobArtifactStore(BlobContainerClient container) : IArtifactStore
{
    private const string HashKey = "sha256";
    private const int BlockSize = 4 * 1024 * 1024;

    private readonly Func<CancellationToken, Task> _ensure = ContainerGate.For(container);

    public Task<ArtifactInfo> PutAsync(string path, Stream content, CancellationToken cancellationToken) =>
        PutCoreAsync(path, content, null, cancellationToken);

    public Task<ArtifactInfo> PutIfMatchAsync(string path, Stream content, string? expectedETag, CancellationToken cancellationToken) =>
        PutCoreAsync(path, content, expectedETag is null ? new BlobRequestConditions { IfNoneMatch = ETag.All } : new BlobRequestConditions { IfMatch = new ETag(expectedETag) }, cancellationToken);

    public async Task<Stream?> OpenReadAsync(string path, CancellationToken cancellationToken)
    {
        CheckPath(path);
        await _ensure(cancellationToken).ConfigureAwait(false);
        try
        {
            var download = await container.GetBlobClient(path).DownloadStreamingAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return download.Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task<ArtifactInfo?> GetInfoAsync(string path, CancellationToken cancellationToken)
    {
        CheckPath(path);
        await _ensure(cancellationToken).ConfigureAwait(false);
        var blob = container.GetBlobClient(path);
        try
        {
            var p = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value;
            return p.Metadata.TryGetValue(HashKey, out var hash)
                ? new ArtifactInfo(path, hash, p.ContentLength, p.ETag.ToString(), p.LastModified)
                : await HashInPlaceAsync(blob, p.ETag, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async IAsyncEnumerable<ArtifactInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        await _ensure(cancellationToken).ConfigureAwait(false);
        await foreach (var item in container.GetBlobsAsync(BlobTraits.Metadata, BlobStates.None, prefix.Length == 0 ? null : prefix, cancellationToken).ConfigureAwait(false))
        {
            var p = item.Properties;
            if (item.Metadata.TryGetValue(HashKey, out var hash))
            {
                yield return new ArtifactInfo(item.Name, hash, p.ContentLength ?? 0, p.ETag?.ToString() ?? "", p.LastModified ?? default);
            }
            else if (await HashInPlaceAsync(container.GetBlobClient(item.Name), p.ETag ?? ETag.All, cancellationToken).ConfigureAwait(false) is { } info)
            {
                yield return info;
            }
        }
    }

    public async Task DeleteAsync(string path, CancellationToken cancellationToken)
    {
        CheckPath(path);
        await _ensure(cancellationToken).ConfigureAwait(false);
        await container.DeleteBlobIfExistsAsync(path, DeleteSnapshotsOption.IncludeSnapshots, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private async Task<ArtifactInfo> PutCoreAsync(string path, Stream content, BlobRequestConditions? conditions, CancellationToken cancellationToken)
    {
        CheckPath(path);
        ArgumentNullException.ThrowIfNull(content);
        await _ensure(cancellationToken).ConfigureAwait(false);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            var filled = await FillAsync(content, buffer, cancellationToken).ConfigureAwait(false);
            hash.AppendData(buffer, 0, filled);
            if (filled < BlockSize)
            {
                // Small content: one request carries the bytes, the hash and the condition.
                var options = new BlobUploadOptions { Metadata = Meta(hash), Conditions = conditions };
                var blob = container.GetBlobClient(path);
                var response = await Conditional(path, () => blob.UploadAsync(new BinaryData(buffer.AsMemory(0, filled)), options, cancellationToken)).ConfigureAwait(false);
                return new ArtifactInfo(path, options.Metadata[HashKey], filled, response.Value.ETag.ToString(), response.Value.LastModified);
            }

            var block = container.GetBlockBlobClient(path);
            var ids = new List<string>();
            long size = 0;
            while (filled > 0)
            {
                var id = Convert.ToBase64String(BitConverter.GetBytes((long)ids.Count));
                using (var part = new MemoryStream(buffer, 0, filled, writable: false))
                {
                    await block.StageBlockAsync(id, part, cancellationToken: cancellationToken).ConfigureAwait(false);
                }

                ids.Add(id);
                size += filled;
                filled = await FillAsync(content, buffer, cancellationToken).ConfigureAwait(false);
                hash.AppendData(buffer, 0, filled);
            }

            var commit = new CommitBlockListOptions { Metadata = Meta(hash), Conditions = conditions };
            var committed = await Conditional(path, () => block.CommitBlockListAsync(ids, commit, cancellationToken)).ConfigureAwait(false);
            return new ArtifactInfo(path, commit.Metadata[HashKey], size, committed.Value.ETag.ToString(), committed.Value.LastModified);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Hashes a blob written by someone else (e.g. Batch output files) and records the hash, unless it changed meanwhile.</summary>
    private static async Task<ArtifactInfo?> HashInPlaceAsync(BlobClient blob, ETag etag, CancellationToken cancellationToken)
    {
        try
        {
            var download = await blob.DownloadStreamingAsync(new BlobDownloadOptions { Conditions = new BlobRequestConditions { IfMatch = etag } }, cancellationToken).ConfigureAwait(false);
            string hash;
            await using (var stream = download.Value.Content)
            {
                hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
            }

            var set = await blob.SetMetadataAsync(new Dictionary<string, string> { [HashKey] = hash }, new BlobRequestConditions { IfMatch = etag }, cancellationToken).ConfigureAwait(false);
            return new ArtifactInfo(blob.Name, hash, download.Value.Details.ContentLength, set.Value.ETag.ToString(), set.Value.LastModified);
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            return null;
        }
    }

    private static async Task<Response<T>> Conditional<T>(string path, Func<Task<Response<T>>> write)
    {
        try
        {
            return await write().ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            throw new ConcurrencyException($"Artifact '{path}' changed or already exists ({e.ErrorCode}): read its current ETag and decide again.");
        }
    }

    private static Dictionary<string, string> Meta(IncrementalHash hash) =>
        new(StringComparer.Ordinal) { [HashKey] = Convert.ToHexStringLower(hash.GetCurrentHash()) };

    private static async Task<int> FillAsync(Stream content, byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < BlockSize)
        {
            var read = await content.ReadAsync(buffer.AsMemory(filled, BlockSize - filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        return filled;
    }

    private static void CheckPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length is 0 or > 1024 || path.StartsWith('/') || path.EndsWith('/') || path.Contains("//", StringComparison.Ordinal)
            || path.Contains('\\', StringComparison.Ordinal) || path.Split('/').Any(s => s is "." or ".."))
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"Artifact path '{path}' is invalid: use '/'-separated names (no '\\') without empty, '.' or '..' segments, at most 1024 characters."),
                nameof(path));
        }
    }
}
