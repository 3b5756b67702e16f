using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Trainyard.Service;

/// <summary>
/// Run ids (= Durable instance ids). Triggered runs get deterministic ids from the trigger identity, so a trigger
/// delivered twice (or concurrently) starts one run. Generated ids are lower-case letters, digits and '-', at most
/// 64 characters (valid as Batch job ids and blob path segments).
/// </summary>
public static class RunIds
{
    /// <summary>Longest run id accepted from a caller (Durable instance ids allow 100 characters).</summary>
    public const int MaxLength = 100;

    /// <summary>Id for <paramref name="pipeline"/> started by trigger kind <paramref name="kind"/> with the given identity parts.</summary>
    public static string For(string pipeline, string kind, params string[] identity)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(kind);
        var text = string.Join('\n', new[] { pipeline, kind }.Concat(identity));
        return $"{Prefix(pipeline)}-{kind}-{Hash(text)[..20]}";
    }

    /// <summary>The id of the retry of <paramref name="runId"/>: one retry per failed run, however often it is asked for.</summary>
    public static string RetryOf(string pipeline, string runId) => For(pipeline, "retry", runId);

    /// <summary>A fresh id for a manual run: pipeline, UTC time and random suffix.</summary>
    public static string NewManual(string pipeline, DateTimeOffset now) =>
        string.Create(CultureInfo.InvariantCulture, $"{Prefix(pipeline)}-{now.UtcDateTime:yyyyMMdd-HHmmss}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}");

    /// <summary>A short stable hash of some text (keys for blob paths and the like).</summary>
    public static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..32];

    /// <summary>Null when <paramref name="runId"/> is a valid caller-chosen id, else what is wrong with it.</summary>
    public static string? Problem(string runId)
    {
        if (runId.Length is 0 or > MaxLength)
        {
            return $"run id must be 1-{MaxLength} characters (got {runId.Length})";
        }

        if (runId[0] == '.' || !runId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            return $"run id '{runId}' may hold only letters, digits, '-', '_' and '.', not starting with '.'";
        }

        return null;
    }

    private static string Prefix(string pipeline)
    {
        var sb = new StringBuilder(pipeline.Length);
        foreach (var c in pipeline.ToLowerInvariant())
        {
            sb.Append(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') ? c : '-');
        }

        var name = sb.ToString().Trim('-') is { Length: > 0 } t ? t : "run";
        return name.Length > 36 ? name[..36].TrimEnd('-') : name;
    }
}
