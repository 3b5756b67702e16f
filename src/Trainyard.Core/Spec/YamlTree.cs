using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Trainyard.Core.Spec;

/// <summary>A YAML node with its marks. Built from parser events so limits apply before a large tree exists.</summary>
internal abstract class YNode
{
    public Mark Start { get; init; } = Mark.Empty;

    public Mark End { get; set; } = Mark.Empty;

    /// <summary>Nodes in this subtree (aliases counted as the size of what they point to).</summary>
    public int Size { get; set; } = 1;
}

internal sealed class YScalar : YNode
{
    public required string Value { get; init; }

    public ScalarStyle Style { get; init; }

    public string? Tag { get; init; }

    /// <summary>Plain and untagged: the YAML core schema types it (null, bool, int, float, else string).</summary>
    public bool IsPlain => Style == ScalarStyle.Plain && Tag is null;

    /// <summary>A plain `null`, `~` or empty scalar.</summary>
    public bool IsNull => (IsPlain && Value is "" or "~" or "null" or "Null" or "NULL") || Tag is "tag:yaml.org,2002:null";
}

internal sealed class YMap : YNode
{
    public List<KeyValuePair<YNode, YNode>> Entries { get; } = [];
}

internal sealed class YSeq : YNode
{
    public List<YNode> Items { get; } = [];
}

/// <summary>A limit was hit while reading; carries where.</summary>
internal sealed class YamlLimitException(string message, Mark at) : Exception(message)
{
    public Mark At { get; } = at;
}

/// <summary>Reads one YAML document into a <see cref="YNode"/> tree.</summary>
internal static class YamlTree
{
    /// <summary>Deepest nesting of mappings and sequences accepted.</summary>
    public const int MaxDepth = 32;

    /// <summary>Most nodes accepted (aliases count as what they expand to), so alias bombs cannot exhaust memory.</summary>
    public const int MaxNodes = 2_000_000;

    /// <summary>Reads the single document; null for an empty stream. Throws <see cref="YamlException"/> or <see cref="YamlLimitException"/>.</summary>
    public static YNode? Read(string text)
    {
        var state = new State();
        try
        {
            return ReadDocument(new Parser(new StringReader(text)), state);
        }
        catch (InvalidOperationException ex)
        {
            // YamlDotNet's scanner throws this (instead of a YamlException) on some malformed flow collections.
            var at = state.OpenFlow.Count > 0 ? state.OpenFlow.Peek() : state.Last;
            throw new YamlException(at, at, "this flow collection ('{...}' or '[...]') is not closed properly: a closing bracket or brace is missing", ex);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException or IndexOutOfRangeException)
        {
            // YamlDotNet lets these escape for some malformed input (a verbatim tag `!<...>` that is not a URI, an
            // out-of-range %YAML version); they are syntax errors in the user's file, not faults of ours.
            var at = state.Last;
            throw new YamlException(at, at, $"malformed YAML after this point ({CleanArgumentMessage(ex)}); a tag (`!name` or `!<...>`) or a %-directive is the usual cause", ex);
        }
    }

    private static string CleanArgumentMessage(Exception ex) =>
        ex is ArgumentException { ParamName: { } name } arg ? arg.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : ex.Message;

    private static YNode? ReadDocument(Parser parser, State state)
    {
        parser.Consume<StreamStart>();
        if (parser.Accept<StreamEnd>(out _))
        {
            return null;
        }

        parser.Consume<DocumentStart>();
        var root = ReadNode(parser, state, 0);
        parser.Consume<DocumentEnd>();
        if (parser.Accept<DocumentStart>(out var second))
        {
            throw new YamlLimitException("the file holds more than one YAML document; a pipeline file holds exactly one", second.Start);
        }

        return root;
    }

    private sealed class State
    {
        public Dictionary<string, YNode> Anchors { get; } = new(StringComparer.Ordinal);

        public long Nodes { get; set; }

        /// <summary>End of the last node read: where to point when the parser fails without a position.</summary>
        public Mark Last { get; set; } = Mark.Empty;

        /// <summary>Starts of the flow collections being read, innermost on top.</summary>
        public Stack<Mark> OpenFlow { get; } = new();
    }

    private static YNode ReadNode(IParser parser, State state, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new YamlLimitException($"nesting is deeper than {MaxDepth} levels", parser.Current!.Start);
        }

        if (++state.Nodes > MaxNodes)
        {
            throw new YamlLimitException($"the file holds more than {MaxNodes} YAML nodes", parser.Current!.Start);
        }

        if (parser.TryConsume<AnchorAlias>(out var alias))
        {
            if (!state.Anchors.TryGetValue(alias.Value.Value, out var target))
            {
                throw new YamlLimitException($"alias '*{alias.Value.Value}' names no anchor defined before it", alias.Start);
            }

            state.Nodes += target.Size;
            if (state.Nodes > MaxNodes)
            {
                throw new YamlLimitException($"aliases expand to more than {MaxNodes} YAML nodes", alias.Start);
            }

            return target;
        }

        if (parser.TryConsume<Scalar>(out var scalar))
        {
            var node = new YScalar
            {
                Value = scalar.Value,
                Style = scalar.Style,
                Tag = scalar.Tag.IsEmpty || scalar.Tag.Value == "!" ? null : scalar.Tag.Value,
                Start = scalar.Start,
                End = scalar.End,
            };
            state.Last = scalar.End;
            Remember(state, scalar.Anchor, node);
            return node;
        }

        if (parser.TryConsume<SequenceStart>(out var seqStart))
        {
            var seq = new YSeq { Start = seqStart.Start };
            bool flow = seqStart.Style == SequenceStyle.Flow;
            if (flow)
            {
                state.OpenFlow.Push(seqStart.Start);
            }

            while (!parser.TryConsume<SequenceEnd>(out _))
            {
                var item = ReadNode(parser, state, depth + 1);
                seq.Items.Add(item);
                seq.Size += item.Size;
                seq.End = item.End;
            }

            if (flow)
            {
                state.OpenFlow.Pop();
            }

            Remember(state, seqStart.Anchor, seq);
            return seq;
        }

        if (parser.TryConsume<MappingStart>(out var mapStart))
        {
            var map = new YMap { Start = mapStart.Start };
            bool flow = mapStart.Style == MappingStyle.Flow;
            if (flow)
            {
                state.OpenFlow.Push(mapStart.Start);
            }

            while (!parser.TryConsume<MappingEnd>(out _))
            {
                var key = ReadNode(parser, state, depth + 1);
                var value = ReadNode(parser, state, depth + 1);
                map.Entries.Add(new(key, value));
                map.Size += key.Size + value.Size;
                map.End = value.End;
            }

            if (flow)
            {
                state.OpenFlow.Pop();
            }

            Remember(state, mapStart.Anchor, map);
            return map;
        }

        var current = parser.Current;
        throw new YamlException(current?.Start ?? Mark.Empty, current?.End ?? Mark.Empty, $"unexpected YAML event {current?.GetType().Name}");
    }

    private static void Remember(State state, YamlDotNet.Core.AnchorName anchor, YNode node)
    {
        if (!anchor.IsEmpty)
        {
            state.Anchors[anchor.Value] = node;
        }
    }
}
