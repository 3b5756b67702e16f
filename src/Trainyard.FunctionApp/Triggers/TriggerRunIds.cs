using System.Security.Cryptography;
using System.Text;

namespace Trainyard.FunctionApp.Triggers;

/// <summary>
/// Deterministic run ids for triggered runs: the same trigger identity always gives the same id, so a trigger
/// delivered twice (or concurrently) starts one run. Ids are lower-case letters, digits and '-', at most 64 chars
/// (valid as Batch job ids and blob path segments).
/// </summary>
internal static class TriggerRunIds
{
    /// <summary>Id for <paramref name="pipeline"/> started by trigger kind <paramref name="kind"/> with the given identity parts.</summary>
    public static string For(string pipeline, string kind, params string[] identity)
    {
        var text = string.Join('\n', new[] { pipeline, kind }.Concat(identity));
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..20];
        var name = Sanitize(pipeline);
        if (name.Length > 36)
        {
            name = name[..36].TrimEnd('-');
        }

        return $"{name}-{kind}-{hash}";
    }

    /// <summary>A short stable hash of some text (KV keys for blob paths and the like).</summary>
    public static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..32];

    private static string Sanitize(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (var c in s.ToLowerInvariant())
        {
            sb.Append(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') ? c : '-');
        }

        return sb.ToString().Trim('-') is { Length: > 0 } t ? t : "run";
    }
}
