using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Trainyard.Execution.Artifacts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Execution.Artifacts;

/// <summary>Artifacts held in memory (tests, benchmarks). Same path rules and ETag semantics as the other stores.</summary>
public sealed class InMemoryArtifactStore(TimeProvider? time = null) : IArtifactStore
{
    private readonly SortedDictionary<string, (byte[] Data, ArtifactInfo Info)> _items = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <inheritdoc />
    public async Task<ArtifactInfo> PutAsync(string path, Stream content, CancellationToken cancellationToken)
    {
        ArtifactPath.Validate(path);
        var data = await ReadAllAsync(content, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            return Store(path, data);
        }
    }

    /// <inheritdoc />
    public async Task<ArtifactInfo> PutIfMatchAsync(string path, Stream content, string? expectedETag, CancellationToken cancellationToken)
    {
        ArtifactPath.Validate(path);
        var data = await ReadAllAsync(content, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            var current = _items.TryGetValue(path, out var item) ? item.Info.ETag : null;
            if (current != expectedETag)
            {
                throw new ConcurrencyException(
                    $"Artifact '{path}' changed: expected {expectedETag ?? "no artifact"}, found {current ?? "no artifact"}. Read it again and retry.");
            }

            return Store(path, data);
        }
    }

    /// <inheritdoc />
    public Task<Stream?> OpenReadAsync(string path, CancellationToken cancellationToken)
    {
        ArtifactPath.Validate(path);
        lock (_gate)
        {
            return Task.FromResult<Stream?>(_items.TryGetValue(path, out var item) ? new MemoryStream(item.Data, writable: false) : null);
        }
    }

    /// <inheritdoc />
    public Task<ArtifactInfo?> GetInfoAsync(string path, CancellationToken cancellationToken)
    {
        ArtifactPath.Validate(path);
        lock (_gate)
        {
            return Task.FromResult(_items.TryGetValue(path, out var item) ? item.Info : null);
        }
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ArtifactInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArtifactPath.ValidatePrefix(prefix);
        List<ArtifactInfo> found;
        lock (_gate)
        {
            found = [.. _items.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).Select(kv => kv.Value.Info)];
        }

        foreach (var info in found)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return info;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task DeleteAsync(string path, CancellationToken cancellationToken)
    {
        ArtifactPath.Validate(path);
        lock (_gate)
        {
            _items.Remove(path);
        }

        return Task.CompletedTask;
    }

    private ArtifactInfo Store(string path, byte[] data)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(data));
        var info = new ArtifactInfo(path, sha, data.Length, sha, _time.GetUtcNow());
        _items[path] = (data, info);
        return info;
    }

    private static async Task<byte[]> ReadAllAsync(Stream content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        using var ms = new MemoryStream();
        await content.CopyToAsync(ms, cancellationToken).ConfigureAwait(false);
        return ms.ToArray();
    }
}
