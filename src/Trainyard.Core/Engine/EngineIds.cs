using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Trainyard.Core.Engine;

/// <summary>Deterministic ids the decider gives to attempts, commands, timers and recorded events.</summary>
/// <remarks>
/// Every id is a pure function of the run id and what it names, so a replayed or re-delivered decision produces
/// the same ids and receivers can de-duplicate on them.
/// </remarks>
public static class EngineIds
{
    /// <summary>Timer id of the run-level timeout.</summary>
    public const string RunTimeoutTimer = "run-timeout";

    private const string RetryPrefix = "retry/";
    private const string TimeoutPrefix = "timeout/";

    /// <summary>
    /// Dispatch id of one task attempt: "d" + the first 31 hex characters of SHA-256("{runId}/{taskKey}/{attempt}").
    /// 32 characters of [0-9a-f] after the "d", safe as an Azure Batch job/task id and as a file or blob name.
    /// </summary>
    public static string DispatchId(string runId, string taskKey, int attempt)
        => "d" + HashHex($"{runId}/{taskKey}/{attempt.ToString(CultureInfo.InvariantCulture)}", 31);

    /// <summary>Id of a command: "c" + 31 hex characters of SHA-256("{runId}/{kind}/{detail}").</summary>
    public static string CommandId(string runId, string kind, string detail)
        => "c" + HashHex($"{runId}/{kind}/{detail}", 31);

    /// <summary>Id of an event the decider records: "e" + 31 hex characters of SHA-256("{runId}/{kind}/{detail}").</summary>
    public static string RecordedEventId(string runId, string kind, string detail)
        => "e" + HashHex($"{runId}/{kind}/{detail}", 31);

    /// <summary>Timer that makes attempt <paramref name="nextAttempt"/> of a task ready after a backoff: "retry/{taskKey}/{nextAttempt}".</summary>
    public static string RetryTimer(string taskKey, int nextAttempt)
        => RetryPrefix + taskKey + "/" + nextAttempt.ToString(CultureInfo.InvariantCulture);

    /// <summary>Timer that times out attempt <paramref name="attempt"/> of a task: "timeout/{taskKey}/{attempt}".</summary>
    public static string TimeoutTimer(string taskKey, int attempt)
        => TimeoutPrefix + taskKey + "/" + attempt.ToString(CultureInfo.InvariantCulture);

    /// <summary>Task key of item <paramref name="index"/> of a foreach step: "step[index]".</summary>
    public static string ItemKey(string stepId, int index)
        => stepId + "[" + index.ToString(CultureInfo.InvariantCulture) + "]";

    /// <summary>Splits a task key into its step id and foreach item index (null for a plain step).</summary>
    public static (string StepId, int? ItemIndex) ParseTaskKey(string taskKey)
    {
        ArgumentNullException.ThrowIfNull(taskKey);
        int open = taskKey.LastIndexOf('[');
        if (open > 0 && taskKey.EndsWith(']')
            && int.TryParse(taskKey.AsSpan(open + 1, taskKey.Length - open - 2), NumberStyles.None, CultureInfo.InvariantCulture, out int index))
        {
            return (taskKey[..open], index);
        }

        return (taskKey, null);
    }

    /// <summary>Parses a retry or timeout timer id; false for anything else (including the run timeout).</summary>
    public static bool TryParseTaskTimer(string timerId, out TimerKind kind, out string taskKey, out int attempt)
    {
        ArgumentNullException.ThrowIfNull(timerId);
        kind = default;
        taskKey = "";
        attempt = 0;
        string rest;
        if (timerId.StartsWith(RetryPrefix, StringComparison.Ordinal))
        {
            kind = TimerKind.Retry;
            rest = timerId[RetryPrefix.Length..];
        }
        else if (timerId.StartsWith(TimeoutPrefix, StringComparison.Ordinal))
        {
            kind = TimerKind.Timeout;
            rest = timerId[TimeoutPrefix.Length..];
        }
        else
        {
            return false;
        }

        int slash = rest.LastIndexOf('/');
        if (slash <= 0 || !int.TryParse(rest.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out attempt))
        {
            return false;
        }

        taskKey = rest[..slash];
        return true;
    }

    /// <summary>Lower-case hex of SHA-256 of the UTF-8 text, cut to <paramref name="length"/> characters.</summary>
    internal static string HashHex(string text, int length)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), hash);
        return Convert.ToHexStringLower(hash)[..length];
    }

    /// <summary>First 8 bytes of SHA-256 of the UTF-8 text as an unsigned number.</summary>
    internal static ulong Hash64(string text)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), hash);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(hash);
    }
}

/// <summary>What a task timer does when it fires.</summary>
public enum TimerKind
{
    /// <summary>Make the next attempt ready after a backoff.</summary>
    Retry,
    /// <summary>Time out an attempt still in flight.</summary>
    Timeout,
}
