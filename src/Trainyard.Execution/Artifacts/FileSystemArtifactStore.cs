using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Trainyard.Execution.Contracts;
using Trainyard.Execution.Artifacts;

namespace Trainyard.Execution.Artifacts;

/// <summary>
/// Artifacts as files under a root folder. Writes go to a temp file (hashed while writing) and are renamed into
/// place, so readers never see half a file. The SHA-256 is kept in a sidecar under `.ty/meta/` and re-computed when
/// the file changed behind the store's back. The ETag is the content hash. <see cref="PutIfMatchAsync"/> holds an
/// OS file lock, so it is safe across processes sharing the folder.
/// </summary>
public sealed class FileSystemArtifactStore : IArtifactStore
{
    private const string Internal = ".ty";
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(30);
    private readonly string _root;
    private readonly string _meta;
    private readonly string _tmp;
    private readonly string _locks;
    private readonly bool _flushToDisk;

    /// <summary>Creates the store (and its folders) under <paramref name="root"/>.</summary>
    /// <param name="root">Root folder; created when missing.</param>
    /// <param name="flushToDisk">fsync every write (survives power loss, slower); process crashes are safe either way.</param>
    public FileSystemArtifactStore(string root, bool flushToDisk = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        _root = Path.GetFullPath(root);
        _meta = Path.Combine(_root, Internal, "meta");
        _tmp = Path.Combine(_root, Internal, "tmp");
        _locks = Path.Combine(_root, Internal, "locks");
        _flushToDisk = flushToDisk;
        Directory.CreateDirectory(_meta);
        Directory.CreateDirectory(_tmp);
        Directory.CreateDirectory(_locks);
    }

    /// <summary>The root folder.</summary>
    public string Root => _root;

    /// <summary>Local file behind an artifact path (for executors that hand files to processes).</summary>
    public string GetLocalPath(string path) => Path.Combine(_root, ArtifactPath.Validate(path));

