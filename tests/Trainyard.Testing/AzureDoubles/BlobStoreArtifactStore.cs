using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Testing.AzureDoubles;

/// <summary>
/// An artifact store over one container of an <see cref="ITestBlobStore"/> (artifact path = prefix + blob name), so
/// an executor and the Batch double see the same files. The ETag is the content hash.
/// </summary>
public sealed class BlobStoreArtifactStore(ITestBlobStore blobs, Uri containerUrl, string blobPrefix = "") : IArtifactStore
{
    /// <inheritdoc />
    public async Task<ArtifactInfo> PutAsync(string path, Stream content, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await content.CopyToAsync(buffer, cancellationToken);
        buffer.Position = 0;
        await blobs.UploadAsync(containerUrl, blobPrefix + path, buffer, cancellationToken);
        return Info(path, buffer.ToArray());
    }

    /// <inheritdoc />
    public async Task<ArtifactInfo> PutIfMatchAsync(string path, Stream content, string? expectedETag, CancellationToken cancellationToken)
    {
        var current = await GetInfoAsync(path, cancellationToken);
        if (current?.ETag != expectedETag)
        {
            throw new ConcurrencyException($"artifact {path} changed (ETag {current?.ETag ?? "none"}, expected {expectedETag ?? "none"}).");
        }

        return await PutAsync(path, content, cancellationToken);
    }

    /// <inheritdoc />
    public Task<Stream?> OpenReadAsync(string path, CancellationToken cancellationToken) => blobs.OpenReadAsync(containerUrl, blobPrefix + path, cancellationToken);

    /// <inheritdoc />
    public async Task<ArtifactInfo?> GetInfoAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = await OpenReadAsync(path, cancellationToken);
        if (stream is null)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken);
        return Info(path, buffer.ToArray());
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ArtifactInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var name in blobs.ListAsync(containerUrl, blobPrefix + prefix, cancellationToken))
        {
            if (await GetInfoAsync(name[blobPrefix.Length..], cancellationToken) is { } info)
            {
                yield return info;
            }
        }
    }

    /// <inheritdoc />
    public Task DeleteAsync(string path, CancellationToken cancellationToken) => blobs.DeleteAsync(containerUrl, blobPrefix + path, cancellationToken);

    private static ArtifactInfo Info(string path, byte[] bytes)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        return new ArtifactInfo(path, sha, bytes.Length, sha, DateTimeOffset.UtcNow);
    }
}
