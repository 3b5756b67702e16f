using System.Runtime.CompilerServices;
using Azure;
using Azure.Storage.Blobs;

namespace Trainyard.Testing.AzureDoubles;

/// <summary>
/// Blob storage as the Batch double sees it: containers addressed by URL (only the last path segment, the container
/// name, matters). Azurite when TRAINYARD_AZURITE is set (real blob service), otherwise a local folder.
/// </summary>
public interface ITestBlobStore
{
    /// <summary>Human-readable kind ("azurite" or "folder").</summary>
    string Kind { get; }

    /// <summary>URL of a container, as a Batch task would be given it.</summary>
    Uri ContainerUrl(string container);

    /// <summary>Uploads a blob (replacing it).</summary>
    Task UploadAsync(Uri containerUrl, string blobName, Stream content, CancellationToken cancellationToken);

    /// <summary>Opens a blob; null when absent.</summary>
    Task<Stream?> OpenReadAsync(Uri containerUrl, string blobName, CancellationToken cancellationToken);

    /// <summary>Blob names starting with a prefix, in order.</summary>
    IAsyncEnumerable<string> ListAsync(Uri containerUrl, string prefix, CancellationToken cancellationToken);

    /// <summary>Deletes a blob (no error when absent).</summary>
    Task DeleteAsync(Uri containerUrl, string blobName, CancellationToken cancellationToken);
}

/// <summary>Creates the store tests should use: Azurite when TRAINYARD_AZURITE is set, else a folder.</summary>
public static class TestBlobStores
{
    /// <summary>The store for this environment; <paramref name="folder"/> is used when Azurite is not configured.</summary>
    public static ITestBlobStore Create(string folder)
    {
        var azurite = Environment.GetEnvironmentVariable("TRAINYARD_AZURITE");
        return string.IsNullOrWhiteSpace(azurite) ? new FolderBlobStore(folder) : new AzuriteBlobStore(azurite);
    }
}

/// <summary>Containers as folders: {root}/{container}/{blob name}.</summary>
public sealed class FolderBlobStore(string root) : ITestBlobStore
{
    /// <inheritdoc />
    public string Kind => "folder";

    /// <inheritdoc />
    public Uri ContainerUrl(string container) => new($"https://blobs.double.invalid/{container}");

    /// <inheritdoc />
    public async Task UploadAsync(Uri containerUrl, string blobName, Stream content, CancellationToken cancellationToken)
    {
        var path = PathOf(containerUrl, blobName);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var tmp = path + ".tmp-" + Environment.CurrentManagedThreadId;
        await using (var file = File.Create(tmp))
        {
            await content.CopyToAsync(file, cancellationToken);
        }

        File.Move(tmp, path, overwrite: true);
    }

    /// <inheritdoc />
    public Task<Stream?> OpenReadAsync(Uri containerUrl, string blobName, CancellationToken cancellationToken)
    {
        var path = PathOf(containerUrl, blobName);
        return Task.FromResult<Stream?>(File.Exists(path) ? File.OpenRead(path) : null);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<string> ListAsync(Uri containerUrl, string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var dir = Path.Combine(root, ContainerName(containerUrl));
        if (!Directory.Exists(dir))
        {
            yield break;
        }

        var names = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(dir, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && !n.Contains(".tmp-", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();
        foreach (var name in names)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return name;
        }

        await Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task DeleteAsync(Uri containerUrl, string blobName, CancellationToken cancellationToken)
    {
        File.Delete(PathOf(containerUrl, blobName));
        return Task.CompletedTask;
    }

    private string PathOf(Uri containerUrl, string blobName)
    {
        if (blobName.Split('/').Any(s => s is "" or "." or ".."))
        {
            throw new ArgumentException($"blob name '{blobName}' is not a plain relative path.", nameof(blobName));
        }

        return Path.Combine(root, ContainerName(containerUrl), Path.Combine(blobName.Split('/')));
    }

    internal static string ContainerName(Uri containerUrl) => containerUrl.AbsolutePath.TrimEnd('/').Split('/')[^1];
}

/// <summary>Containers in Azurite (or any account reachable by connection string).</summary>
public sealed class AzuriteBlobStore(string connectionString) : ITestBlobStore
{
    private readonly BlobServiceClient _service = new(connectionString);

    /// <inheritdoc />
    public string Kind => "azurite";

    /// <inheritdoc />
    public Uri ContainerUrl(string container) => _service.GetBlobContainerClient(container).Uri;

    /// <inheritdoc />
    public async Task UploadAsync(Uri containerUrl, string blobName, Stream content, CancellationToken cancellationToken)
    {
        var container = await ContainerAsync(containerUrl, cancellationToken);
        await container.GetBlobClient(blobName).UploadAsync(content, overwrite: true, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<Stream?> OpenReadAsync(Uri containerUrl, string blobName, CancellationToken cancellationToken)
    {
        var container = await ContainerAsync(containerUrl, cancellationToken);
        try
        {
            var download = await container.GetBlobClient(blobName).DownloadContentAsync(cancellationToken);
            return download.Value.Content.ToStream();
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<string> ListAsync(Uri containerUrl, string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var container = await ContainerAsync(containerUrl, cancellationToken);
        await foreach (var blob in container.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, prefix, cancellationToken))
        {
            yield return blob.Name;
        }
    }

    /// <inheritdoc />
    public async Task DeleteAsync(Uri containerUrl, string blobName, CancellationToken cancellationToken)
    {
        var container = await ContainerAsync(containerUrl, cancellationToken);
        await container.GetBlobClient(blobName).DeleteIfExistsAsync(cancellationToken: cancellationToken);
    }

    private async Task<BlobContainerClient> ContainerAsync(Uri containerUrl, CancellationToken cancellationToken)
    {
        var container = _service.GetBlobContainerClient(FolderBlobStore.ContainerName(containerUrl));
        await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        return container;
    }
}
