using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Trainyard.Core.Engine;
using Trainyard.Core.Expressions;
using Trainyard.Core.Spec;
using Trainyard.Engine.Durable;
using Trainyard.Execution.Contracts;
using Trainyard.Execution.Registry;
using Trainyard.Notifications;

namespace Trainyard.Service;

/// <summary>A new or changed blob reported by the host (or by `trainyard serve`).</summary>
/// <param name="Container">Blob container.</param>
/// <param name="Path">Blob name within the container.</param>
/// <param name="ETag">The blob version's ETag (without quotes).</param>
/// <param name="Uri">The blob's URL, when known.</param>
/// <param name="Size">The blob's size in bytes, when known.</param>
public sealed record BlobArrival(string Container, string Path, string ETag, string? Uri, long? Size = null);

/// <summary>What a trigger invocation did: runs started (or found), and lines for the invocation log.</summary>
public sealed class TriggerReport
{
    /// <summary>Run ids this invocation started or found already started.</summary>
    public List<string> Runs { get; } = [];

    /// <summary>Log lines (no payloads).</summary>
    public List<string> Lines { get; } = [];

    /// <summary>Starts that failed; the invocation fails so the host retries (ids are deterministic, so retrying is safe).</summary>
    public List<string> Failures { get; } = [];

    /// <summary>Runs the watchdog found pending or running without progress for too long.</summary>
    public List<RunInfo> Stuck { get; } = [];

    /// <summary>Finished instances the retention purge deleted.</summary>
    public int Purged { get; set; }
}

