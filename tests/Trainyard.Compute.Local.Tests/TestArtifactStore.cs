using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Trainyard.Runtime.Contracts;

namespace Trainyard.Compute.Local.Tests;

/// <summary>A folder-backed artifact store for executor tests (replaced by the runtime's FileSystemArtifactStore once it lands).</summary>
internal sealed class TestArtifactStore(string root) : IArtifactStore
{
    public async Task<ArtifactInfo> PutAsync(string path, Stream content, CancellationToken cancellationToken)
    {
        var file = Path.Combine(root, path);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        await using (var target = File.Create(file))
        {
            await content.CopyToAsync(target, cancellationToken);
        }

        return (await GetInfoAsync(path, cancellationToken))!;
    }

    public Task<ArtifactInfo> PutIfMatchAsync(string path, Stream content, string? expectedETag, CancellationToken cancellationToken)
        => PutAsync(path, content, cancellationToken);

    public Task<Stream?> OpenReadAsync(string path, CancellationToken cancellationToken)
    {
        var file = Path.Combine(root, path);
        return Task.FromResult<Stream?>(File.Exists(file) ? File.OpenRead(file) : null);
    }

    public async Task<ArtifactInfo?> GetInfoAsync(string path, CancellationToken cancellationToken)
    {
        var file = Path.Combine(root, path);
        if (!File.Exists(file))
        {
            return null;
        }

        var bytes = await File.ReadAllBytesAsync(file, cancellationToken);
        var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
        return new ArtifactInfo(path, hash, bytes.Length, hash, File.GetLastWriteTimeUtc(file));
    }

    public async IAsyncEnumerable<ArtifactInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!Directory.Exists(root))
        {
            yield break;
        }

        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var path = Path.GetRelativePath(root, file).Replace('\\', '/');
            if (path.StartsWith(prefix, StringComparison.Ordinal))
            {
                yield return (await GetInfoAsync(path, cancellationToken))!;
            }
        }
    }

    public Task DeleteAsync(string path, CancellationToken cancellationToken)
    {
        File.Delete(Path.Combine(root, path));
        return Task.CompletedTask;
    }
}
