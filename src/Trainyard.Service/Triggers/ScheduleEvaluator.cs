using Cronos;
using Trainyard.Core.Spec;

namespace Trainyard.Service;

/// <summary>What one evaluation of a schedule trigger decided.</summary>
/// <param name="Due">Scheduled instants (UTC) to start runs for, oldest first.</param>
/// <param name="Skipped">Missed instants not started because of the catch-up policy or its bound.</param>
/// <param name="Watermark">The new watermark: every instant at or before it has been handled.</param>
internal sealed record ScheduleDecision(IReadOnlyList<DateTimeOffset> Due, int Skipped, DateTimeOffset Watermark);

/// <summary>
/// Pure schedule maths. Occurrences in (watermark, now] are due; those older than <see cref="OnTimeGrace"/> count as
/// missed (the app was down) and follow the trigger's catch-up policy: latest (only the newest missed one, and only when
/// nothing is on time), all (every missed one, newest <c>MaxCatchUp</c> kept), none (missed ones skipped).
/// </summary>
internal static class ScheduleEvaluator
{
    /// <summary>How late an occurrence may be handled and still count as on time (the timer fires every minute).</summary>
    public static readonly TimeSpan OnTimeGrace = TimeSpan.FromMinutes(2);

    /// <summary>Hard bound on occurrences enumerated in one evaluation, whatever the policy.</summary>
    public const int MaxEnumerated = 10_000;

    /// <summary>Evaluates a trigger. A first evaluation (no watermark) starts nothing and sets the watermark to now.</summary>
    public static ScheduleDecision Evaluate(ScheduleTriggerSpec trigger, DateTimeOffset? watermark, DateTimeOffset now)
    {
        if (watermark is null)
        {
            return new ScheduleDecision([], 0, now);
        }

        if (watermark.Value >= now)
        {
            return new ScheduleDecision([], 0, watermark.Value);
        }

        var cron = Parse(trigger.Cron);
        var zone = Zone(trigger.TimeZone);
        var occurrences = cron.GetOccurrences(watermark.Value.UtcDateTime, now.UtcDateTime, zone, fromInclusive: false, toInclusive: true)
            .Take(MaxEnumerated)
            .Select(d => new DateTimeOffset(d, TimeSpan.Zero))
            .ToList();
        var onTime = occurrences.Where(o => now - o <= OnTimeGrace).ToList();
        var missed = occurrences.Where(o => now - o > OnTimeGrace).ToList();

        List<DateTimeOffset> due;
        switch (trigger.CatchUp)
        {
            case CatchUpPolicy.All:
                var bound = Math.Max(0, trigger.MaxCatchUp);
                due = [.. missed.Skip(Math.Max(0, missed.Count - bound)), .. onTime];
                break;
            case CatchUpPolicy.None:
                due = onTime;
                break;
            default:
                due = onTime.Count > 0 || missed.Count == 0 ? onTime : [missed[^1]];
                break;
        }

        return new ScheduleDecision(due, occurrences.Count - due.Count, now);
    }

    /// <summary>Parses 5-field (minute precision) or 6-field (with seconds) cron text.</summary>
    public static CronExpression Parse(string cron)
    {
        var fields = cron.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        return CronExpression.Parse(cron, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
    }

    /// <summary>Resolves an IANA or Windows time-zone id ("UTC" when empty).</summary>
    public static TimeZoneInfo Zone(string? id) =>
        string.IsNullOrWhiteSpace(id) || id.Equals("UTC", StringComparison.OrdinalIgnoreCase) ? TimeZoneInfo.Utc : TimeZoneInfo.FindSystemTimeZoneById(id);
}
