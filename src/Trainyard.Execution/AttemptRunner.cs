using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Contracts;
using Trainyard.Execution.Telemetry;

namespace Trainyard.Execution;

/// <summary>Settings of an <see cref="AttemptRunner"/>.</summary>
public sealed record AttemptRunnerOptions
{
    /// <summary>Artifact store (inputs, outputs, task logs).</summary>
    public required IArtifactStore Artifacts { get; init; }

    /// <summary>Where the dispatch-id records (claims, cancel markers, done marks) live.</summary>
    public required IKeyValueStore Claims { get; init; }

    /// <summary>Executors by kind; a built-in executor with the standard steps is added when none is given.</summary>
    public IReadOnlyList<ITaskExecutor> Executors { get; init; } = [];

    /// <summary>What to tell the user when a step needs an executor this host lacks (kind -> hint).</summary>
    public IReadOnlyDictionary<ExecutorKind, string> MissingExecutorHints { get; init; } = new Dictionary<ExecutorKind, string>();

    /// <summary>Step cache, consulted for work items with caching enabled.</summary>
    public ITaskCache? TaskCache { get; init; }

    /// <summary>Clock (claims, timeouts, heartbeats).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>This worker's identity, for claims and logs.</summary>
    public string WorkerId { get; init; } = $"{Environment.MachineName}/{Environment.ProcessId}";

    /// <summary>Root of attempts' scratch folders (`{root}/{run}/{task}/{dispatch}`).</summary>
    public string WorkRoot { get; init; } = Path.Combine(Path.GetTempPath(), "trainyard-work");

    /// <summary>How long a claim lives without renewal; a dead worker's attempt is taken over after it.</summary>
    public TimeSpan ClaimDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Renewal interval (default: a third of <see cref="ClaimDuration"/>).</summary>
    public TimeSpan? HeartbeatInterval { get; init; }

    /// <summary>Largest task log kept, in characters; the rest is cut with a marker.</summary>
    public int MaxLogChars { get; init; } = 1 << 20;

    /// <summary>Logging.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}

/// <summary>A claim on one attempt held by this process (its ETag changes as the heartbeat renews it).</summary>
public sealed class AttemptClaim(string? etag, string owner)
{
    /// <summary>Current ETag of the claim record; null when no claim is held.</summary>
    public string? ETag { get; set; } = etag;

    /// <summary>Owner id written into the record.</summary>
    public string Owner { get; } = owner;
}

/// <summary>What one executor call ended with: an outcome (null when the attempt was cancelled) and whether it timed out.</summary>
public sealed record AttemptExecution(TaskOutcome? Outcome, bool TimedOut);

/// <summary>The result of <see cref="AttemptRunner.RunOnceAsync"/>.</summary>
public sealed record AttemptOnce(TaskOutcome? Outcome, bool TimedOut)
{
    /// <summary>True when the attempt had run before and its stored result was returned instead of running it again.</summary>
    public bool Redelivered { get; init; }
}

/// <summary>
/// Executes one task attempt the same way in every engine (docs/architecture.md, "Execution"): picks the executor,
/// consults the step cache, runs with the attempt's timeout, renews the dispatch-id claim while it runs and obeys its
/// cancel marker, keeps the task log (bounded) as an artifact beside the outputs and stores cacheable results.
/// The local engine drives <see cref="ExecuteAsync"/> inside its own commit protocol; the Durable engine's activities,
/// which are at-least-once, call <see cref="RunOnceAsync"/>, which makes an attempt's effects exactly-once per dispatch id.
/// </summary>
public sealed class AttemptRunner
{
    private static readonly TimeSpan RemoteCallBudget = TimeSpan.FromSeconds(30);
    private readonly AttemptRunnerOptions _o;
    private readonly ILogger _log;
    private readonly Dictionary<ExecutorKind, ITaskExecutor> _executors = [];
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new(StringComparer.Ordinal);

