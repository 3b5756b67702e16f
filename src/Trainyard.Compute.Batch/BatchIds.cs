using System.Security.Cryptography;
using System.Text;

namespace Trainyard.Compute.Batch;

/// <summary>
/// Batch ids for Trainyard's runs and attempts. Batch ids are at most 64 characters of letters, digits, '-' and '_',
/// compared case-insensitively; run and dispatch ids are free text, so the id keeps a readable, sanitised part and
/// ends with a hash of the exact original: ids that differ only in case or in characters Batch forbids stay distinct.
/// </summary>
public static class BatchIds
{
    /// <summary>Longest id Batch accepts.</summary>
    public const int MaxLength = 64;

    private const int HashChars = 16;

    /// <summary>
    /// The job id for a run's tasks on one pool: a Batch job runs all its tasks on the pool it was created with, so a
    /// run with steps on the gpu and the cpu pool has one job per pool.
    /// </summary>
    public static string ForRun(string prefix, string runId, string poolId)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        ArgumentException.ThrowIfNullOrEmpty(poolId);
        return Make(prefix, poolId + "-" + runId);
    }

    /// <summary>The task id for an attempt (one task per dispatch id).</summary>
    public static string ForDispatch(string dispatchId) => Make("t", dispatchId);

    /// <summary>True when <paramref name="id"/> satisfies Batch's id rules.</summary>
    public static bool IsValid(string id) =>
        id.Length is > 0 and <= MaxLength && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    private static string Make(string prefix, string source)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        if (!IsValid(prefix) || prefix.Length > 16)
        {
            throw new ArgumentException($"Batch id prefix '{prefix}' must be 1-16 letters, digits, '-' or '_'.", nameof(prefix));
        }

        // Lower-case hex: the hash carries the case-sensitive identity, the id itself is compared case-insensitively.
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(source)))[..HashChars];
        var readable = new StringBuilder(source.Length);
        foreach (var c in source)
        {
            readable.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '-');
        }

        var room = MaxLength - prefix.Length - HashChars - 2;
        var middle = readable.ToString().Trim('-');
        if (middle.Length > room)
        {
            middle = middle[..room].TrimEnd('-');
        }

        return middle.Length == 0 ? $"{prefix}-{hash}" : $"{prefix}-{middle}-{hash}";
    }
}
