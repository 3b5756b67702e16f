using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Trainyard.Compute.Local;

/// <summary>
/// Reads text lines in fixed-size chunks, keeping at most a given number of characters of each: one endless line
/// (a binary blob, a progress bar without newlines) costs bounded memory and comes out cut, with a marker saying how
/// much was dropped. Lines end at '\n' (a trailing '\r' is dropped); a lone '\r' stays inside the line.
/// </summary>
internal static class BoundedLines
{
    private const int ChunkChars = 8 * 1024;

    /// <summary>The lines of <paramref name="reader"/>, each cut to <paramref name="maxChars"/> characters plus a marker.</summary>
    public static async IAsyncEnumerable<string> ReadAsync(TextReader reader, int maxChars, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxChars);
        var buffer = new char[ChunkChars];
        var line = new StringBuilder();
        long dropped = 0;
        int read;
        while ((read = await reader.ReadAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false)) > 0)
        {
            var start = 0;
            for (var i = 0; i < read; i++)
            {
                if (buffer[i] != '\n')
                {
                    continue;
                }

                Append(line, buffer.AsSpan(start, i - start), maxChars, ref dropped);
                yield return Finish(line, ref dropped);
                start = i + 1;
            }

            Append(line, buffer.AsSpan(start, read - start), maxChars, ref dropped);
        }

        if (line.Length > 0 || dropped > 0)
        {
            yield return Finish(line, ref dropped);
        }
    }

    private static void Append(StringBuilder line, ReadOnlySpan<char> chunk, int maxChars, ref long dropped)
    {
        var room = Math.Max(0, maxChars - line.Length);
        var keep = Math.Min(room, chunk.Length);
        line.Append(chunk[..keep]);
        dropped += chunk.Length - keep;
    }

    private static string Finish(StringBuilder line, ref long dropped)
    {
        if (dropped == 0 && line.Length > 0 && line[^1] == '\r')
        {
            line.Length--;
        }

        var text = dropped == 0 ? line.ToString() : line + $" [line cut: {dropped.ToString(CultureInfo.InvariantCulture)} more characters]";
        line.Clear();
        dropped = 0;
        return text;
    }
}
