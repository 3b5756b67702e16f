namespace Trainyard.Steps.Ml;

/// <summary>Drift statistics between a reference and a current sample of one numeric feature.</summary>
public static class DriftMath
{
    /// <summary>Proportion used in place of an empty bin so PSI stays finite (ln(0) is undefined).</summary>
    public const double Epsilon = 1e-4;

    /// <summary>
    /// Bin edges from reference quantiles: the interior cut points at i/bins (type-7 quantiles of the sorted
    /// reference), duplicates removed (heavily tied data gives fewer, wider bins). Bin j holds values in
    /// (edge[j-1], edge[j]]; the first bin is open below and the last open above, so every value has a bin.
    /// </summary>
    public static double[] QuantileEdges(double[] sortedReference, int bins)
    {
        ArgumentNullException.ThrowIfNull(sortedReference);
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 2);
        return [.. Enumerable.Range(1, bins - 1).Select(i => Reservoir.Quantile(sortedReference, (double)i / bins)).Distinct()];
    }

    /// <summary>Share of values per bin (length edges + 1), each floored at <see cref="Epsilon"/>.</summary>
    public static double[] Proportions(IReadOnlyList<double> values, double[] edges)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(edges);
        var counts = new long[edges.Length + 1];
        foreach (var v in values)
        {
            var i = Array.BinarySearch(edges, v);
            // BinarySearch gives the edge index on an exact hit (value belongs to that bin: bins are closed above),
            // else the complement of the first larger edge, which is the bin index.
            counts[i >= 0 ? i : ~i]++;
        }

        return [.. counts.Select(c => Math.Max(values.Count == 0 ? 0 : (double)c / values.Count, Epsilon))];
    }

    /// <summary>Population stability index: sum over bins of (cur - ref) * ln(cur / ref).</summary>
    public static double Psi(double[] reference, double[] current)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(current);
        if (reference.Length != current.Length)
        {
            throw new ArgumentException("PSI needs the same bins on both sides.", nameof(current));
        }

        return reference.Zip(current).Sum(p => (p.Second - p.First) * Math.Log(p.Second / p.First));
    }

    /// <summary>PSI of two samples with <paramref name="bins"/> reference-quantile bins.</summary>
    public static double Psi(double[] sortedReference, IReadOnlyList<double> current, int bins)
    {
        var edges = QuantileEdges(sortedReference, bins);
        return Psi(Proportions(sortedReference, edges), Proportions(current, edges));
    }

    /// <summary>Two-sample Kolmogorov-Smirnov statistic D = sup |F_ref(x) - F_cur(x)| over both sorted samples.</summary>
    public static double KsStatistic(double[] sortedA, double[] sortedB)
    {
        ArgumentNullException.ThrowIfNull(sortedA);
        ArgumentNullException.ThrowIfNull(sortedB);
        if (sortedA.Length == 0 || sortedB.Length == 0)
        {
            return 0;
        }

        int i = 0, j = 0;
        double d = 0;
        while (i < sortedA.Length && j < sortedB.Length)
        {
            var x = Math.Min(sortedA[i], sortedB[j]);
            // Step past every copy of x on both sides before comparing, so ties do not inflate D.
            while (i < sortedA.Length && sortedA[i] <= x)
            {
                i++;
            }

            while (j < sortedB.Length && sortedB[j] <= x)
            {
                j++;
            }

            d = Math.Max(d, Math.Abs(((double)i / sortedA.Length) - ((double)j / sortedB.Length)));
        }

        return d;
    }

    /// <summary>
    /// Asymptotic p-value of the two-sample KS statistic (Numerical Recipes `kstwo`): with
    /// ne = n*m/(n+m), lambda = (sqrt(ne) + 0.12 + 0.11/sqrt(ne)) * D, p = Q_KS(lambda) =
    /// 2 * sum_{k>=1} (-1)^(k-1) exp(-2 k^2 lambda^2), clamped to [0, 1].
    /// </summary>
    public static double KsPValue(double d, long n, long m)
    {
        if (n == 0 || m == 0)
        {
            return 1;
        }

        var en = Math.Sqrt((double)n * m / (n + m));
        var lambda = (en + 0.12 + (0.11 / en)) * d;
        return QKs(lambda);
    }

    /// <summary>The Kolmogorov distribution's survival function Q_KS(lambda).</summary>
    public static double QKs(double lambda)
    {
        if (lambda < 1e-3)
        {
            return 1;
        }

        double sum = 0, sign = 1;
        for (var k = 1; k <= 100; k++)
        {
            var term = sign * Math.Exp(-2 * k * k * lambda * lambda);
            sum += term;
            if (Math.Abs(term) < 1e-12 * Math.Abs(sum))
            {
                break;
            }

            sign = -sign;
        }

        return Math.Clamp(2 * sum, 0, 1);
    }
}
