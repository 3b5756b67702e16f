using System.Globalization;
using System.Text;

namespace Trainyard.Core.Text;

/// <summary>
/// Makes text that came from outside (step output, params, file names, error messages quoting them) safe to print:
/// control characters (ESC sequences that recolour or retitle a terminal, carriage returns that overwrite a line,
/// bells, bidi overrides) are shown escaped instead of acting on the terminal.
/// </summary>
public static class Printable
{
    /// <summary>
    /// <paramref name="text"/> with every control or bidi-formatting character written as an escape (`\e`, `\r`,
    /// `\u202e`, …); tabs are kept and, when <paramref name="keepNewlines"/>, newlines too.
    /// </summary>
    public static string Escape(string? text, bool keepNewlines = false)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? "";
        }

        var i = 0;
        while (i < text.Length && !NeedsEscape(text[i], keepNewlines))
        {
            i++;
        }

        if (i == text.Length)
        {
            return text;
        }

        var sb = new StringBuilder(text.Length + 16).Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (!NeedsEscape(c, keepNewlines))
            {
                sb.Append(c);
                continue;
            }

            sb.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\u001b' => "\\e",
                '\0' => "\\0",
                _ => "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture),
            });
        }

        return sb.ToString();
    }

    /// <summary><paramref name="value"/> in single quotes, escaped, cut to <paramref name="max"/> characters.</summary>
    public static string Quote(string? value, int max = 80)
    {
        if (value is null)
        {
            return "null";
        }

        return "'" + Escape(value.Length > max ? value[..max] + "..." : value) + "'";
    }

    private static bool NeedsEscape(char c, bool keepNewlines)
        => c switch
        {
            '\t' => false,
            '\n' => !keepNewlines,
            // Bidi overrides, isolates and marks reorder what follows (a file name can pretend to end in .csv);
            // line and paragraph separators break lines on some terminals.
            >= '\u202a' and <= '\u202e' or >= '\u2066' and <= '\u2069' or '\u200e' or '\u200f' or '\u061c' or '\u2028' or '\u2029' => true,
            _ => char.IsControl(c),
        };
}
