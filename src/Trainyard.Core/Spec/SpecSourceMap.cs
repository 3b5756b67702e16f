using YamlDotNet.Core;

namespace Trainyard.Core.Spec;

/// <summary>
/// Maps field paths of a loaded spec (`steps[3].retry.jitter`, `params.lr.default`, `steps[0].with.cfg.items[2]`)
/// back to file positions, so validation can point at the exact place. Paths are resolved only when a diagnostic needs one.
/// </summary>
public sealed class SpecSourceMap
{
    private readonly string _text;
    private readonly YNode? _root;
    private int[]? _lineStarts;

    internal SpecSourceMap(string file, string text, YNode? root)
    {
        File = file;
        _text = text;
        _root = root;
    }

    /// <summary>The file name diagnostics carry.</summary>
    public string File { get; }

    /// <summary>Where the value at <paramref name="path"/> starts; the nearest existing parent when the path is not in the file.</summary>
    public SourceLocation Find(string path) => At(Resolve(path, key: false)?.Start);

    /// <summary>Where the key of the field at <paramref name="path"/> is written (falls back like <see cref="Find"/>).</summary>
    public SourceLocation FindKey(string path) => At(Resolve(path, key: true)?.Start);

    /// <summary>The position of character <paramref name="offset"/> of the string value at <paramref name="path"/>.</summary>
    /// <remarks>Exact for one-line scalars; for block and multi-line scalars the position of `${{` occurrences is matched in the raw text.</remarks>
    public SourceLocation FindInString(string path, int offset)
    {
        if (Resolve(path, key: false) is not YScalar scalar)
        {
            return Find(path);
        }

        bool quoted = scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted;
        bool oneLine = scalar.Start.Line == scalar.End.Line && scalar.Style is ScalarStyle.Plain or ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted;
        if (oneLine)
        {
            return new SourceLocation(File, (int)scalar.Start.Line, (int)scalar.Start.Column + (quoted ? 1 : 0) + Math.Max(0, offset));
        }

        var value = scalar.Value;
        int clamped = Math.Clamp(offset, 0, value.Length);
        int exprStart = clamped < 3 ? -1 : value.LastIndexOf("${{", Math.Min(clamped + 2, value.Length - 1), StringComparison.Ordinal);
        if (exprStart < 0)
        {
            return At(scalar.Start);
        }

        int occurrence = 0;
        for (int i = value.IndexOf("${{", StringComparison.Ordinal); i >= 0 && i < exprStart; i = value.IndexOf("${{", i + 3, StringComparison.Ordinal))
        {
            occurrence++;
        }

        int rawStart = (int)scalar.Start.Index;
        int rawEnd = (int)Math.Min(scalar.End.Index, _text.Length);
        int raw = _text.IndexOf("${{", rawStart, rawEnd - rawStart, StringComparison.Ordinal);
        for (int k = 0; k < occurrence && raw >= 0; k++)
        {
            raw = _text.IndexOf("${{", raw + 3, rawEnd - raw - 3, StringComparison.Ordinal);
        }

        return raw < 0 ? At(scalar.Start) : AtIndex(raw + (clamped - exprStart));
    }

    private SourceLocation At(Mark? mark) => mark is { } m && m.Line > 0
        ? new SourceLocation(File, (int)m.Line, (int)m.Column)
        : new SourceLocation(File, 1, 1);

    private SourceLocation AtIndex(int index)
    {
        _lineStarts ??= LineStarts(_text);
        int line = Array.BinarySearch(_lineStarts, index);
        if (line < 0)
        {
            line = ~line - 1;
        }

        return new SourceLocation(File, line + 1, index - _lineStarts[line] + 1);
    }

    private static int[] LineStarts(string text)
    {
        var starts = new List<int> { 0 };
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                starts.Add(i + 1);
            }
        }

        return [.. starts];
    }

    private YNode? Resolve(string path, bool key)
    {
        YNode? node = _root;
        YNode? keyNode = null;
        foreach (var segment in Segments(path))
        {
            YNode? next = null;
            YNode? nextKey = null;
            if (segment.Index is int index)
            {
                if (node is YSeq seq && index < seq.Items.Count)
                {
                    next = seq.Items[index];
                }
            }
            else if (node is YMap map)
            {
                foreach (var entry in map.Entries)
                {
                    if (entry.Key is YScalar k && k.Value == segment.Name)
                    {
                        next = entry.Value;
                        nextKey = k;
                        break;
                    }
                }
            }

            if (next is null)
            {
                // Not in the file (a default, or a missing field): point at the nearest parent that is.
                return node;
            }

            node = next;
            keyNode = nextKey;
        }

        return key && keyNode is not null ? keyNode : node;
    }

    private static IEnumerable<(string? Name, int? Index)> Segments(string path)
    {
        int i = 0;
        while (i < path.Length)
        {
            if (path[i] == '.')
            {
                i++;
                continue;
            }

            if (path[i] == '[')
            {
                int close = path.IndexOf(']', i);
                if (close < 0)
                {
                    yield break;
                }

                yield return (null, int.Parse(path.AsSpan(i + 1, close - i - 1), System.Globalization.CultureInfo.InvariantCulture));
                i = close + 1;
                continue;
            }

            int end = i;
            while (end < path.Length && path[end] != '.' && path[end] != '[')
            {
                end++;
            }

            yield return (path[i..end], null);
            i = end;
        }
    }
}
