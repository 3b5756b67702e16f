namespace Trainyard.Core.Validation;

/// <summary>"Did you mean" suggestions by edit distance.</summary>
public static class Suggest
{
    /// <summary>The candidate closest to <paramref name="input"/> when it is close enough to be a likely typo; else null.</summary>
    public static string? Closest(string input, IEnumerable<string> candidates)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(candidates);
        string? best = null;
        int bestDistance = int.MaxValue;
        int limit = Math.Max(1, Math.Min(3, input.Length / 3 + 1));
        foreach (var c in candidates)
        {
            if (c == input)
            {
                continue;
            }

            int d = string.Equals(c, input, StringComparison.OrdinalIgnoreCase) ? 0 : Distance(input, c, limit);
            if (d <= limit && d < bestDistance)
            {
                best = c;
                bestDistance = d;
            }
        }

        return best;
    }

    /// <summary>" — did you mean 'x'?" or "" (for appending to messages).</summary>
    public static string DidYouMean(string input, IEnumerable<string> candidates)
        => Closest(input, candidates) is { } s ? $" — did you mean '{s}'?" : "";

    /// <summary>Optimal string alignment distance (Levenshtein plus adjacent transpositions), stopping early past <paramref name="limit"/>.</summary>
    public static int Distance(string a, string b, int limit = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (Math.Abs(a.Length - b.Length) > limit)
        {
            return limit + 1;
        }

        var prev2 = new int[b.Length + 1];
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            prev[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            int rowMin = cur[0];
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                int v = Math.Min(Math.Min(prev[j] + 1, cur[j - 1] + 1), prev[j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    v = Math.Min(v, prev2[j - 2] + 1);
                }

                cur[j] = v;
                rowMin = Math.Min(rowMin, v);
            }

            if (rowMin > limit)
            {
                return limit + 1;
            }

            (prev2, prev, cur) = (prev, cur, prev2);
        }

        return prev[b.Length];
    }
}
