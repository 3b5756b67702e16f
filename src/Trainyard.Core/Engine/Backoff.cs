using System.Globalization;
using Trainyard.Core.Spec;

namespace Trainyard.Core.Engine;

/// <summary>Retry backoff: exponential, capped, with deterministic jitter (a hash, never a random number).</summary>
public static class Backoff
{
    /// <summary>
    /// Delay before the attempt after <paramref name="failedAttempt"/>:
    /// min(MaxInterval, InitialInterval * coefficient^(failedAttempt - 1)) scaled by a factor in [1 - jitter, 1 + jitter]
    /// taken from SHA-256("{runId}/{taskKey}/{failedAttempt}"). Whole milliseconds, never negative.
    /// </summary>
    public static TimeSpan Delay(RetryPolicy policy, string runId, string taskKey, int failedAttempt)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(runId);
        ArgumentNullException.ThrowIfNull(taskKey);
        ArgumentOutOfRangeException.ThrowIfLessThan(failedAttempt, 1);
        double baseMs = Math.Min(
            policy.MaxInterval.TotalMilliseconds,
            policy.InitialInterval.TotalMilliseconds * Math.Pow(Math.Max(1.0, policy.BackoffCoefficient), failedAttempt - 1));
        double factor = 1.0 + (Math.Clamp(policy.Jitter, 0.0, 1.0) * ((2.0 * JitterUnit(runId, taskKey, failedAttempt)) - 1.0));
        double ms = Math.Max(0.0, Math.Round(baseMs * factor, MidpointRounding.AwayFromZero));
        return TimeSpan.FromMilliseconds(ms);
    }

    /// <summary>The hash-derived number in [0, 1] behind the jitter of one attempt.</summary>
    public static double JitterUnit(string runId, string taskKey, int failedAttempt)
    {
        ulong h = EngineIds.Hash64($"{runId}/{taskKey}/{failedAttempt.ToString(CultureInfo.InvariantCulture)}");
        return (h >> 11) * (1.0 / ((1UL << 53) - 1));
    }
}
