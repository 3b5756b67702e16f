using System.Globalization;
using System.Text;

namespace Trainyard.Core.Spec;

/// <summary>
/// Durations as written in pipeline files: unit sequences ("500ms", "30s", "5m", "1h30m", "2d", "1.5h") or
/// ISO-8601 ("PT5M", "P1DT2H"). Negative durations are not accepted.
/// </summary>
public static class Duration
{
    /// <summary>Parses a duration; false (and zero) when the text is not one.</summary>
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var s = text.Trim();
        return s[0] is 'P' or 'p' ? TryParseIso(s, out value) : TryParseUnits(s, out value);
    }

    /// <summary>Parses a duration or throws <see cref="FormatException"/> saying which forms are accepted.</summary>
    public static TimeSpan Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var v)
            ? v
            : throw new FormatException($"'{text}' is not a duration: write e.g. 500ms, 30s, 5m, 1h30m, 2d or ISO-8601 PT5M");
    }

    /// <summary>Formats as the shortest unit sequence, e.g. "1h30m", "500ms", "0s"; <see cref="TryParse"/> reads it back exactly.</summary>
    public static string Format(TimeSpan value)
    {
        if (value < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "durations are never negative");
        }

        if (value == TimeSpan.Zero)
        {
            return "0s";
        }

        var sb = new StringBuilder();
        long ticks = value.Ticks;
        Append(sb, ref ticks, TimeSpan.TicksPerDay, "d");
        Append(sb, ref ticks, TimeSpan.TicksPerHour, "h");
        Append(sb, ref ticks, TimeSpan.TicksPerMinute, "m");
        Append(sb, ref ticks, TimeSpan.TicksPerSecond, "s");
        if (ticks > 0)
        {
            // Sub-millisecond rests are written as fractional milliseconds so nothing is lost.
            sb.Append((ticks / (decimal)TimeSpan.TicksPerMillisecond).ToString(CultureInfo.InvariantCulture)).Append("ms");
        }

        return sb.ToString();
    }

    private static void Append(StringBuilder sb, ref long ticks, long unit, string suffix)
    {
        if (ticks >= unit)
        {
            sb.Append((ticks / unit).ToString(CultureInfo.InvariantCulture)).Append(suffix);
            ticks %= unit;
        }
    }

    private static bool TryParseUnits(string s, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        decimal totalTicks = 0;
        int i = 0;
        while (i < s.Length)
        {
            int start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }

            if (i == start || !decimal.TryParse(s.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
            {
                return false;
            }

            int unitStart = i;
            while (i < s.Length && char.IsAsciiLetterLower(s[i]))
            {
                i++;
            }

            long unit = s.AsSpan(unitStart, i - unitStart) switch
            {
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                "d" => TimeSpan.TicksPerDay,
                _ => 0,
            };
            if (unit == 0)
            {
                return false;
            }

            totalTicks += amount * unit;
            if (totalTicks > TimeSpan.MaxValue.Ticks)
            {
                return false;
            }
        }

        value = TimeSpan.FromTicks((long)decimal.Round(totalTicks));
        return true;
    }

    private static bool TryParseIso(string s, out TimeSpan value)
    {
        // Only D, H, M (minutes) and S: years and months have no fixed length.
        value = TimeSpan.Zero;
        int i = 1;
        decimal ticks = 0;
        bool inTime = false;
        bool any = false;
        while (i < s.Length)
        {
            if (s[i] is 'T' or 't')
            {
                if (inTime)
                {
                    return false;
                }

                inTime = true;
                i++;
                continue;
            }

            int start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }

            if (i == start || i >= s.Length || !decimal.TryParse(s.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
            {
                return false;
            }

            long unit = (char.ToUpperInvariant(s[i]), inTime) switch
            {
                ('D', false) => TimeSpan.TicksPerDay,
                ('H', true) => TimeSpan.TicksPerHour,
                ('M', true) => TimeSpan.TicksPerMinute,
                ('S', true) => TimeSpan.TicksPerSecond,
                _ => 0,
            };
            if (unit == 0)
            {
                return false;
            }

            i++;
            any = true;
            ticks += amount * unit;
            if (ticks > TimeSpan.MaxValue.Ticks)
            {
                return false;
            }
        }

        if (!any)
        {
            return false;
        }

        value = TimeSpan.FromTicks((long)decimal.Round(ticks));
        return true;
    }
}