    /// <summary>Creates a runner.</summary>
    public AttemptRunner(AttemptRunnerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.Artifacts);
        ArgumentNullException.ThrowIfNull(options.Claims);
        _o = options;
        _log = (_o.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<AttemptRunner>();
        foreach (var e in _o.Executors)
        {
            if (!_executors.TryAdd(e.Kind, e))
            {
                throw new ArgumentException($"Two executors serve kind {e.Kind} ({_executors[e.Kind].GetType().Name}, {e.GetType().Name}); register one per kind.", nameof(options));
            }
        }

        _executors.TryAdd(ExecutorKind.Builtin, new BuiltinExecutor(BuiltinStepRegistry.CreateStandard(), time: _o.Time));
        Claims = new DispatchClaims(_o.Claims, _o.Time, _o.ClaimDuration);
    }

    /// <summary>The dispatch-id records.</summary>
    public DispatchClaims Claims { get; }

    /// <summary>The options.</summary>
    public AttemptRunnerOptions Options => _o;

    /// <summary>True when an executor of <paramref name="kind"/> is registered here.</summary>
    public bool HasExecutor(ExecutorKind kind) => _executors.ContainsKey(kind);

    /// <summary>The kinds served here.</summary>
    public IEnumerable<ExecutorKind> ExecutorKinds => _executors.Keys;

    /// <summary>Executors that run work elsewhere (released when a run finishes).</summary>
    public IEnumerable<IRemoteTaskExecutor> RemoteExecutors => _executors.Values.OfType<IRemoteTaskExecutor>();

    /// <summary>Cancels the attempt if it runs in this process now (its executor sees its token cancelled).</summary>
    public async Task<bool> CancelLocalAsync(string dispatchId)
    {
        if (!_running.TryGetValue(dispatchId, out var cts))
        {
            return false;
        }

        await cts.CancelAsync().ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Runs an attempt exactly once per dispatch id although callers may be redelivered: claims the id; if the attempt
    /// ran already, returns its stored result; if a live claim of another worker holds it, waits for that worker (and
    /// takes over only when its claim expires); if the cancel marker is set, returns a cancelled outcome (null). Remote
    /// work that is still pending releases the claim so the next poll can take it.
    /// </summary>
    public async Task<AttemptOnce> RunOnceAsync(TaskWorkItem work, JsonElement? resumeState, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        var claim = new AttemptClaim(null, $"{_o.WorkerId}/{Guid.NewGuid():N}");
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var c = await Claims.TryClaimAsync(work.DispatchId, claim.Owner, cancellationToken).ConfigureAwait(false);
            switch (c.Outcome)
            {
                case DispatchClaims.ClaimOutcome.Done:
                    ExecutionLog.Redelivered(_log, work.DispatchId, work.TaskKey);
                    return StoredOutcome.Read(c.StoredResult, work) with { Redelivered = true };
                case DispatchClaims.ClaimOutcome.Cancelled:
                    await StopRemoteAsync(work, resumeState is not null, cancellationToken).ConfigureAwait(false);
                    return new AttemptOnce(null, false);
                case DispatchClaims.ClaimOutcome.Busy:
                    // Another worker runs it under a live claim: wait for its result instead of running it twice.
                    var wait = c.RetryAfter < TimeSpan.FromSeconds(2) ? c.RetryAfter : TimeSpan.FromSeconds(2);
                    await Task.Delay(wait < TimeSpan.FromMilliseconds(50) ? TimeSpan.FromMilliseconds(50) : wait, _o.Time, cancellationToken).ConfigureAwait(false);
                    continue;
            }

            claim.ETag = c.ETag;
            var run = await ExecuteAsync(work, resumeState, claim, cancellationToken).ConfigureAwait(false);
            switch (run.Outcome)
            {
                case null:
                    return new AttemptOnce(null, false);
                case TaskOutcome.Pending:
                    if (claim.ETag is not null)
                    {
                        await Claims.ReleaseAsync(work.DispatchId, claim.ETag, claim.Owner, cancellationToken).ConfigureAwait(false);
                    }

                    return new AttemptOnce(run.Outcome, false);
            }

            var stored = StoredOutcome.Write(run.Outcome, run.TimedOut);
            if (claim.ETag is not null
                && await Claims.MarkDoneAsync(work.DispatchId, claim.ETag, claim.Owner, cancellationToken, stored).ConfigureAwait(false) is null)
            {
                // The record changed under us: the attempt was cancelled, or our claim lapsed and another worker took
                // it over (and its result is the one that counts). Ask the record again.
                if (await Claims.IsCancelledAsync(work.DispatchId, cancellationToken).ConfigureAwait(false))
                {
                    return new AttemptOnce(null, false);
                }

                continue;
            }

            return new AttemptOnce(run.Outcome, run.TimedOut);
        }
    }