/// <summary>Tuning of the schedule handler's upkeep (watchdog and retention purge).</summary>
public sealed record TriggerOptions
{
    /// <summary>How often the watchdog and the purge run (the timer fires every minute; one instance does the upkeep).</summary>
    public TimeSpan MaintenanceEvery { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>A run still pending (not picked up by the engine) this long after its last update is reported as stuck.</summary>
    public TimeSpan StuckPendingAfter { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// A running run with no recorded progress for this long, and not waiting for an approval, is reported as stuck
    /// (long Batch steps legitimately leave a run quiet for hours: keep this above the longest step timeout).
    /// </summary>
    public TimeSpan StuckRunningAfter { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Finished runs older than this are purged from the engine (null: never).</summary>
    public TimeSpan? Retention { get; init; } = TimeSpan.FromDays(30);

    /// <summary>Purge calls per upkeep.</summary>
    public int PurgeBatches { get; init; } = 5;

    /// <summary>Time budget of one purge call.</summary>
    public TimeSpan PurgeBatchTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Sends `notify:` `run-stuck` alerts of running runs past an entry's `stuckAfter` (checked at each upkeep, once per
    /// run and entry); null: none are sent.
    /// </summary>
    public WebhookSender? Webhooks { get; init; }

    /// <summary>How long the upkeep waits for the run-stuck deliveries it queued.</summary>
    public TimeSpan WebhookWait { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// Turns trigger events into runs: schedules (durable per-trigger watermark), blob arrivals (glob match, optional
/// debounce window) and drift signals (threshold + cooldown). Every run id is derived from the trigger identity, and
/// every piece of durable state is written with an ETag condition, so duplicate and concurrent deliveries start one run.
/// The schedule handler also keeps the engine healthy: a stuck-run watchdog and the retention purge.
/// </summary>
public sealed partial class TriggerService
{
    internal const string WatermarkScope = "trigger-watermark";
    internal const string DebounceScope = "blob-debounce";
    internal const string BlobSeenScope = "blob-seen";
    internal const string CooldownScope = "drift-cooldown";
    internal const string MaintenanceScope = "service-maintenance";
    private const int ConditionalRetries = 8;

    private readonly PipelineRegistry registry;
    private readonly IKeyValueStore store;
    private readonly IRunControl runs;
    private readonly TriggerOptions options;
    private readonly TimeProvider time;
    private readonly ILogger logger;

    /// <summary>Creates the handlers over the registry, the key-value store for trigger state, and run control.</summary>
    public TriggerService(PipelineRegistry registry, IKeyValueStore store, IRunControl runs, TriggerOptions options, TimeProvider time, ILogger<TriggerService> logger)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        this.registry = registry;
        this.store = store;
        this.runs = runs;
        this.options = options;
        this.time = time;
        this.logger = logger;
    }

    /// <summary>
    /// Evaluates every active pipeline's schedule triggers up to now, closes due blob debounce windows, and (every
    /// <see cref="TriggerOptions.MaintenanceEvery"/>, on one instance) runs the stuck-run watchdog and the retention purge.
    /// </summary>
    public async Task<TriggerReport> OnScheduleAsync(CancellationToken cancellationToken)
    {
        var report = new TriggerReport();
        var now = time.GetUtcNow();
        foreach (var (version, spec) in await registry.ActiveAsync(cancellationToken))
        {
            foreach (var trigger in spec.Triggers.OfType<ScheduleTriggerSpec>())
            {
                await EvaluateScheduleAsync(version, spec, trigger, now, report, cancellationToken);
            }

            foreach (var trigger in spec.Triggers.OfType<BlobTriggerSpec>().Where(t => t.Debounce is not null))
            {
                await CloseWindowIfDueAsync(version, spec, trigger, now, report, cancellationToken);
            }
        }

        if (await ClaimMaintenanceAsync(now, cancellationToken))
        {
            if (await WatchdogAsync(now, report, cancellationToken) is { } running)
            {
                await StuckAlertsAsync(running, now, report, cancellationToken);
            }

            await PurgeAsync(now, report, cancellationToken);
        }

        return report;
    }

    /// <summary>Matches a blob against every active pipeline's blob triggers.</summary>
    public async Task<TriggerReport> OnBlobAsync(BlobArrival blob, CancellationToken cancellationToken)
    {
        var report = new TriggerReport();
        var now = time.GetUtcNow();
        bool matched = false;
        foreach (var (version, spec) in await registry.ActiveAsync(cancellationToken))
        {
            foreach (var trigger in spec.Triggers.OfType<BlobTriggerSpec>())
            {
                if (!string.Equals(trigger.Container, blob.Container, StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                BlobPathPattern pattern;
                try
                {
                    pattern = BlobPathPattern.Parse(trigger.Path);
                }
                catch (FormatException ex)
                {
                    report.Lines.Add($"{spec.Name}/{trigger.Id}: {ex.Message}");
                    continue;
                }

                if (pattern.Match(blob.Path) is not { } captures)
                {
                    continue;
                }

                matched = true;
                var triggerData = new JsonObject
                {
                    ["kind"] = "blob",
                    ["id"] = trigger.Id,
                    ["container"] = blob.Container,
                    ["path"] = blob.Path,
                    ["name"] = blob.Path[(blob.Path.LastIndexOf('/') + 1)..],
                    ["etag"] = blob.ETag,
                    ["uri"] = blob.Uri,
                    ["url"] = blob.Uri,
                    ["size"] = blob.Size,
                };
                foreach (var (k, v) in captures)
                {
                    triggerData[k] = v;
                }

                Dictionary<string, JsonElement> runParams;
                try
                {
                    runParams = ResolveParams(spec, trigger, triggerData, captures);
                }
                catch (ExpressionException ex)
                {
                    report.Lines.Add($"{spec.Name}/{trigger.Id}: trigger params cannot be resolved: {ex.Message}");
                    continue;
                }

                if (trigger.Debounce is { } window)
                {
                    await JoinWindowAsync(version, trigger, blob, window, runParams, now, report, cancellationToken);
                    continue;
                }

                var info = new TriggerInfo("blob", trigger.Id) { Detail = new Dictionary<string, string> { ["container"] = blob.Container, ["path"] = blob.Path, ["etag"] = blob.ETag } };
                var runId = RunIds.For(spec.Name, "blob", trigger.Id, blob.Container + "/" + blob.Path, blob.ETag);
                await StartAsync(version, spec, runParams, info, runId, report, cancellationToken);
            }
        }

        if (!matched)
        {
            report.Lines.Add($"blob {blob.Container}/{blob.Path} matches no blob trigger of any registered pipeline");
        }

        return report;
    }

    /// <summary>Matches a validated drift signal against every active pipeline's drift triggers.</summary>
    public async Task<TriggerReport> OnDriftAsync(DriftSignal signal, CancellationToken cancellationToken)
    {
        var report = new TriggerReport();
        var now = time.GetUtcNow();
        foreach (var (version, spec) in await registry.ActiveAsync(cancellationToken))
        {
            foreach (var trigger in spec.Triggers.OfType<DriftTriggerSpec>())
            {
                if (!string.Equals(trigger.Model, signal.Model, StringComparison.Ordinal) || !string.Equals(trigger.Metric, signal.Metric, StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                if (signal.Value < trigger.Threshold)
                {
                    report.Lines.Add($"{spec.Name}/{trigger.Id}: {signal.Metric}={signal.Value.ToString(CultureInfo.InvariantCulture)} is below the trigger threshold {trigger.Threshold.ToString(CultureInfo.InvariantCulture)}");
                    continue;
                }

                var runId = RunIds.For(spec.Name, "drift", trigger.Id, signal.SignalId);
                if (!await ClaimCooldownAsync(spec.Name, trigger, runId, now, report, cancellationToken))
                {
                    continue;
                }

                var triggerData = new JsonObject
                {
                    ["kind"] = "drift",
                    ["id"] = trigger.Id,
                    ["signalId"] = signal.SignalId,
                    ["model"] = signal.Model,
                    ["feature"] = signal.Feature,
                    ["metric"] = signal.Metric,
                    ["value"] = signal.Value,
                    ["threshold"] = signal.Threshold,
                    ["window"] = signal.Window,
                    ["source"] = signal.Source,
                };
                Dictionary<string, JsonElement> runParams;
                try
                {
                    runParams = ResolveParams(spec, trigger, triggerData, new Dictionary<string, string>());
                }
                catch (ExpressionException ex)
                {
                    report.Lines.Add($"{spec.Name}/{trigger.Id}: trigger params cannot be resolved: {ex.Message}");
                    continue;
                }

                var info = new TriggerInfo("drift", trigger.Id)
                {
                    Detail = new Dictionary<string, string>
                    {
                        ["messageId"] = signal.SignalId,
                        ["model"] = signal.Model,
                        ["feature"] = signal.Feature,
                        ["metric"] = signal.Metric,
                        ["value"] = signal.Value.ToString(CultureInfo.InvariantCulture),
                    },
                };
                await StartAsync(version, spec, runParams, info, runId, report, cancellationToken);
            }
        }

        if (report.Runs.Count == 0 && report.Failures.Count == 0)
        {
            report.Lines.Add($"drift signal {signal.SignalId} ({signal.Model}/{signal.Metric}) started no run");
        }

        return report;
    }

    private async Task EvaluateScheduleAsync(PipelineVersion version, PipelineSpec spec, ScheduleTriggerSpec trigger, DateTimeOffset now, TriggerReport report, CancellationToken ct)
    {
        var key = Key(version.Name, trigger.Id);
        var stored = await store.GetValueAsync(WatermarkScope, key, ct);
        DateTimeOffset? watermark = stored is null ? null : DateTimeOffset.Parse(stored.Value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
        ScheduleDecision decision;
        try
        {
            decision = ScheduleEvaluator.Evaluate(trigger, watermark, now);
        }
        catch (Exception ex) when (ex is Cronos.CronFormatException or TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            report.Lines.Add($"{version.Name}/{trigger.Id}: schedule cannot be evaluated: {ex.Message}");
            return;
        }

        if (decision.Skipped > 0)
        {
            LogSkipped(version.Name, trigger.Id, decision.Skipped, trigger.CatchUp);
            report.Lines.Add($"{version.Name}/{trigger.Id}: {decision.Skipped} missed time(s) not started (catch-up {trigger.CatchUp})");
        }

        int failuresBefore = report.Failures.Count;
        foreach (var due in decision.Due)
        {
            var iso = due.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
            var triggerData = new JsonObject { ["kind"] = "schedule", ["id"] = trigger.Id, ["scheduledTime"] = iso };
            Dictionary<string, JsonElement> runParams;
            try
            {
                runParams = ResolveParams(spec, trigger, triggerData, new Dictionary<string, string>());
            }
            catch (ExpressionException ex)
            {
                report.Lines.Add($"{version.Name}/{trigger.Id}: trigger params cannot be resolved: {ex.Message}");
                continue;
            }

            var info = new TriggerInfo("schedule", trigger.Id) { Detail = new Dictionary<string, string> { ["scheduledTime"] = iso } };
            var runId = RunIds.For(version.Name, "cron", trigger.Id, iso);
            await StartAsync(version, spec, runParams, info, runId, report, ct);
        }

        if (report.Failures.Count > failuresBefore)
        {
            // Keep the watermark so the next firing tries the failed instants again (same ids: no duplicates).
            return;
        }

        var text = decision.Watermark.ToString("O", CultureInfo.InvariantCulture);
        if (await store.TryPutValueAsync(WatermarkScope, key, text, stored?.ETag, ct) is null)
        {
            // Another instance evaluated the same trigger concurrently; its runs have the same ids as ours.
            report.Lines.Add($"{version.Name}/{trigger.Id}: watermark moved concurrently; left to the other evaluation");
        }
    }

    private async Task JoinWindowAsync(PipelineVersion version, BlobTriggerSpec trigger, BlobArrival blob, TimeSpan window, Dictionary<string, JsonElement> runParams, DateTimeOffset now, TriggerReport report, CancellationToken ct)
    {
        var key = Key(version.Name, trigger.Id);
        var seenKey = key + "." + RunIds.Hash(blob.Container + "/" + blob.Path + "\n" + blob.ETag);
        if (await store.TryPutValueAsync(BlobSeenScope, seenKey, now.ToString("O", CultureInfo.InvariantCulture), null, ct) is null)
        {
            report.Lines.Add($"{version.Name}/{trigger.Id}: blob {blob.Path} (etag {blob.ETag}) already counted; duplicate event ignored");
            return;
        }

        for (int attempt = 0; attempt < ConditionalRetries; attempt++)
        {
            var stored = await store.GetValueAsync(DebounceScope, key, ct);
            var current = stored is null ? null : JsonSerializer.Deserialize<DebounceWindow>(stored.Value, EngineJson.Options);
            DebounceWindow next;
            if (current is null || current.Closed)
            {
                next = new DebounceWindow(
                    RunIds.For(version.Name, "blob", trigger.Id, blob.Container + "/" + blob.Path, blob.ETag),
                    now,
                    now + window,
                    blob.Path,
                    blob.Path,
                    1,
                    runParams,
                    false);
            }
            else
            {
                next = current with { LastPath = blob.Path, Count = current.Count + 1 };
            }

            var json = JsonSerializer.Serialize(next, EngineJson.Options);
            if (await store.TryPutValueAsync(DebounceScope, key, json, stored?.ETag, ct) is not null)
            {
                report.Lines.Add($"{version.Name}/{trigger.Id}: blob {blob.Path} joined debounce window {next.RunId} ({next.Count} blob(s), closes {next.ClosesAt:O})");
                return;
            }
        }

        report.Failures.Add($"{version.Name}/{trigger.Id}: debounce window kept changing under contention; the event will be retried");
    }

    private async Task CloseWindowIfDueAsync(PipelineVersion version, PipelineSpec spec, BlobTriggerSpec trigger, DateTimeOffset now, TriggerReport report, CancellationToken ct)
    {
        var key = Key(version.Name, trigger.Id);
        for (int attempt = 0; attempt < ConditionalRetries; attempt++)
        {
            var stored = await store.GetValueAsync(DebounceScope, key, ct);
            if (stored is null)
            {
                return;
            }

            var window = JsonSerializer.Deserialize<DebounceWindow>(stored.Value, EngineJson.Options)!;
            if (window.Closed || window.ClosesAt > now)
            {
                return;
            }

            var info = new TriggerInfo("blob", trigger.Id)
            {
                Detail = new Dictionary<string, string>
                {
                    ["container"] = trigger.Container,
                    ["firstPath"] = window.FirstPath,
                    ["lastPath"] = window.LastPath,
                    ["blobCount"] = window.Count.ToString(CultureInfo.InvariantCulture),
                },
            };
            int failuresBefore = report.Failures.Count;
            await StartAsync(version, spec, window.Params, info, window.RunId, report, ct);
            if (report.Failures.Count > failuresBefore)
            {
                return;
            }

            var closed = JsonSerializer.Serialize(window with { Closed = true }, EngineJson.Options);
            if (await store.TryPutValueAsync(DebounceScope, key, closed, stored.ETag, ct) is not null)
            {
                return;
            }
        }
    }

    private async Task<bool> ClaimCooldownAsync(string pipeline, DriftTriggerSpec trigger, string runId, DateTimeOffset now, TriggerReport report, CancellationToken ct)
    {
        var key = Key(pipeline, trigger.Id);
        for (int attempt = 0; attempt < ConditionalRetries; attempt++)
        {
            var stored = await store.GetValueAsync(CooldownScope, key, ct);
            var claim = stored is null ? null : JsonSerializer.Deserialize<CooldownClaim>(stored.Value, EngineJson.Options);
            if (claim is not null && claim.RunId == runId)
            {
                return true;
            }

            if (claim is not null && now < claim.StartedAt + trigger.Cooldown)
            {
                LogCooldown(pipeline, trigger.Id, claim.RunId);
                report.Lines.Add($"{pipeline}/{trigger.Id}: in cooldown until {(claim.StartedAt + trigger.Cooldown):O} after run {claim.RunId}; signal ignored");
                return false;
            }

            var json = JsonSerializer.Serialize(new CooldownClaim(runId, now), EngineJson.Options);
            if (await store.TryPutValueAsync(CooldownScope, key, json, stored?.ETag, ct) is not null)
            {
                return true;
            }
        }

        report.Failures.Add($"{pipeline}/{trigger.Id}: cooldown kept changing under contention; the signal will be retried");
        return false;
    }

    private async Task StartAsync(PipelineVersion version, PipelineSpec spec, IReadOnlyDictionary<string, JsonElement> given, TriggerInfo trigger, string runId, TriggerReport report, CancellationToken ct)
    {
        var resolved = ParamResolver.Resolve(spec, given);
        if (!resolved.Succeeded)
        {
            // The trigger's params do not fit the pipeline: retrying cannot help, so this is a line, not a failure.
            report.Lines.Add($"{version.Name}/{trigger.TriggerId}: params rejected, run {runId} not started: {string.Join("; ", resolved.Errors.Select(e => $"{e.DisplayField}: {e.Message} ({e.Help})"))}");
            return;
        }

        var input = new RunPipelineInput
        {
            RunId = runId,
            PipelineName = version.Name,
            PipelineHash = version.ContentHash,
            SpecText = version.SpecText,
            Params = resolved.Values,
            Trigger = trigger,
        };
        try
        {
            var (id, created) = await runs.StartAsync(input, ct);
            report.Runs.Add(id);
            report.Lines.Add(created ? $"started run {id} of {version.Name} ({trigger.Kind}/{trigger.TriggerId})" : $"run {id} of {version.Name} already started; nothing changed");
            LogStart(version.Name, id, trigger.Kind, created);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogStartFailed(ex, version.Name, runId, trigger.Kind);
            report.Failures.Add($"{version.Name}: starting run {runId} failed: {ex.Message}");
        }
    }

    private async Task<bool> ClaimMaintenanceAsync(DateTimeOffset now, CancellationToken ct)
    {
        const string Key = "last";
        var stored = await store.GetValueAsync(MaintenanceScope, Key, ct);
        if (stored is not null
            && DateTimeOffset.TryParse(stored.Value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var last)
            && now < last + options.MaintenanceEvery)
        {
            return false;
        }

        // Conditional on the ETag read: of the instances whose timers fire together, one does the upkeep.
        return await store.TryPutValueAsync(MaintenanceScope, Key, now.ToString("O", CultureInfo.InvariantCulture), stored?.ETag, ct) is not null;
    }

    /// <summary>Reports runs without progress; returns the running runs it listed (null when it could not list them).</summary>
    private async Task<IReadOnlyList<RunInfo>?> WatchdogAsync(DateTimeOffset now, TriggerReport report, CancellationToken ct)
    {
        try
        {
            var pending = await runs.ListAsync(new RunListQuery { Status = RunStatuses.Pending, Limit = 1000 }, ct);
            var running = await runs.ListAsync(new RunListQuery { Status = RunStatuses.Running, Limit = 1000 }, ct);
            var stuck = pending.Where(r => now - r.LastUpdatedAt > options.StuckPendingAfter)
                .Concat(running.Where(r => now - r.LastUpdatedAt > options.StuckRunningAfter && r.Progress is not { Waiting.Count: > 0 }))
                .OrderBy(r => r.LastUpdatedAt)
                .ToList();
            foreach (var run in stuck)
            {
                LogStuck(run.RunId, run.Pipeline, run.Status, run.LastUpdatedAt);
                report.Lines.Add($"watchdog: run {run.RunId} of {run.Pipeline} is {run.Status} with no progress since {run.LastUpdatedAt:O}; check the task hub (instance {run.RunId}) and the app's logs, or cancel it with POST /api/runs/{run.RunId}/cancel");
            }

            report.Stuck.AddRange(stuck);
            return running;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogUpkeepFailed(ex, "watchdog");
            report.Lines.Add($"watchdog failed: {ex.Message}; it runs again at the next upkeep");
            return null;
        }
    }

    private async Task StuckAlertsAsync(IReadOnlyList<RunInfo> runningRuns, DateTimeOffset now, TriggerReport report, CancellationToken ct)
    {
        if (options.Webhooks is not { } webhooks)
        {
            return;
        }

        try
        {
            var running = new List<RunWithSpec>();
            var specs = new Dictionary<string, PipelineSpec?>(StringComparer.Ordinal);
            foreach (var run in runningRuns)
            {
                if (!specs.TryGetValue(run.Version, out var spec))
                {
                    spec = specs[run.Version] = await registry.FindAsync(run.Pipeline, run.Version, ct) is { } version ? registry.Spec(version) : null;
                }

                if (spec is not null && spec.Notify.Any(n => n.StuckAfter is not null))
                {
                    // A running run's alert tells its id, pipeline, trigger and age.
                    running.Add(new RunWithSpec(run.StateSoFar(), spec));
                }
            }

            var sent = await WebhookNotifier.SweepStuckAsync(webhooks, running, store, now, ct);
            if (sent > 0)
            {
                await webhooks.FlushAsync(options.WebhookWait);
                report.Lines.Add(string.Create(CultureInfo.InvariantCulture, $"run-stuck: {sent} alert(s) sent"));
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogUpkeepFailed(ex, "run-stuck alerts");
            report.Lines.Add($"run-stuck alerts failed: {ex.Message}; they are checked again at the next upkeep");
        }
    }

    private async Task PurgeAsync(DateTimeOffset now, TriggerReport report, CancellationToken ct)
    {
        if (options.Retention is not { } retention || retention <= TimeSpan.Zero)
        {
            return;
        }

        try
        {
            var outcome = await runs.PurgeFinishedAsync(now - retention, options.PurgeBatches, options.PurgeBatchTimeout, ct);
            report.Purged = outcome.Purged;
            report.Lines.Add($"purge: {outcome.Purged} finished run(s) created before {(now - retention):O} deleted{(outcome.Complete ? "" : "; more are left for the next upkeep")}");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogUpkeepFailed(ex, "purge");
            report.Lines.Add($"purge failed: {ex.Message}; it runs again at the next upkeep");
        }
    }

    /// <summary>
    /// Run params from a trigger: named captures fill declared params of the same name (typed per the declaration),
    /// then the trigger's own <c>params</c> are resolved as templates over <c>trigger.*</c>.
    /// </summary>
    internal static Dictionary<string, JsonElement> ResolveParams(PipelineSpec spec, TriggerSpec trigger, JsonObject triggerData, IReadOnlyDictionary<string, string> captures)
    {
        var result = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var (name, value) in captures)
        {
            if (spec.Params.FirstOrDefault(p => p.Name == name) is { } declared)
            {
                result[name] = Typed(declared.Type, value);
            }
        }

        var scope = new JsonScope(JsonSerializer.SerializeToElement(new JsonObject { ["trigger"] = triggerData }));
        foreach (var (name, value) in trigger.Params)
        {
            result[name] = Template.ResolveDeep(value, scope);
        }

        return result;
    }

    private static JsonElement Typed(ParamType type, string value)
    {
        if (type is ParamType.Integer or ParamType.Number or ParamType.Boolean)
        {
            try
            {
                using var doc = JsonDocument.Parse(value);
                return doc.RootElement.Clone();
            }
            catch (JsonException)
            {
                // Left as text: the engine's param check reports the type mismatch with the param's name.
            }
        }

        return JsonSerializer.SerializeToElement(value);
    }

    internal static string Key(string pipeline, string triggerId) => pipeline + "." + triggerId;

    private sealed record DebounceWindow(string RunId, DateTimeOffset OpenedAt, DateTimeOffset ClosesAt, string FirstPath, string LastPath, int Count, Dictionary<string, JsonElement> Params, bool Closed);

    private sealed record CooldownClaim(string RunId, DateTimeOffset StartedAt);

    [LoggerMessage(EventId = 6101, Level = LogLevel.Information, Message = "Trigger start: pipeline {Pipeline}, run {RunId}, trigger {Kind}, created {Created}")]
    private partial void LogStart(string pipeline, string runId, string kind, bool created);

    [LoggerMessage(EventId = 6102, Level = LogLevel.Error, Message = "Trigger start failed: pipeline {Pipeline}, run {RunId}, trigger {Kind}")]
    private partial void LogStartFailed(Exception ex, string pipeline, string runId, string kind);

    [LoggerMessage(EventId = 6103, Level = LogLevel.Warning, Message = "Schedule {Pipeline}/{TriggerId}: {Skipped} missed time(s) not started (catch-up {Policy})")]
    private partial void LogSkipped(string pipeline, string triggerId, int skipped, CatchUpPolicy policy);

    [LoggerMessage(EventId = 6104, Level = LogLevel.Information, Message = "Drift {Pipeline}/{TriggerId}: in cooldown after run {RunId}; signal ignored")]
    private partial void LogCooldown(string pipeline, string triggerId, string runId);

    [LoggerMessage(EventId = 6105, Level = LogLevel.Warning, Message = "Watchdog: run {RunId} of {Pipeline} is {Status} with no progress since {LastUpdated}")]
    private partial void LogStuck(string runId, string pipeline, string status, DateTimeOffset lastUpdated);

    [LoggerMessage(EventId = 6106, Level = LogLevel.Error, Message = "Upkeep step {Step} failed")]
    private partial void LogUpkeepFailed(Exception ex, string step);
}
