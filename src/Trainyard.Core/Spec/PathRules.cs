namespace Trainyard.Core.Spec;

/// <summary>
/// The one rule for relative paths and names that a spec, a param, an API call or a step output gives (artifact
/// paths, output file names, model names). `validate` and every store and step apply the same checks, so a value
/// `validate` accepts is never refused at run time, and one that would escape its root never reaches a file system.
/// </summary>
public static class PathRules
{
    /// <summary>Longest accepted path (Azure blob names allow 1,024 characters).</summary>
    public const int MaxPathLength = 1024;

    /// <summary>Longest accepted model name.</summary>
    public const int MaxModelNameLength = 100;

    /// <summary>Prefix of folders reserved for store internals.</summary>
    public const string ReservedPrefix = ".ty";

    /// <summary>
    /// Why <paramref name="path"/> is not a '/'-separated relative path that stays inside its root (empty, too long,
    /// absolute, '\', control characters, empty, '.' or '..' segments, a `.ty` segment), or null when it is.
    /// </summary>
    /// <param name="path">The path.</param>
    /// <param name="allowTrailingSlash">True for listing prefixes (`runs/r1/`).</param>
    public static string? PathProblem(string? path, bool allowTrailingSlash = false)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "is empty; give a relative path such as 'runs/<run>/<task>/model.zip'";
        }

        if (path.Length > MaxPathLength)
        {
            return $"is {path.Length} characters long; keep it under {MaxPathLength}";
        }

        if (path[0] == '/' || path.Contains('\\', StringComparison.Ordinal) || (path.Length > 1 && path[1] == ':'))
        {
            return "is absolute or uses '\\'; use a relative path with '/' separators";
        }

        if (path.Any(char.IsControl))
        {
            return "contains a control character; use printable characters only";
        }

        var segments = path.Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            var s = segments[i];
            if (s.Length == 0 && !(allowTrailingSlash && i == segments.Length - 1))
            {
                return "has an empty segment ('//' or a trailing '/'); remove it";
            }

            if (s is "." or "..")
            {
                return $"contains '{s}'; paths may not climb out of their folder, use a plain relative path";
            }

            if (s.StartsWith(ReservedPrefix, StringComparison.Ordinal))
            {
                return $"has a segment starting with '{ReservedPrefix}', which is reserved for the store itself; rename it";
            }
        }

        return null;
    }

    /// <summary>
    /// Why <paramref name="name"/> is not a model name (1-100 letters, digits, '-', '_' or '.', not starting with '.',
    /// not `stages`), or null when it is. Model names become folder names in the registry.
    /// </summary>
    public static string? ModelNameProblem(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxModelNameLength || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            return $"is not a model name: use 1-{MaxModelNameLength} letters, digits, '-', '_' or '.'";
        }

        if (name[0] == '.')
        {
            return "starts with '.'; model names become folder names, so '.', '..' and hidden names are not allowed: start with a letter or digit";
        }

        return name == "stages" ? "is reserved ('stages' holds the stage aliases); choose another name" : null;
    }
}
