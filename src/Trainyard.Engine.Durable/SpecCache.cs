using System.Collections.Concurrent;
using Trainyard.Core.Spec;

namespace Trainyard.Engine.Durable;

/// <summary>
/// Parsed pipeline versions by content hash: every replay of a run parses the same text, so keep the result (a spec is
/// immutable and a pure function of its text). Bounded; cleared when full.
/// </summary>
internal static class SpecCache
{
    private const int MaxEntries = 64;
    private static readonly ConcurrentDictionary<string, LoadResult> Loaded = new(StringComparer.Ordinal);

    public static LoadResult Load(string text, string pipelineName, string expectedHash)
    {
        var hash = PipelineLoader.Hash(text);
        if (Loaded.TryGetValue(hash, out var cached))
        {
            return cached;
        }

        var result = PipelineLoader.Load(text, $"{pipelineName}@{(expectedHash.Length > 12 ? expectedHash[..12] : expectedHash)}");
        if (Loaded.Count >= MaxEntries)
        {
            Loaded.Clear();
        }

        Loaded[hash] = result;
        return result;
    }
}
