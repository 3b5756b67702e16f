namespace Trainyard.Execution.Artifacts;

/// <summary>Rules every artifact store applies to paths, so a path valid in one backend is valid in all.</summary>
public static class ArtifactPath
{
    /// <summary>Longest accepted path (Azure blob names allow 1,024 characters).</summary>
    public const int MaxLength = 1024;

    /// <summary>
    /// Checks a '/'-separated relative path: not empty, no leading '/', no '\', no empty, '.' or '..' segments,
    /// no control characters, no segment starting with ".ty" (reserved for store internals).
    /// Throws <see cref="ArgumentException"/> naming the path and the rule it breaks.
    /// </summary>
    public static string Validate(string path, string paramName = "path")
    {
        if (string.IsNullOrEmpty(path))
        {
            throw new ArgumentException("Artifact path is empty; give a relative path such as 'runs/<run>/<task>/model.zip'.", paramName);
        }

        if (path.Length > MaxLength)
        {
            throw new ArgumentException($"Artifact path '{path[..64]}...' is {path.Length} characters long; keep it under {MaxLength}.", paramName);
        }

        if (path[0] == '/' || path.Contains('\\', StringComparison.Ordinal) || (path.Length > 1 && path[1] == ':'))
        {
            throw new ArgumentException($"Artifact path '{path}' is absolute or uses '\\'; use a relative path with '/' separators.", paramName);
        }

        foreach (var c in path)
        {
            if (char.IsControl(c))
            {
                throw new ArgumentException($"Artifact path '{path}' contains a control character; use printable characters only.", paramName);
            }
        }

        ValidateSegments(path, paramName, allowTrailingSlash: false);
        return path;
    }

    /// <summary>Checks a listing prefix: empty is allowed (everything); otherwise the same rules, trailing '/' allowed.</summary>
    public static string ValidatePrefix(string prefix, string paramName = "prefix")
    {
        ArgumentNullException.ThrowIfNull(prefix, paramName);
        if (prefix.Length == 0)
        {
            return prefix;
        }

        if (prefix[0] == '/' || prefix.Contains('\\', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Artifact prefix '{prefix}' is absolute or uses '\\'; use a relative prefix with '/' separators.", paramName);
        }

        ValidateSegments(prefix, paramName, allowTrailingSlash: true);
        return prefix;
    }

    private static void ValidateSegments(string path, string paramName, bool allowTrailingSlash)
    {
        var segments = path.Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            var s = segments[i];
            if (s.Length == 0)
            {
                if (allowTrailingSlash && i == segments.Length - 1)
                {
                    continue;
                }

                throw new ArgumentException($"Artifact path '{path}' has an empty segment ('//' or a trailing '/'); remove it.", paramName);
            }

            if (s is "." or "..")
            {
                throw new ArgumentException($"Artifact path '{path}' contains '{s}'; paths may not climb out of the store, use a plain relative path.", paramName);
            }

            if (s.StartsWith(".ty", StringComparison.Ordinal))
            {
                throw new ArgumentException($"Artifact path '{path}' has a segment starting with '.ty', which is reserved for the store itself; rename it.", paramName);
            }
        }
    }
}
