using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Trainyard.Core.Engine;
using Trainyard.Core.Expressions;
using Trainyard.Core.Spec;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Registry;
using Trainyard.Execution.Contracts;

namespace Trainyard.FunctionApp.Triggers;

/// <summary>A new or changed blob reported by the host (or by `trainyard serve`).</summary>
internal sealed record BlobArrival(string Container, string Path, string ETag, string? Uri);

/// <summary>What a trigger invocation did: runs started (or found), and lines for the invocation log.</summary>
internal sealed class TriggerReport
{
    /// <summary>Run ids this invocation started or found already started.</summary>
    public List<string> Runs { get; } = [];

    /// <summary>Log lines (no payloads).</summary>
    public List<string> Lines { get; } = [];

    /// <summary>Starts that failed; the invocation fails so the host retries (ids are deterministic, so retrying is safe).</summary>
    public List<string> Failures { get; } = [];
}

/// <summary>
/// Turns trigger events into runs: schedules (durable per-trigger watermark), blob arrivals (glob match, optional
/// debounce window) and drift signals (threshold + cooldown). Every run id is derived from the trigger identity, and
/// every piece of durable state is written with an ETag condition, so duplicate and concurrent deliveries start one run.
/// </summary>
internal sealed partial class TriggerService(PipelineRegistry registry, IRunStore store, IRunLauncher launcher, TimeProvider time, ILogger<TriggerService> logger)
{
    internal const string WatermarkScope = "trigger-watermark";
    internal const string DebounceScope = "blob-debounce";
    internal const string BlobSeenScope = "blob-seen";
    internal const string CooldownScope = "drift-cooldown";
    private const int ConditionalRetries = 8;

    /// <summary>Evaluates every active pipeline's schedule triggers up to now, and closes due blob debounce windows.</summary>
    public async Task<TriggerReport> OnScheduleAsync(CancellationToken cancellationToken)
    {
        var report = new TriggerReport();
        var now = time.GetUtcNow();
        foreach (var (version, spec) in await registry.ActiveAsync(cancellationToken))
        {
            foreach (var trigger in spec.Triggers.OfType<ScheduleTriggerSpec>())
            {
                await EvaluateScheduleAsync(version, trigger, now, report, cancellationToken);
            }

            foreach (var trigger in spec.Triggers.OfType<BlobTriggerSpec>().Where(t => t.Debounce is not null))
            {
                await CloseWindowIfDueAsync(version, trigger, now, report, cancellationToken);
            }
        }

        return report;
    }

    /// <summary>Matches a blob against every active pipeline's blob triggers.</summary>
    public async Task<TriggerReport> OnBlobAsync(BlobArrival blob, CancellationToken cancellationToken)
    {
        var report = new TriggerReport();
        var now = time.GetUtcNow();
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

                var triggerData = new JsonObject
                {
                    ["kind"] = "blob",
                    ["id"] = trigger.Id,
                    ["container"] = blob.Container,
                    ["path"] = blob.Path,
                    ["name"] = blob.Path[(blob.Path.LastIndexOf('/') + 1)..],
                    ["etag"] = blob.ETag,
                    ["uri"] = blob.Uri,
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
                var runId = TriggerRunIds.For(spec.Name, "blob", trigger.Id, blob.Container + "/" + blob.Path, blob.ETag);
                await StartAsync(new RunStartRequest(version, runParams, info, runId), report, cancellationToken);
            }
        }

        if (report.Runs.Count == 0 && report.Failures.Count == 0)
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

                var runId = TriggerRunIds.For(spec.Name, "drift", trigger.Id, signal.SignalId);
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
                await StartAsync(new RunStartRequest(version, runParams, info, runId), report, cancellationToken);
            }
        }

        if (report.Runs.Count == 0 && report.Failures.Count == 0)
        {
            report.Lines.Add($"drift signal {signal.SignalId} ({signal.Model}/{signal.Metric}) started no run");
        }

        return report;
    }

    private async Task EvaluateScheduleAsync(PipelineVersion version, ScheduleTriggerSpec trigger, DateTimeOffset now, TriggerReport report, CancellationToken ct)
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
                runParams = ResolveParams(version, trigger, triggerData);
            }
            catch (ExpressionException ex)
            {
                report.Lines.Add($"{version.Name}/{trigger.Id}: trigger params cannot be resolved: {ex.Message}");
                continue;
            }

            var info = new TriggerInfo("schedule", trigger.Id) { Detail = new Dictionary<string, string> { ["scheduledTime"] = iso } };
            var runId = TriggerRunIds.For(version.Name, "cron", trigger.Id, iso);
            await StartAsync(new RunStartRequest(version, runParams, info, runId), report, ct);
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

    private Dictionary<string, JsonElement> ResolveParams(PipelineVersion version, TriggerSpec trigger, JsonObject triggerData) =>
        ResolveParams(registry.Spec(version)!, trigger, triggerData, new Dictionary<string, string>());

    private async Task JoinWindowAsync(PipelineVersion version, BlobTriggerSpec trigger, BlobArrival blob, TimeSpan window, Dictionary<string, JsonElement> runParams, DateTimeOffset now, TriggerReport report, CancellationToken ct)
    {
        var key = Key(version.Name, trigger.Id);
        var seenKey = key + "." + TriggerRunIds.Hash(blob.Container + "/" + blob.Path + "\n" + blob.ETag);
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
                    TriggerRunIds.For(version.Name, "blob", trigger.Id, blob.Container + "/" + blob.Path, blob.ETag),
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

    private async Task CloseWindowIfDueAsync(PipelineVersion version, BlobTriggerSpec trigger, DateTimeOffset now, TriggerReport report, CancellationToken ct)
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
            await StartAsync(new RunStartRequest(version, window.Params, info, window.RunId), report, ct);
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

    private async Task StartAsync(RunStartRequest request, TriggerReport report, CancellationToken ct)
    {
        try
        {
            var (runId, created) = await launcher.StartAsync(request, ct);
            report.Runs.Add(runId);
            report.Lines.Add(created ? $"started run {runId} of {request.Pipeline.Name} ({request.Trigger.Kind}/{request.Trigger.TriggerId})" : $"run {runId} of {request.Pipeline.Name} already started; nothing changed");
            LogStart(request.Pipeline.Name, runId, request.Trigger.Kind, created);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogStartFailed(ex, request.Pipeline.Name, request.RunId ?? "", request.Trigger.Kind);
            report.Failures.Add($"{request.Pipeline.Name}: starting run {request.RunId} failed: {ex.Message}");
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
}
