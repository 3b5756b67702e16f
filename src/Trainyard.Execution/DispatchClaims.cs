using System.Globalization;
using Trainyard.Execution.Contracts;

namespace Trainyard.Execution;

/// <summary>
/// The `dispatch/{dispatchId}` key-value record: who runs an attempt until when, whether it is done (with its stored
/// result, for engines whose redelivered work must return it) and whether it was cancelled. One record serves as claim,
/// cancel marker and "already executed" mark, so a task costs two writes (docs/architecture.md, invariant 2).
/// Value format: `state|owner|expiresUnixMs[|result]` with state running, done or cancelled.
/// </summary>
public sealed class DispatchClaims(IKeyValueStore store, TimeProvider time, TimeSpan claimDuration)
{
    /// <summary>Key-value scope of the records.</summary>
    public const string Scope = "dispatch";

    /// <summary>What a claim attempt found.</summary>
    public enum ClaimOutcome
    {
        /// <summary>The caller holds the attempt now.</summary>
        Claimed,
        /// <summary>The attempt was executed already (<see cref="Claim.StoredResult"/> holds its result when one was stored).</summary>
        Done,
        /// <summary>The attempt's cancel marker is set.</summary>
        Cancelled,
        /// <summary>A live claim of another worker holds it (<see cref="Claim.RetryAfter"/>: when it expires).</summary>
        Busy,
    }

    /// <summary>The outcome of a claim attempt.</summary>
    public sealed record Claim(ClaimOutcome Outcome, string? ETag, string Owner, TimeSpan RetryAfter = default)
    {
        /// <summary>The claim replaced an expired or released record (its holder died, stalled, or finished without marking done).</summary>
        public bool TookOver { get; init; }

        /// <summary>For <see cref="ClaimOutcome.Done"/>: the result stored with the done mark, if any.</summary>
        public string? StoredResult { get; init; }
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

            var (state, _, expires, result) = Parse(current.Value);
            switch (state)
            {
                case "done":
                    return new Claim(ClaimOutcome.Done, current.ETag, owner) { StoredResult = result };
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

    /// <summary>
    /// Marks an attempt executed; later duplicates are skipped, and get <paramref name="result"/> back when one is
    /// stored (keep it small: references, not data). Returns null when the record changed (cancelled, taken over).
    /// </summary>
    public Task<string?> MarkDoneAsync(string dispatchId, string etag, string owner, CancellationToken ct, string? result = null)
        => store.TryPutValueAsync(Scope, dispatchId, Format("done", owner, DateTimeOffset.MaxValue) + (result is null ? "" : "|" + result), etag, ct);

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

        var (state, _, expires, _) = Parse(current.Value);
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

    private static (string State, string Owner, DateTimeOffset Expires, string? Result) Parse(string value)
    {
        var parts = value.Split('|', 4);
        var expires = parts.Length > 2 && long.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms)
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : DateTimeOffset.UnixEpoch;
        return (parts[0], parts.Length > 1 ? parts[1] : "", expires, parts.Length > 3 ? parts[3] : null);
    }
}
