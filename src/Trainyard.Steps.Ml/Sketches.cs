namespace Trainyard.Steps.Ml;

/// <summary>
/// Bounded-memory duplicate-row estimate. Each row is hashed (64-bit FNV-1a over its text); hashes are counted
/// exactly while at most <see cref="Capacity"/> distinct hashes are held. Past that, the sketch keeps only rows
/// whose hash has its top k bits zero (k grows by one each time it fills, halving the sample: adaptive
/// "distinct sampling"). Since every copy of a row has the same hash, a row is either sampled with all its
/// copies or not at all, so duplicates/rows over the sample estimates the whole file's duplicate fraction.
/// Exact (up to 64-bit hash collisions) while k = 0.
/// </summary>
internal sealed class DuplicateSketch(int capacity = 1 << 20)
{
    private readonly Dictionary<ulong, int> _counts = [];
    private readonly List<long> _exampleLines = [];
    private int _level;
    private long _sampledRows;

    public int Capacity => capacity;

    public bool Exact => _level == 0;

    public int Level => _level;

    public IReadOnlyList<long> ExampleLines => _exampleLines;

    public void Add(string record, long line)
    {
        var h = Hash(record);
        if (!Sampled(h))
        {
            return;
        }

        _sampledRows++;
        ref var count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_counts, h, out var existed);
        count++;
        if (existed && _exampleLines.Count < 5)
        {
            _exampleLines.Add(line);
        }

        while (_counts.Count > capacity)
        {
            _level++;
            foreach (var key in _counts.Keys.Where(k => !Sampled(k)).ToList())
            {
                _sampledRows -= _counts[key];
                _counts.Remove(key);
            }
        }
    }

    /// <summary>Estimated number of duplicate rows (rows beyond the first copy) scaled to the whole file.</summary>
    public double DuplicateFraction => _sampledRows == 0 ? 0 : (double)(_sampledRows - _counts.Count) / _sampledRows;

    private bool Sampled(ulong h) => _level == 0 || h >> (64 - _level) == 0;

    internal static ulong Hash(string s)
    {
        var h = 14695981039346656037UL;
        foreach (var c in s)
        {
            h = (h ^ c) * 1099511628211UL;
        }

        // Final avalanche (splitmix64) so the top bits used for sampling are well mixed.
        h ^= h >> 30;
        h *= 0xbf58476d1ce4e5b9UL;
        h ^= h >> 27;
        h *= 0x94d049bb133111ebUL;
        return h ^ (h >> 31);
    }
}

/// <summary>
/// A uniform reservoir sample (Vitter's algorithm R, seeded) of a numeric column with the line of each value.
/// Quantiles computed from it are exact while the column has at most <see cref="Capacity"/> values, and otherwise
/// estimates from a uniform sample of that size (standard error of a quantile ~ sqrt(p(1-p)/n)).
/// </summary>
internal sealed class Reservoir(int capacity, int seed = 42)
{
    private readonly List<(double Value, long Line)> _items = [];
    private readonly Random _random = new(seed);

    public int Capacity => capacity;

    public long Seen { get; private set; }

    public bool Exact => Seen <= capacity;

    public IReadOnlyList<(double Value, long Line)> Items => _items;

    public void Add(double value, long line)
    {
        Seen++;
        if (_items.Count < capacity)
        {
            _items.Add((value, line));
            return;
        }

        var j = _random.NextInt64(Seen);
        if (j < capacity)
        {
            _items[(int)j] = (value, line);
        }
    }

    public double[] SortedValues()
    {
        var values = _items.Select(i => i.Value).ToArray();
        Array.Sort(values);
        return values;
    }

    /// <summary>Quantile by linear interpolation between order statistics (Hyndman-Fan type 7, as numpy and R default).</summary>
    public static double Quantile(double[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var h = (sorted.Length - 1) * p;
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + ((h - lo) * (sorted[hi] - sorted[lo]));
    }
}
