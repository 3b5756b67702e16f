using System.Text;
using System.Text.RegularExpressions;

namespace Trainyard.Service;

/// <summary>
/// A blob path glob with named captures: <c>{name}</c> matches one path segment (no '/') and captures it,
/// <c>*</c> matches within a segment, <c>**</c> matches across segments, <c>?</c> one character.
/// </summary>
internal sealed class BlobPathPattern
{
    private static readonly Regex CaptureName = new("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant);
    private readonly Regex _regex;

    private BlobPathPattern(string text, Regex regex, IReadOnlyList<string> captures)
    {
        Text = text;
        _regex = regex;
        Captures = captures;
    }

    /// <summary>The glob text.</summary>
    public string Text { get; }

    /// <summary>Capture names in order.</summary>
    public IReadOnlyList<string> Captures { get; }

    /// <summary>Compiles a glob; throws <see cref="FormatException"/> naming the fault.</summary>
    public static BlobPathPattern Parse(string glob)
    {
        ArgumentNullException.ThrowIfNull(glob);
        var sb = new StringBuilder("^");
        var captures = new List<string>();
        for (int i = 0; i < glob.Length; i++)
        {
            char c = glob[i];
            switch (c)
            {
                case '{':
                    var end = glob.IndexOf('}', i + 1);
                    if (end < 0)
                    {
                        throw new FormatException($"blob path '{glob}': '{{' at {i + 1} has no closing '}}'; write captures as {{name}}");
                    }

                    var name = glob[(i + 1)..end];
                    if (!CaptureName.IsMatch(name) || captures.Contains(name))
                    {
                        throw new FormatException($"blob path '{glob}': capture '{{{name}}}' must be a unique name of letters, digits and '_'");
                    }

                    captures.Add(name);
                    sb.Append("(?<").Append(name).Append(">[^/]+)");
                    i = end;
                    break;
                case '*' when i + 1 < glob.Length && glob[i + 1] == '*':
                    sb.Append(".*");
                    i++;
                    break;
                case '*':
                    sb.Append("[^/]*");
                    break;
                case '?':
                    sb.Append("[^/]");
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }

        sb.Append('$');
        // Linear-time matching: a pattern with many wildcards against a long near-miss path made the backtracking engine
        // run into its timeout, and the timeout exception escaped the blob trigger (found by PayloadFuzzTests).
        return new BlobPathPattern(glob, new Regex(sb.ToString(), RegexOptions.CultureInvariant | RegexOptions.NonBacktracking), captures);
    }

    /// <summary>Matches a blob path (within its container); returns the captures, or null when it does not match.</summary>
    public IReadOnlyDictionary<string, string>? Match(string path)
    {
        var m = _regex.Match(path);
        if (!m.Success)
        {
            return null;
        }

        return Captures.ToDictionary(c => c, c => m.Groups[c].Value, StringComparer.Ordinal);
    }
}
