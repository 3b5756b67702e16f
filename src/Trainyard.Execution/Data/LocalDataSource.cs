using System.Globalization;
using Trainyard.Execution.Contracts;

namespace Trainyard.Execution.Data;

/// <summary>
/// Files under a local data root, addressed as `file:relative/path` (or `file://relative/path`). Nothing outside the
/// root is served: absolute paths, `..` segments and symbolic links that lead out of it are refused before anything is
/// opened. The ETag of a file is its size and last write time, so a file rewritten after a trigger saw it is "changed".
/// </summary>
public sealed class LocalDataSource : IDataSource
{
    /// <summary>The scheme this source serves.</summary>
    public const string Scheme = "file:";

    private readonly string _root;

    /// <summary>Creates a source over <paramref name="root"/> (made absolute; it need not exist yet).</summary>
    public LocalDataSource(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
    }

    /// <summary>The data root.</summary>
    public string Root => _root;

    /// <inheritdoc />
    public bool Serves(string uri) => uri is not null && uri.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase);

    /// <summary>The URI of a file under the root (for triggers that watch the folder).</summary>
    public string UriOf(string fullPath)
    {
        var relative = Path.GetRelativePath(_root, Path.GetFullPath(fullPath)).Replace(Path.DirectorySeparatorChar, '/');
        return Scheme + relative;
    }

    /// <summary>The ETag a file has now (size and last write time).</summary>
    public static string ETagOf(FileInfo file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return string.Create(CultureInfo.InvariantCulture, $"\"{file.Length:x}-{file.LastWriteTimeUtc.Ticks:x}\"");
    }

    /// <inheritdoc />
    public Task<DataObject> OpenAsync(string uri, string? expectedETag, CancellationToken cancellationToken)
    {
        var path = Resolve(uri);
        var file = new FileInfo(path);
        if (!file.Exists)
        {
            throw new DataSourceException(DataSourceError.NotFound, $"{uri}: no such file under the data root {_root}; check the path (it is relative to the data root)");
        }

        var etag = ETagOf(file);
        if (expectedETag is not null && !string.Equals(Unquote(expectedETag), Unquote(etag), StringComparison.Ordinal))
        {
            throw new DataSourceException(DataSourceError.Changed, $"{uri}: the file changed since the run was started for version {expectedETag} (now {etag}); a new trigger starts a run for the new version");
        }

        Stream stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return Task.FromResult(new DataObject(stream, uri, etag, file.Length));
    }

    /// <summary>The full path of a `file:` URI under the root; throws <see cref="DataSourceException"/> (Refused) when it leaves the root.</summary>
    public string Resolve(string uri)
    {
        if (!Serves(uri))
        {
            throw new DataSourceException(DataSourceError.Refused, $"{uri}: not a file: URI; local data is addressed as file:relative/path under the data root {_root}");
        }

        var relative = uri[Scheme.Length..];
        if (relative.StartsWith("//", StringComparison.Ordinal))
        {
            relative = relative[2..];
        }

        if (relative.Length == 0 || Path.IsPathRooted(relative) || relative.Contains('\0', StringComparison.Ordinal)
            || relative.Split('/', '\\').Any(s => s == ".."))
        {
            throw new DataSourceException(DataSourceError.Refused, $"{uri}: the path must be relative to the data root {_root} and stay inside it (no leading '/', no '..')");
        }

        var full = Path.GetFullPath(Path.Combine(_root, relative));
        if (!IsUnder(full))
        {
            throw new DataSourceException(DataSourceError.Refused, $"{uri}: resolves outside the data root {_root}");
        }

        // A symbolic link anywhere on the way may lead out of the root: resolve every link and check again.
        var probe = _root;
        foreach (var segment in Path.GetRelativePath(_root, full).Split(Path.DirectorySeparatorChar))
        {
            probe = Path.Combine(probe, segment);
            var info = new FileInfo(probe);
            if (info.Exists || Directory.Exists(probe))
            {
                var target = (info.Attributes.HasFlag(FileAttributes.ReparsePoint) ? info.ResolveLinkTarget(returnFinalTarget: true)?.FullName : null) ?? probe;
                if (!IsUnder(Path.GetFullPath(target)))
                {
                    throw new DataSourceException(DataSourceError.Refused, $"{uri}: a symbolic link on its path leads outside the data root {_root}");
                }
            }
        }

        return full;
    }

    private bool IsUnder(string full) =>
        full.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private static string Unquote(string etag) => etag.Trim('"');
}