    /// <inheritdoc />
    public async Task<ArtifactInfo> PutAsync(string path, Stream content, CancellationToken cancellationToken)
    {
        ArtifactPath.Validate(path);
        ArgumentNullException.ThrowIfNull(content);
        return await WriteAsync(path, content, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ArtifactInfo> PutIfMatchAsync(string path, Stream content, string? expectedETag, CancellationToken cancellationToken)
    {
        ArtifactPath.Validate(path);
        ArgumentNullException.ThrowIfNull(content);
        await using var fileLock = await AcquireLockAsync(path, cancellationToken).ConfigureAwait(false);
        var current = await GetInfoAsync(path, cancellationToken).ConfigureAwait(false);
        if (current?.ETag != expectedETag)
        {
            var found = current is null ? "no artifact" : $"ETag {current.ETag}";
            var expected = expectedETag is null ? "no artifact" : $"ETag {expectedETag}";
            throw new ConcurrencyException($"Artifact '{path}' changed: expected {expected}, found {found}. Read it again and retry.");
        }

        return await WriteAsync(path, content, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<Stream?> OpenReadAsync(string path, CancellationToken cancellationToken)
    {
        var file = Path.Combine(_root, ArtifactPath.Validate(path));
        try
        {
            Stream s = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 81920, FileOptions.Asynchronous);
            return Task.FromResult<Stream?>(s);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
    }

    /// <inheritdoc />
    public async Task<ArtifactInfo?> GetInfoAsync(string path, CancellationToken cancellationToken)
    {
        ArtifactPath.Validate(path);
        var file = new FileInfo(Path.Combine(_root, path));
        if (!file.Exists)
        {
            return null;
        }

        var metaFile = MetaPath(path);
        var meta = await ReadMetaAsync(metaFile, cancellationToken).ConfigureAwait(false);
        if (meta is null || meta.Size != file.Length || meta.Ticks != file.LastWriteTimeUtc.Ticks)
        {
            // Written by something other than this store (or a crash between data and sidecar): hash it again.
            string sha;
            try
            {
                await using var s = file.OpenRead();
                sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(s, cancellationToken).ConfigureAwait(false));
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                return null;
            }

            file.Refresh();
            meta = new Meta(sha, file.Length, file.LastWriteTimeUtc.Ticks);
            await WriteMetaAsync(metaFile, meta, cancellationToken).ConfigureAwait(false);
        }

        return new ArtifactInfo(path, meta.Sha256, meta.Size, meta.Sha256, new DateTimeOffset(meta.Ticks, TimeSpan.Zero));
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ArtifactInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArtifactPath.ValidatePrefix(prefix);
        var slash = prefix.LastIndexOf('/');
        var dir = slash < 0 ? _root : Path.Combine(_root, prefix[..slash]);
        if (!Directory.Exists(dir))
        {
            yield break;
        }

        var internalDir = Path.Combine(_root, Internal) + Path.DirectorySeparatorChar;
        var paths = new List<string>();
        foreach (var f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            if (f.StartsWith(internalDir, StringComparison.Ordinal))
            {
                continue;
            }

            var rel = Path.GetRelativePath(_root, f).Replace(Path.DirectorySeparatorChar, '/');
            if (rel.StartsWith(prefix, StringComparison.Ordinal))
            {
                paths.Add(rel);
            }
        }

        paths.Sort(StringComparer.Ordinal);
        foreach (var p in paths)
        {
            var info = await GetInfoAsync(p, cancellationToken).ConfigureAwait(false);
            if (info is not null)
            {
                yield return info;
            }
        }
    }

    /// <inheritdoc />
    public Task DeleteAsync(string path, CancellationToken cancellationToken)
    {
        ArtifactPath.Validate(path);
        File.Delete(Path.Combine(_root, path));
        File.Delete(MetaPath(path));
        return Task.CompletedTask;
    }

    private async Task<ArtifactInfo> WriteAsync(string path, Stream content, CancellationToken cancellationToken)
    {
        var target = Path.Combine(_root, path);
        var tmp = Path.Combine(_tmp, Guid.NewGuid().ToString("N"));
        string sha;
        long size;
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
            {
                var buffer = new byte[81920];
                int n;
                while ((n = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    await fs.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                }

                size = fs.Length;
                if (_flushToDisk)
                {
                    fs.Flush(flushToDisk: true);
                }
            }

            sha = Convert.ToHexStringLower(hash.GetHashAndReset());
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Move(tmp, target, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }

        var ticks = File.GetLastWriteTimeUtc(target).Ticks;
        await WriteMetaAsync(MetaPath(path), new Meta(sha, size, ticks), cancellationToken).ConfigureAwait(false);
        return new ArtifactInfo(path, sha, size, sha, new DateTimeOffset(ticks, TimeSpan.Zero));
    }

    private string MetaPath(string path) => Path.Combine(_meta, path + ".json");

    private static async Task<Meta?> ReadMetaAsync(string metaFile, CancellationToken cancellationToken)
    {
        try
        {
            var bytes = await File.ReadAllBytesAsync(metaFile, cancellationToken).ConfigureAwait(false);
            return JsonSerializer.Deserialize<Meta>(bytes);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or JsonException)
        {
            return null;
        }
    }

    private async Task WriteMetaAsync(string metaFile, Meta meta, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(metaFile)!);
        var tmp = Path.Combine(_tmp, Guid.NewGuid().ToString("N"));
        await File.WriteAllBytesAsync(tmp, JsonSerializer.SerializeToUtf8Bytes(meta), cancellationToken).ConfigureAwait(false);
        File.Move(tmp, metaFile, overwrite: true);
    }

    private async Task<FileStream> AcquireLockAsync(string path, CancellationToken cancellationToken)
    {
        var name = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(path)))[..32] + ".lock";
        var lockFile = Path.Combine(_locks, name);
        var deadline = DateTime.UtcNow + LockTimeout;
        while (true)
        {
            try
            {
                // FileShare.None is an OS lock (flock on Unix): it excludes other processes and other handles here.
                return new FileStream(lockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(5, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw new TimeoutException($"Could not lock artifact '{path}' within {LockTimeout.TotalSeconds} s ({lockFile} is held); check for a stuck process.", e);
            }
        }
    }

    private sealed record Meta(string Sha256, long Size, long Ticks);
}