    /// <summary>
    /// Executes an attempt once, under a claim the caller holds (or none): cache lookup, executor call with timeout and
    /// heartbeat, task log stored at `{OutputPrefix}log.txt`, cacheable results stored. A host stopping
    /// (<paramref name="cancellationToken"/>) releases the claim and throws; a cancelled attempt returns a null outcome.
    /// </summary>
    public async Task<AttemptExecution> ExecuteAsync(TaskWorkItem work, JsonElement? resumeState, AttemptClaim claim, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        ArgumentNullException.ThrowIfNull(claim);
        var log = new TaskLog(_o.MaxLogChars);
        var started = _o.Time.GetTimestamp();
        var span = TrainyardTelemetry.StartAttempt(work);
        AttemptExecution run;
        try
        {
            run = await RunExecutorAsync(work, resumeState, claim, log, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The host is stopping: the attempt is handed on, not finished; its span says so.
            span?.SetTag(TrainyardTelemetry.Tags.Outcome, "handed_over");
            span?.Dispose();
            throw;
        }

        TrainyardTelemetry.EndAttempt(span, work, run.Outcome, run.TimedOut, _o.Time.GetElapsedTime(started));
        if (log.Length > 0)
        {
            using var logData = new MemoryStream(Encoding.UTF8.GetBytes(log.ToString()));
            await _o.Artifacts.PutAsync(work.LogPath, logData, cancellationToken).ConfigureAwait(false);
        }

        if (run.Outcome is TaskOutcome.Succeeded s && _o.TaskCache is { } cache && work.Cache?.Enabled == true && !s.Result.Cached)
        {
            await cache.StoreAsync(work, s.Result, cancellationToken).ConfigureAwait(false);
        }

        return run;
    }

    /// <summary>Tells a remote executor to stop an attempt it may have started (best effort, bounded in time).</summary>
    public async Task StopRemoteAsync(TaskWorkItem work, bool started, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (!started || !_executors.TryGetValue(work.Executor, out var executor) || executor is not IRemoteTaskExecutor remote)
        {
            return;
        }

        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(RemoteCallBudget);
        try
        {
            await remote.CancelAttemptAsync(work, budget.Token).ConfigureAwait(false);
            ExecutionLog.RemoteStopped(_log, work.DispatchId, Lower(remote.Kind));
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            ExecutionLog.RemoteCallFailed(_log, e, "cancel attempt " + work.DispatchId, Lower(remote.Kind));
        }
    }

    /// <summary>Tells remote executors that served a finished run of <paramref name="spec"/> to release what it held. Best effort.</summary>
    public async Task ReleaseRemoteAsync(string runId, RunStatus status, PipelineSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        foreach (var remote in RemoteExecutors)
        {
            if (!spec.Steps.Any(s => s.EffectiveExecutor(spec.Defaults) == remote.Kind))
            {
                continue;
            }

            using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            budget.CancelAfter(RemoteCallBudget);
            try
            {
                await remote.RunFinishedAsync(runId, status, spec, budget.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                ExecutionLog.RemoteCallFailed(_log, e, "release run " + runId, Lower(remote.Kind));
            }
        }
    }

    private async Task<AttemptExecution> RunExecutorAsync(TaskWorkItem work, JsonElement? resumeState, AttemptClaim claim, TaskLog log, CancellationToken ct)
    {
        if (!_executors.TryGetValue(work.Executor, out var executor))
        {
            var known = string.Join(", ", _executors.Keys.Select(Lower));
            var hint = _o.MissingExecutorHints.TryGetValue(work.Executor, out var h) ? h : "run the pipeline where one is, or change the step's executor";
            return new(new TaskOutcome.Failed($"No {Lower(work.Executor)} executor is registered in this host ({_o.WorkerId}; it has {known}): {hint}.", Retryable: false), false);
        }

        if (_o.TaskCache is { } cache && work.Cache?.Enabled == true)
        {
            var hit = await cache.TryGetAsync(work, ct).ConfigureAwait(false);
            TrainyardTelemetry.RecordCacheLookup(work, hit is not null);
            if (hit is not null)
            {
                return new(new TaskOutcome.Succeeded(hit with { Cached = true }), false);
            }
        }

        var dir = Path.Combine(_o.WorkRoot, work.RunId, work.TaskKey, work.DispatchId);
        if (work.Executor != ExecutorKind.Builtin)
        {
            // Built-in steps rarely touch the disk, and creating folders costs about a millisecond per task on some
            // file systems: steps that write there create it (StepContext.WorkingDirectory says so).
            Directory.CreateDirectory(dir);
        }

        using var cancel = new CancellationTokenSource();
        using var timeout = work.Timeout is { } t ? new CancellationTokenSource(t, _o.Time) : null;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, cancel.Token, timeout?.Token ?? CancellationToken.None);
        using var stopHeartbeat = new CancellationTokenSource();
        _running[work.DispatchId] = cancel;
        var heartbeat = claim.ETag is null ? Task.CompletedTask : HeartbeatAsync(work.DispatchId, claim, cancel, stopHeartbeat.Token);
        try
        {
            var context = new TaskExecutionContext
            {
                Work = work,
                Artifacts = _o.Artifacts,
                WorkingDirectory = dir,
                Log = (line, _) => { log.Append(line); return Task.CompletedTask; },
                ResumeState = resumeState,
            };
            return new(await executor.ExecuteAsync(context, linked.Token).ConfigureAwait(false), false);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // The run or the attempt was cancelled mid-call: remote work the call may have started must stop too.
            await StopRemoteAsync(work, started: true, CancellationToken.None).ConfigureAwait(false);
            return new(null, false);
        }
        catch (OperationCanceledException) when (timeout?.IsCancellationRequested == true)
        {
            return new(new TaskOutcome.Failed($"Step '{work.StepId}' timed out after {work.Timeout}.", Retryable: true), true);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Host stopping: let another worker take the attempt at once instead of after the claim expires.
            if (claim.ETag is not null)
            {
                await Claims.ReleaseAsync(work.DispatchId, claim.ETag, claim.Owner, CancellationToken.None).ConfigureAwait(false);
                claim.ETag = null;
            }

            throw;
        }
#pragma warning disable CA1031 // An executor's unexpected exception is a retryable task failure, never a worker crash.
        catch (Exception e)
#pragma warning restore CA1031
        {
            return new(new TaskOutcome.Failed($"{e.GetType().Name}: {e.Message}", Retryable: true), false);
        }
        finally
        {
            // Cancel, not CancelAsync: the heartbeat's only registration is its delay, so cancelling inline ends the
            // heartbeat here instead of hopping to the thread pool twice per attempt.
            stopHeartbeat.Cancel();
            await heartbeat.ConfigureAwait(false);
            _running.TryRemove(new KeyValuePair<string, CancellationTokenSource>(work.DispatchId, cancel));
        }
    }

    private async Task HeartbeatAsync(string dispatchId, AttemptClaim claim, CancellationTokenSource cancel, CancellationToken stop)
    {
        var interval = _o.HeartbeatInterval ?? _o.ClaimDuration / 3;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                // Stopping is the normal end of every heartbeat: awaited without throwing, since an exception per
                // attempt costs more than the rest of a built-in step.
                await Task.Delay(interval, _o.Time, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (stop.IsCancellationRequested)
                {
                    return;
                }

                var next = await Claims.RenewAsync(dispatchId, new DispatchClaims.Claim(DispatchClaims.ClaimOutcome.Claimed, claim.ETag, claim.Owner), stop).ConfigureAwait(false);
                if (next is not null)
                {
                    claim.ETag = next;
                    continue;
                }

                // The record changed under us: cancelled (the cancel marker), or our claim expired and another worker
                // took the attempt. Either way this execution must stop: its process tree is killed by the cancel.
                var cancelled = await Claims.IsCancelledAsync(dispatchId, stop).ConfigureAwait(false);
                ExecutionLog.HeartbeatFailed(_log, dispatchId, cancelled ? "cancelled" : "claim taken over by another worker");
                await cancel.CancelAsync().ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A failed renewal is retried on the next beat; the claim outlives a few failures.
            catch (Exception e)
#pragma warning restore CA1031
            {
                ExecutionLog.HeartbeatFailed(_log, dispatchId, e.Message);
            }
        }
    }

    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();

    /// <summary>The small JSON stored with an attempt's done mark, so a redelivered activity returns the same result.</summary>
    private sealed record StoredOutcome
    {
        public required string Kind { get; init; }

        public TaskResult? Result { get; init; }

        public string? Error { get; init; }

        public bool Retryable { get; init; }

        public int? ExitCode { get; init; }

        public bool TimedOut { get; init; }

        public static string Write(TaskOutcome outcome, bool timedOut) => JsonSerializer.Serialize(outcome switch
        {
            TaskOutcome.Succeeded s => new StoredOutcome { Kind = "succeeded", Result = s.Result },
            TaskOutcome.Failed f => new StoredOutcome { Kind = "failed", Error = f.Error, Retryable = f.Retryable, ExitCode = f.ExitCode, TimedOut = timedOut },
            _ => throw new ArgumentException($"only final outcomes are stored, not {outcome.GetType().Name}", nameof(outcome)),
        }, EngineJson.Options);

        public static AttemptOnce Read(string? json, TaskWorkItem work)
        {
            var stored = json is null ? null : JsonSerializer.Deserialize<StoredOutcome>(json, EngineJson.Options);
            return stored switch
            {
                { Kind: "succeeded", Result: { } r } => new AttemptOnce(new TaskOutcome.Succeeded(r), false),
                { Kind: "failed" } f => new AttemptOnce(new TaskOutcome.Failed(f.Error ?? "failed", f.Retryable, f.ExitCode), f.TimedOut),
                // Done without a stored result: marked by an engine that keeps results elsewhere (the local journal).
                _ => new AttemptOnce(new TaskOutcome.Failed(
                    $"Attempt {work.DispatchId} of step '{work.StepId}' ran already but its result was not stored here; retry the task.", Retryable: true), false),
            };
        }
    }

    private sealed class TaskLog(int max)
    {
        private readonly StringBuilder _text = new();
        private readonly Lock _gate = new();
        private bool _cut;

        public int Length
        {
            get
            {
                lock (_gate)
                {
                    return _text.Length;
                }
            }
        }

        public void Append(string line)
        {
            lock (_gate)
            {
                if (_cut)
                {
                    return;
                }

                if (_text.Length + line.Length + 1 > max)
                {
                    _text.Append("[log cut: larger than ").Append(max).Append(" characters]\n");
                    _cut = true;
                    return;
                }

                _text.Append(line).Append('\n');
            }
        }

        public override string ToString()
        {
            lock (_gate)
            {
                return _text.ToString();
            }
        }
    }
}
