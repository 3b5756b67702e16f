using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Contracts;

namespace Trainyard.Notifications;

/// <summary>A run and the pipeline version it ran.</summary>
public sealed record RunWithSpec(RunState Run, PipelineSpec Spec);

/// <summary>
/// The engine's run-finished hook for `notify:`: loads the run and its spec, works out the alerts
/// (<see cref="RunAlerts"/>) and queues them on a <see cref="WebhookSender"/>. Returns at once; never throws for a
/// webhook's sake.
/// </summary>
public sealed class WebhookNotifier(WebhookSender sender, Func<string, CancellationToken, Task<RunWithSpec?>> load) : IRunNotifier
{
    /// <inheritdoc />
    public async Task NotifyAsync(NotifyRunFinished notification, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notification);
        if (await load(notification.RunId, cancellationToken).ConfigureAwait(false) is not { } found
            || (found.Spec.Notify.Count == 0 && found.Spec.Steps.All(s => s.Notify.Count == 0)))
        {
            return;
        }

        foreach (var alert in RunAlerts.ForFinishedRun(found.Spec, found.Run))
        {
            sender.TryEnqueue(alert);
        }
    }

    /// <summary>
    /// The durable engine's run-finished hook: queues the alerts of <paramref name="run"/> and waits for their delivery
    /// (each retried with backoff) at most <paramref name="wait"/>, so a host that may stop after the activity returns
    /// (a Consumption instance, `trainyard run`) loses none. An activity that is run again sends them again, with the same
    /// delivery ids. Never throws for a webhook's sake.
    /// </summary>
    public static async Task DeliverAsync(WebhookSender sender, PipelineSpec spec, RunState run, TimeSpan wait)
    {
        ArgumentNullException.ThrowIfNull(sender);
        var queued = 0;
        foreach (var alert in RunAlerts.ForFinishedRun(spec, run))
        {
            queued += sender.TryEnqueue(alert) ? 1 : 0;
        }

        if (queued > 0)
        {
            await sender.FlushAsync(wait).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sends `run-stuck` for running runs past their entries' `stuckAfter`, once per run and entry: the mark is a
    /// create-only key (scope `notify`, key `stuck/{delivery id}`) in <paramref name="marks"/>, so several watchdogs send it once.
    /// </summary>
    public static async Task<int> SweepStuckAsync(WebhookSender sender, IEnumerable<RunWithSpec> running, IKeyValueStore marks, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sender);
        ArgumentNullException.ThrowIfNull(running);
        ArgumentNullException.ThrowIfNull(marks);
        var sent = 0;
        foreach (var (run, spec) in running)
        {
            foreach (var alert in RunAlerts.ForStuckRun(spec, run, now - run.CreatedAt))
            {
                var mark = now.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
                if (await marks.TryPutValueAsync("notify", "stuck/" + alert.DeliveryId, mark, null, cancellationToken).ConfigureAwait(false) is not null
                    && sender.TryEnqueue(alert))
                {
                    sent++;
                }
            }
        }

        return sent;
    }
}
