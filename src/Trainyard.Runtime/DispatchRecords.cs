using System.Globalization;
using Trainyard.Runtime.Contracts;

namespace Trainyard.Runtime;

/// <summary>
/// The `dispatch/{dispatchId}` key-value record: who runs an attempt until when, whether it is done, and whether it
/// was cancelled. One record serves as claim, cancel flag and "already executed" mark, so a task costs two writes.
/// Value format: `state|owner|expiresUnixMs` with state running, done or cancelled.
/// </summary>
internal sealed class DispatchRecords(IRunStore store, TimeProvider time, TimeSpan claimDuration)
{
    public const string Scope = "dispatch";

    public enum ClaimOutcome
    {
        Claimed,
        Done,
        Cancelled,
        Busy,
    }

    public sealed record Claim(ClaimOutcome Outcome, string? ETag, string Owner, TimeSpan RetryAfter = default)
    {
        /// <summary>The claim replaced an expired or released record (its holder died, stalled, or finished without marking done).</summary>
        public bool TookOver { get; init; }
    }

    /// <summary>Claims an attempt for <paramref name="owner"/>, taking over an expired claim.</summary>
    public async Task<Claim> TryClaimAsync(string dispatchId, string owner, CancellationToken ct)
    {
        string? expected = null;
        for (var i = 0; i < 5; i++)
        {
            var etag = await store.TryPutValueAsync(Scope, dispatchId, Running(owner), expected, ct).ConfigureAwait(false);
            if (etag is not null)
            {
                return new Claim(ClaimOutcome.Claimed, etag, owner) { TookOver = expected is not null };
            }

            var current = await store.GetValueAsync(Scope, dispatchId, ct).ConfigureAwait(false);
            if (current is null)
            {
                expected = null;
                continue;
            }

            var (state, _, expires) = Parse(current.Value);
            switch (state)
            {
                case "done":
                    return new Claim(ClaimOutcome.Done, current.ETag, owner);
                case "cancelled":
                    return new Claim(ClaimOutcome.Cancelled, current.ETag, owner);
            }

            var left = expires - time.GetUtcNow();
            if (left > TimeSpan.Zero)
            {
                return new Claim(ClaimOutcome.Busy, current.ETag, owner, left + TimeSpan.FromMilliseconds(50));
            }

            expected = current.ETag;
        }

        return new Claim(ClaimOutcome.Busy, null, owner, TimeSpan.FromSeconds(1));
    }

    /// <summary>Extends a claim; returns the new ETag, or null when the record changed (cancelled, taken over).</summary>
    public Task<string?> RenewAsync(string dispatchId, Claim claim, CancellationToken ct)
        => store.TryPutValueAsync(Scope, dispatchId, Running(claim.Owner), claim.ETag, ct);

    /// <summary>Marks an attempt executed (its result was reported); later duplicates are skipped.</summary>
    public Task<string?> MarkDoneAsync(string dispatchId, string etag, string owner, CancellationToken ct)
        => store.TryPutValueAsync(Scope, dispatchId, Format("done", owner, DateTimeOffset.MaxValue), etag, ct);

    /// <summary>Gives a claim up (remote attempt pending, host stopping) so another worker can take the next poll.</summary>
    public Task<string?> ReleaseAsync(string dispatchId, string etag, string owner, CancellationToken ct)
        => store.TryPutValueAsync(Scope, dispatchId, Format("running", owner, DateTimeOffset.UnixEpoch), etag, ct);

    /// <summary>Sets the cancel flag unless the attempt is already done.</summary>
    public async Task CancelAsync(string dispatchId, CancellationToken ct)
    {
        for (var i = 0; i < 10; i++)
        {
            var current = await store.GetValueAsync(Scope, dispatchId, ct).ConfigureAwait(false);
            if (current is not null && Parse(current.Value).State is "done" or "cancelled")
            {
                return;
            }

            var owner = current is null ? "" : Parse(current.Value).Owner;
            if (await store.TryPutValueAsync(Scope, dispatchId, Format("cancelled", owner, DateTimeOffset.MaxValue), current?.ETag, ct).ConfigureAwait(false) is not null)
            {
                return;
            }
        }

        throw new ConcurrencyException($"Could not set the cancel flag of dispatch '{dispatchId}' after 10 attempts; the cancel will be retried.");
    }

    /// <summary>How long a live claim on the attempt still runs (its holder is executing it), or null when none does.</summary>
    public async Task<TimeSpan?> LiveClaimAsync(string dispatchId, CancellationToken ct)
    {
        var current = await store.GetValueAsync(Scope, dispatchId, ct).ConfigureAwait(false);
        if (current is null)
        {
            return null;
        }

        var (state, _, expires) = Parse(current.Value);
        var left = expires - time.GetUtcNow();
        return state == "running" && left > TimeSpan.Zero ? left : null;
    }

    /// <summary>True when the attempt's record says done or cancelled.</summary>
    public async Task<bool> IsSettledAsync(string dispatchId, CancellationToken ct)
    {
        var current = await store.GetValueAsync(Scope, dispatchId, ct).ConfigureAwait(false);
        return current is not null && Parse(current.Value).State is "done" or "cancelled";
    }

    /// <summary>True when the attempt's record says cancelled.</summary>
    public async Task<bool> IsCancelledAsync(string dispatchId, CancellationToken ct)
    {
        var current = await store.GetValueAsync(Scope, dispatchId, ct).ConfigureAwait(false);
        return current is not null && Parse(current.Value).State == "cancelled";
    }

    private string Running(string owner) => Format("running", owner, time.GetUtcNow() + claimDuration);

    private static string Format(string state, string owner, DateTimeOffset expires)
        => string.Create(CultureInfo.InvariantCulture, $"{state}|{owner}|{expires.ToUnixTimeMilliseconds()}");

    private static (string State, string Owner, DateTimeOffset Expires) Parse(string value)
    {
        var parts = value.Split('|');
        var expires = parts.Length > 2 && long.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms)
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : DateTimeOffset.UnixEpoch;
        return (parts[0], parts.Length > 1 ? parts[1] : "", expires);
    }
}
