using Trainyard.Core.Spec;
using Trainyard.Core.Text;

namespace Trainyard.Execution.Artifacts;

/// <summary>Rules every artifact store applies to paths (Core's <see cref="PathRules"/>), so a path valid in one backend is valid in all.</summary>
public static class ArtifactPath
{
    /// <summary>Longest accepted path (Azure blob names allow 1,024 characters).</summary>
    public const int MaxLength = PathRules.MaxPathLength;

    /// <summary>
    /// Checks a '/'-separated relative path: not empty, no leading '/', no '\', no empty, '.' or '..' segments,
    /// no control characters, no segment starting with ".ty" (reserved for store internals).
    /// Throws <see cref="ArgumentException"/> naming the path and the rule it breaks.
    /// </summary>
    public static string Validate(string path, string paramName = "path")
        => PathRules.PathProblem(path) is { } problem
            ? throw new ArgumentException($"Artifact path {Printable.Quote(path, 64)} {problem}.", paramName)
            : path;

    /// <summary>Checks a listing prefix: empty is allowed (everything); otherwise the same rules, trailing '/' allowed.</summary>
    public static string ValidatePrefix(string prefix, string paramName = "prefix")
    {
        ArgumentNullException.ThrowIfNull(prefix, paramName);
        return prefix.Length > 0 && PathRules.PathProblem(prefix, allowTrailingSlash: true) is { } problem
            ? throw new ArgumentException($"Artifact prefix {Printable.Quote(prefix, 64)} {problem}.", paramName)
            : prefix;
    }
}
