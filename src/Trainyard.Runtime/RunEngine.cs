using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Builtins;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.Runtime;

/// <summary>
/// The durable runtime: applies events to runs with the commit protocol of docs/architecture.md (load state + ETag, deliver any
/// pending outbox, decide, commit journal + snapshot + outbox conditionally on the ETag, send the outbox, mark it
/// delivered) and executes task attempts. Every entry point handles one message (or one batch), so a queue-triggered
/// function and the <see cref="LocalWorker"/> drive the same code. Thread-safe.
/// </summary>
public sealed class RunEngine
{
    // Timers arriving earlier than this are sent on again (chained long delays, queue clock skew).
    private static readonly TimeSpan TimerTolerance = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan ConflictMemory = TimeSpan.FromSeconds(2);

    // Stopping remote work must not hang a worker: a remote service that does not answer in time is left to its own limits.
    private static readonly TimeSpan RemoteCallBudget = TimeSpan.FromSeconds(30);
    private readonly IBackend _backend;
    private readonly RunEngineOptions _o;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, PipelineSpec> _specs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CachedRun> _states = new(StringComparer.Ordinal);
    private readonly AttemptRunner _runner;
    private readonly DispatchClaims _records;

    // Inline execution (RunEngineOptions.InlineBuiltins): outbox item ids of attempts running here, their queued
    // results per run, and the slots bounding how many run at once.
    private readonly ConcurrentDictionary<string, byte> _inlineInFlight = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, InlineResults> _inlineResults = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _inlineSlots;
    private readonly ConcurrentDictionary<Task, byte> _inlineTasks = new();
    private int _inlineExecuting; // inline attempts handed to RunInlineAsync and not yet done

    // Inline work runs under this engine-wide token, not the token of the call whose commit dispatched it (a start, an
    // API request, one control batch): it outlives that call and stops when the host stops (StopInlineAsync).
    private CancellationTokenSource _inlineStop = new();

    // Runs that saw an ETag conflict recently (timestamp): their cached state is not trusted to skip the load.
    private readonly ConcurrentDictionary<string, long> _conflicts = new(StringComparer.Ordinal);

    /// <summary>Creates an engine over a backend.</summary>
    public RunEngine(IBackend backend, RunEngineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        _backend = backend;
        _o = options ?? new RunEngineOptions();
        _log = (_o.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<RunEngine>();
        _runner = new AttemptRunner(new AttemptRunnerOptions
        {
            Artifacts = backend.Artifacts,
            Claims = backend.Store,
            Executors = _o.Executors,
            MissingExecutorHints = _o.MissingExecutorHints,
            TaskCache = _o.TaskCache,
            Time = _o.Time,
            WorkerId = _o.WorkerId,
            WorkRoot = _o.WorkRoot,
            ClaimDuration = _o.ClaimDuration,
            HeartbeatInterval = _o.HeartbeatInterval,
            MaxLogChars = _o.MaxLogChars,
            LoggerFactory = _o.LoggerFactory,
        });
        _records = _runner.Claims;
        ArgumentOutOfRangeException.ThrowIfLessThan(_o.MaxInlineTasks, 1, nameof(options));
        _inlineSlots = new SemaphoreSlim(_o.MaxInlineTasks, _o.MaxInlineTasks);
    }

    /// <summary>Raised after this engine sent messages to a queue (in-process workers of that queue wake up instead of polling).</summary>
    public event Action<IMessageQueue>? MessagesSent;

    /// <summary>Raised when this engine delivers a run's "finished" notification.</summary>
    public event Action<NotifyRunFinished>? RunFinished;

    /// <summary>The backend.</summary>
    public IBackend Backend => _backend;

    /// <summary>The options.</summary>
    public RunEngineOptions Options => _o;

    /// <summary>The decision function; tests may substitute it (default: <see cref="Decider.Decide"/>).</summary>
    internal Func<PipelineSpec, RunState?, RunEvent, Decision> Decide { get; set; } = Decider.Decide;

    /// <summary>Makes a parsed pipeline version known to this process (hosts that load specs themselves).</summary>
    public void RegisterSpec(PipelineSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentException.ThrowIfNullOrEmpty(spec.ContentHash, nameof(spec));
        _specs[spec.ContentHash] = spec;
    }

    /// <summary>
    /// Saves the pipeline version and commits RunStarted. With <see cref="StartRunRequest.RunId"/> set, starting an
    /// existing run returns its id and changes nothing. Throws <see cref="RunRequestException"/> for bad params or ids.
    /// </summary>
    public async Task<string> StartRunAsync(StartRunRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.Spec);
        ArgumentNullException.ThrowIfNull(request.SpecText);
        var hash = Sha256(request.SpecText);
        var spec = string.IsNullOrEmpty(request.Spec.ContentHash) ? request.Spec with { ContentHash = hash } : request.Spec;
        var parameters = ParamResolver.Resolve(spec, request.Params);
        var runId = request.RunId ?? NewRunId(spec.Name);
        ValidateRunId(runId);
        return await StartCoreAsync(spec, request.SpecText, runId, parameters, request.Trigger, null,
            new Dictionary<string, TaskResult>(), idempotent: request.RunId is not null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a new run of a failed or cancelled run's pipeline version and params that reuses the results of the tasks
    /// that succeeded (RunStarted.RetryOf/Reused). Returns the new run id.
    /// </summary>
    public async Task<string> RetryRunAsync(string runId, CancellationToken cancellationToken)
    {
        var state = await GetRunAsync(runId, cancellationToken).ConfigureAwait(false)
            ?? throw new RunRequestException($"Run '{runId}' does not exist; list runs with `trainyard runs`.");
        if (state.Status is RunStatus.Running or RunStatus.Succeeded)
        {
            throw new RunRequestException($"Run '{runId}' is {Lower(state.Status)}; only failed or cancelled runs can be retried.");
        }

        var spec = await GetSpecAsync(state.PipelineHash, cancellationToken).ConfigureAwait(false);
        var version = await _backend.Store.GetPipelineAsync(state.PipelineHash, cancellationToken).ConfigureAwait(false)
            ?? throw new RunRequestException($"Pipeline version {state.PipelineHash} of run '{runId}' is not stored; start a new run from the pipeline file.");
        var reused = state.Tasks.Values
            .Where(t => t.Status is Core.Engine.TaskStatus.Succeeded or Core.Engine.TaskStatus.Cached && t.Result is not null)
            .ToDictionary(t => t.TaskKey, t => t.Result!, StringComparer.Ordinal);
        var newId = NewRunId(spec.Name);
        return await StartCoreAsync(spec, version.SpecText, newId, new Dictionary<string, JsonElement>(state.Params), new TriggerInfo("retry", runId),
            runId, reused, idempotent: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Asks a run to cancel (applied at once; in-flight tasks are told through their cancel flags).</summary>
    public Task CancelRunAsync(string runId, string reason, CancellationToken cancellationToken)
        => ApplyDirectAsync(runId, new CancelRequested(string.IsNullOrWhiteSpace(reason) ? "cancelled on request" : reason)
        {
            EventId = $"cancel:{Guid.NewGuid():N}",
            At = _o.Time.GetUtcNow(),
        }, cancellationToken);

    /// <summary>Delivers an external event (e.g. an approval) to a run. The same <paramref name="eventId"/> twice applies once.</summary>
    public Task RaiseEventAsync(string runId, string name, JsonElement payload, CancellationToken cancellationToken, string? eventId = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return ApplyDirectAsync(runId, new EventRaised(name, payload.Clone())
        {
            EventId = eventId ?? $"event:{name}:{Guid.NewGuid():N}",
            At = _o.Time.GetUtcNow(),
        }, cancellationToken);
    }

    /// <summary>
    /// Continues a run after a crash: delivers its pending outbox (the queues hold the rest). Returns its state, or null
    /// when the run does not exist.
    /// </summary>
    public async Task<RunState?> ResumeRunAsync(string runId, CancellationToken cancellationToken)
    {
        var stored = await _backend.Store.LoadAsync(runId, cancellationToken).ConfigureAwait(false);
        if (stored is null)
        {
            return null;
        }

        // An explicit resume delivers everything, attempts with live claims too: their copies wait out the claim of
        // the (presumably dead) holder and then take over.
        await DeliverAsync(runId, stored.PendingOutbox, cancellationToken).ConfigureAwait(false);
        return StateOf(stored);
    }

    /// <summary>
    /// For a stopping host: cancels the attempts this engine runs inline (each releases its claim and hands itself to
    /// the work queue, where any worker runs it under the same dispatch id) and waits until they, and the commits of
    /// results already in, are over. Inline execution goes on afterwards for new commits. Returns false when
    /// <paramref name="timeout"/> passed first; whatever is still pending stays in the run's outbox for recovery.
    /// </summary>
    public async Task<bool> StopInlineAsync(TimeSpan timeout)
    {
        // Not disposed: a commit that read the old source a moment ago may still ask it for its (now cancelled) token.
        await Interlocked.Exchange(ref _inlineStop, new CancellationTokenSource()).CancelAsync().ConfigureAwait(false);
        using var limit = new CancellationTokenSource(timeout, _o.Time);
        while (!_inlineTasks.IsEmpty)
        {
            try
            {
                await Task.WhenAll(_inlineTasks.Keys).WaitAsync(limit.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (limit.IsCancellationRequested)
            {
                return false;
            }
        }

        return true;
    }

    private void Track(Task task)
    {
        _inlineTasks[task] = 0;
        _ = task.ContinueWith(t => _inlineTasks.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>
    /// One sweep for stalled outbox items: delivers the pending items of running runs that were already pending at the
    /// previous sweep (<paramref name="pendingBefore"/>, keys as returned in <see cref="StalledSweep.Pending"/>; null: the
    /// first sweep of a host, every pending item counts) and are
    /// not being executed: not inline here, and for task attempts no live claim anywhere. That is what a host killed
    /// while running attempts inline (or between a commit and its delivery) leaves behind when no other message of the
    /// run comes to load it again. Long-lived workers call it periodically (<see cref="LocalWorkerOptions.RecoverEvery"/>).
    /// </summary>
    public async Task<StalledSweep> RecoverStalledAsync(IReadOnlySet<string>? pendingBefore, CancellationToken cancellationToken)
    {
        var pending = new HashSet<string>(StringComparer.Ordinal);
        var delivered = 0;
        var runs = 0;
        var running = await _backend.Store.ListRunsAsync(new RunQuery { Status = "running", Limit = 10_000 }, cancellationToken).ConfigureAwait(false);
        foreach (var run in running)
        {
            var stored = await _backend.Store.LoadAsync(run.RunId, cancellationToken).ConfigureAwait(false);
            if (stored is not { PendingOutbox.Count: > 0 })
            {
                continue;
            }

            var stalled = new List<OutboxItem>();
            foreach (var item in stored.PendingOutbox)
            {
                if (_inlineInFlight.ContainsKey(item.Id))
                {
                    continue;
                }

                var key = run.RunId + "\n" + item.Id;
                pending.Add(key);
                if (pendingBefore is not null && !pendingBefore.Contains(key))
                {
                    continue;
                }

                if (await HeldByLiveClaimAsync(item, cancellationToken).ConfigureAwait(false))
                {
                    continue;
                }

                stalled.Add(item);
            }

            if (stalled.Count > 0)
            {
                EngineLog.StalledDelivered(_log, run.RunId, stalled.Count);
                await DeliverAsync(run.RunId, stalled, cancellationToken).ConfigureAwait(false);
                delivered += stalled.Count;
                runs++;
                pending.ExceptWith(stalled.Select(i => run.RunId + "\n" + i.Id));
            }
        }

        return new StalledSweep(pending, delivered) { Runs = runs };
    }

    /// <summary>
    /// Delivers the pending outboxes of running runs: repairs a crash between a commit and its delivery when no queue
    /// message is left that would load the run again (e.g. right after StartRun). Task attempts with a live claim are
    /// left for the holder (or for a later sweep, once the claim has expired). Returns how many runs had items delivered.
    /// </summary>
    public async Task<int> RecoverPendingAsync(CancellationToken cancellationToken)
        => (await RecoverStalledAsync(null, cancellationToken).ConfigureAwait(false)).Runs;

    /// <summary>A run's current state, or null when it does not exist.</summary>
    public async Task<RunState?> GetRunAsync(string runId, CancellationToken cancellationToken)
    {
        var stored = await _backend.Store.LoadAsync(runId, cancellationToken).ConfigureAwait(false);
        return stored is null ? null : StateOf(stored);
    }

    /// <summary>A run's journal as events, in order.</summary>
    public async Task<IReadOnlyList<RunEvent>> ReadJournalAsync(string runId, CancellationToken cancellationToken)
    {
        var entries = await _backend.Store.ReadJournalAsync(runId, cancellationToken).ConfigureAwait(false);
        return [.. entries.Select(e => JsonSerializer.Deserialize<RunEvent>(e.EventJson, EngineJson.Options)!)];
    }

    /// <summary>Parses a control-queue body; false with a reason when it is not a control message.</summary>
    public static bool TryParseControl(string body, out ControlMessage? message, out string? error)
        => TryParse(body, out message, out error, m => m.RunId is not null && m.Event is not null);

    /// <summary>Parses a work-queue body; false with a reason when it is not a work message.</summary>
    public static bool TryParseWork(string body, out WorkMessage? message, out string? error)
        => TryParse(body, out message, out error, m => m.Work?.DispatchId is not null && m.Work.RunId is not null);

    /// <summary>
    /// Applies a batch of control messages: grouped by run, one commit per run (journal = inbound events that changed
    /// something + the decider's recorded events), then the outbox is sent. Never throws for bad messages: unknown
    /// runs are reported in <see cref="ControlBatchResult.Rejected"/>, transient failures in <see cref="ControlBatchResult.Failed"/>.
    /// </summary>
    public async Task<ControlBatchResult> HandleControlAsync(IReadOnlyList<ControlMessage> batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var applied = new List<string>();
        var rejected = new List<RejectedMessage>();
        var failed = new Dictionary<string, Exception>(StringComparer.Ordinal);
        foreach (var group in batch.GroupBy(m => m.RunId, StringComparer.Ordinal))
        {
            // Results of concurrent workers arrive in any order: applying them by time keeps the journal's times
            // monotonic (a task dispatched by the last result never starts before an earlier-applied one finished).
            var events = group.Select(m => m.Event).OrderBy(e => e.At).ToList();
            try
            {
                if (await ApplyAsync(group.Key, events, cancellationToken).ConfigureAwait(false))
                {
                    applied.Add(group.Key);
                }
                else
                {
                    foreach (var e in events)
                    {
                        var reason = $"run '{group.Key}' does not exist (deleted, or never started)";
                        EngineLog.Rejected(_log, group.Key, e.EventId, reason);
                        rejected.Add(new RejectedMessage(group.Key, e.EventId, reason));
                    }
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                EngineLog.ApplyFailed(_log, e, group.Key, events.Count);
                failed[group.Key] = e;
            }
        }

        return new ControlBatchResult { Applied = applied, Rejected = rejected, Failed = failed };
    }

    /// <summary>
    /// How long another holder's live claim on an attempt still runs (it is executing the attempt now), or null. A copy of
    /// the work message met meanwhile is a duplicate, not a message that keeps failing: hosts must not count its
    /// deliveries toward their poison threshold.
    /// </summary>
    public Task<TimeSpan?> LiveClaimAsync(string dispatchId, CancellationToken cancellationToken) =>
        _o.ClaimDispatches ? _records.LiveClaimAsync(dispatchId, cancellationToken) : Task.FromResult<TimeSpan?>(null);

    /// <summary>
    /// True when an attempt needs no more work: it was executed (its claim says done, or the run holds its result), it
    /// was cancelled, or its run finished. A host's poison check asks this before quarantining a work message that
    /// came back too often: a duplicate that outlived its attempt is dropped, not reported as a failure.
    /// </summary>
    public async Task<bool> IsSettledAsync(TaskWorkItem work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        return (_o.ClaimDispatches && await _records.IsSettledAsync(work.DispatchId, cancellationToken).ConfigureAwait(false))
            || await ResultAppliedAsync(work, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Executes one work message: skips attempts that are done, cancelled or claimed by another worker, runs the
    /// executor in a per-attempt working folder, stores the task log at `{OutputPrefix}log.txt`, and reports
    /// TaskSucceeded/TaskFailed to the control queue (event id derived from the dispatch id, so duplicates drop).
    /// </summary>
    public async Task<WorkResult> ExecuteWorkAsync(WorkMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var (result, report, claim) = await ExecuteCoreAsync(message, cancellationToken).ConfigureAwait(false);
        if (report is not null)
        {
            await SendReportAsync(message.Work, report, claim, cancellationToken).ConfigureAwait(false);
            FaultInjection.Hit(FaultInjection.BeforeComplete);
        }

        return result;
    }

    /// <summary>Claims and executes one attempt; returns the result event to report (null when nothing is to be reported).</summary>
    private async Task<(WorkResult Result, RunEvent? Report, AttemptClaim Claim)> ExecuteCoreAsync(WorkMessage message, CancellationToken cancellationToken)
    {
        var work = message.Work;
        var claim = new AttemptClaim(null, $"{_o.WorkerId}/{Guid.NewGuid():N}");
        if (Superseded(work) is { } why)
        {
            EngineLog.WorkSkipped(_log, work.DispatchId, work.TaskKey, why);
            return (new WorkResult(WorkResultKind.Skipped, why), null, claim);
        }

        if (_o.ClaimDispatches)
        {
            var c = await _records.TryClaimAsync(work.DispatchId, claim.Owner, cancellationToken).ConfigureAwait(false);
            switch (c.Outcome)
            {
                case DispatchClaims.ClaimOutcome.Done:
                    EngineLog.WorkSkipped(_log, work.DispatchId, work.TaskKey, "already executed");
                    return (new WorkResult(WorkResultKind.Skipped, "already executed"), null, claim);
                case DispatchClaims.ClaimOutcome.Cancelled:
                    EngineLog.WorkSkipped(_log, work.DispatchId, work.TaskKey, "cancelled");
                    await _runner.StopRemoteAsync(work, message.ResumeState is not null, cancellationToken).ConfigureAwait(false);
                    return (new WorkResult(WorkResultKind.Skipped, "cancelled"), null, claim);
                case DispatchClaims.ClaimOutcome.Busy:
                    return (new WorkResult(WorkResultKind.Busy, "claimed by another worker") { RetryAfter = c.RetryAfter }, null, claim);
            }

            claim.ETag = c.ETag;
            if (c.TookOver && await ResultAppliedAsync(work, cancellationToken).ConfigureAwait(false))
            {
                // An inline attempt's claim is not marked done (its result commit is the mark): a copy of its work
                // message that outlived the claim finds the result in the run instead.
                await _records.MarkDoneAsync(work.DispatchId, claim.ETag!, claim.Owner, cancellationToken).ConfigureAwait(false);
                EngineLog.WorkSkipped(_log, work.DispatchId, work.TaskKey, "already executed");
                return (new WorkResult(WorkResultKind.Skipped, "already executed"), null, claim);
            }
        }
        else if (await _records.IsCancelledAsync(work.DispatchId, cancellationToken).ConfigureAwait(false))
        {
            await _runner.StopRemoteAsync(work, message.ResumeState is not null, cancellationToken).ConfigureAwait(false);
            return (new WorkResult(WorkResultKind.Skipped, "cancelled"), null, claim);
        }

        var (outcome, timedOut) = await _runner.ExecuteAsync(work, message.ResumeState, claim, cancellationToken).ConfigureAwait(false);

        var at = _o.Time.GetUtcNow();
        RunEvent report;
        WorkResult result;
        switch (outcome)
        {
            case null:
                EngineLog.TaskDone(_log, work.RunId, work.TaskKey, work.Attempt, "cancelled");
                return (new WorkResult(WorkResultKind.Cancelled, "cancelled while running"), null, claim);
            case TaskOutcome.Pending p:
                var poll = message with { ResumeState = p.State, Poll = message.Poll + 1 };
                await _backend.Work.SendAsync(
                    [new OutgoingMessage($"{work.DispatchId}:poll{poll.Poll}", JsonSerializer.Serialize(poll, EngineJson.Options), ClampDelay(p.PollAfter))],
                    cancellationToken).ConfigureAwait(false);
                if (claim.ETag is not null)
                {
                    await _records.ReleaseAsync(work.DispatchId, claim.ETag, claim.Owner, cancellationToken).ConfigureAwait(false);
                }

                MessagesSent?.Invoke(_backend.Work);
                return (new WorkResult(WorkResultKind.Pending, $"poll {poll.Poll} after {p.PollAfter}"), null, claim);
            case TaskOutcome.Succeeded s:
                report = new TaskSucceeded(work.TaskKey, work.DispatchId, s.Result) { EventId = ResultEventId(work), At = at };
                result = new WorkResult(WorkResultKind.Succeeded);
                break;
            case TaskOutcome.Failed f:
                report = new TaskFailed(work.TaskKey, work.DispatchId, f.Error)
                {
                    EventId = ResultEventId(work), At = at, Retryable = f.Retryable, ExitCode = f.ExitCode, TimedOut = timedOut,
                };
                result = new WorkResult(WorkResultKind.Failed, f.Error);
                break;
            default:
                throw new InvalidOperationException($"Executor for {work.Executor} returned an unknown outcome {outcome.GetType().Name}.");
        }

        EngineLog.TaskDone(_log, work.RunId, work.TaskKey, work.Attempt, Lower(result.Kind));
        return (result, report, claim);
    }

    /// <summary>Sends a result to the control queue, then marks the attempt's claim done (later copies are skipped).</summary>
    private async Task SendReportAsync(TaskWorkItem work, RunEvent report, AttemptClaim claim, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.Serialize(new ControlMessage(work.RunId, report), EngineJson.Options);
        await _backend.Control.SendAsync([new OutgoingMessage(report.EventId, body)], cancellationToken).ConfigureAwait(false);
        MessagesSent?.Invoke(_backend.Control);
        if (claim.ETag is not null)
        {
            await _records.MarkDoneAsync(work.DispatchId, claim.ETag, claim.Owner, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>True when the run already holds this attempt's result (or is finished, or gone): executing it again would be a duplicate.</summary>
    private async Task<bool> ResultAppliedAsync(TaskWorkItem work, CancellationToken cancellationToken)
    {
        var stored = await _backend.Store.LoadAsync(work.RunId, cancellationToken).ConfigureAwait(false);
        if (stored is null)
        {
            return true;
        }

        var state = StateOf(stored);
        return state.Status != RunStatus.Running
            || !state.Tasks.TryGetValue(work.TaskKey, out var t)
            || t.Attempt > work.Attempt
            || (t.Attempt == work.Attempt && !t.InFlight);
    }

    private string? Superseded(TaskWorkItem work)
    {
        if (!_states.TryGetValue(work.RunId, out var cached))
        {
            return null;
        }

        if (cached.State.Status != RunStatus.Running)
        {
            return $"run is {Lower(cached.State.Status)}";
        }

        if (cached.State.Tasks.TryGetValue(work.TaskKey, out var t) && t.Attempt > work.Attempt)
        {
            return $"attempt {work.Attempt} was superseded by attempt {t.Attempt}";
        }

        return null;
    }

    private async Task<string> StartCoreAsync(PipelineSpec spec, string specText, string runId, IReadOnlyDictionary<string, JsonElement> parameters,
        TriggerInfo trigger, string? retryOf, IReadOnlyDictionary<string, TaskResult> reused, bool idempotent, CancellationToken ct)
    {
        if (idempotent && await _backend.Store.LoadAsync(runId, ct).ConfigureAwait(false) is { } existing)
        {
            await DeliverAsync(runId, existing.PendingOutbox, ct).ConfigureAwait(false);
            return runId;
        }

        CheckExecutors(spec);
        _specs[spec.ContentHash] = spec;
        var now = _o.Time.GetUtcNow();
        await _backend.Store.SavePipelineAsync(new PipelineVersion(spec.Name, spec.ContentHash, specText, now) { Source = spec.Source }, ct).ConfigureAwait(false);
        var started = new RunStarted
        {
            EventId = $"{runId}:start",
            At = now,
            RunId = runId,
            PipelineName = spec.Name,
            PipelineHash = spec.ContentHash,
            Params = parameters,
            Trigger = trigger,
            RetryOf = retryOf,
            Reused = reused,
        };
        var decision = Decide(spec, null, started);
        var entries = new List<RunEvent>(decision.Recorded.Count + 1) { started };
        entries.AddRange(decision.Recorded);
        var commands = decision.Commands.ToList();
        var outbox = commands.Select(ToOutbox).ToList();
        var state = decision.State with { Version = entries.Count };
        string etag;
        try
        {
            etag = await CommitAsync(runId, null, state, entries, 0, outbox, [], ct).ConfigureAwait(false);
            Remember(runId, etag, state);
        }
        catch (ConcurrencyException) when (idempotent)
        {
            return runId;
        }
        catch (ConcurrencyException e)
        {
            throw new RunRequestException($"Run '{runId}' already exists; choose another run id. ({e.Message})");
        }

        EngineLog.RunStarted(_log, runId, spec.Name, spec.ContentHash);
        FaultInjection.Hit(FaultInjection.AfterCommit);
        await DeliverCommittedAsync(runId, etag, commands, outbox, ct).ConfigureAwait(false);
        return runId;
    }

    private async Task ApplyDirectAsync(string runId, RunEvent evt, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(runId);
        if (!await ApplyAsync(runId, [evt], ct).ConfigureAwait(false))
        {
            throw new RunRequestException($"Run '{runId}' does not exist; list runs with `trainyard runs`.");
        }
    }

    /// <summary>
    /// Applies events to one run with bounded retries on ETag conflicts. False when the run does not exist.
    /// <paramref name="delivered"/>: pending outbox items (inline attempts) whose results these events are, removed in
    /// the same commit.
    /// </summary>
    private async Task<bool> ApplyAsync(string runId, IReadOnlyList<RunEvent> events, CancellationToken ct, IReadOnlyList<string>? delivered = null, Committer? committer = null)
    {
        delivered ??= [];
        for (var attempt = 1; ; attempt++)
        {
            RunState loaded;
            string loadedETag;
            var unverified = false;
            if (attempt == 1 && Trusted(runId) is { } cached)
            {
                // This process made the run's last commit and delivered its outbox: the ETag decides whether that is
                // still the stored state (a conflict reloads), so the load is skipped.
                (loaded, loadedETag) = (cached.State, cached.ETag);
                unverified = true;
            }
            else
            {
                var stored = await _backend.Store.LoadAsync(runId, ct).ConfigureAwait(false);
                if (stored is null)
                {
                    return false;
                }

                await RedeliverAsync(runId, stored.PendingOutbox, ct).ConfigureAwait(false);
                (loaded, loadedETag) = (StateOf(stored), stored.ETag);
            }

            var state = loaded;
            var spec = await GetSpecAsync(state.PipelineHash, ct).ConfigureAwait(false);
            var entries = new List<RunEvent>();
            var commands = new List<RunCommand>();
            var early = new List<RunEvent>();
            var now = _o.Time.GetUtcNow();
            foreach (var evt in events)
            {
                if (evt is TimerFired && evt.At > now + TimerTolerance)
                {
                    early.Add(evt);
                    continue;
                }

                var decision = Decide(spec, state, evt);
                if (decision.Duplicate)
                {
                    continue;
                }

                entries.Add(evt);
                entries.AddRange(decision.Recorded);
                commands.AddRange(decision.Commands);
                state = decision.State;
            }

            if (entries.Count == 0 && unverified)
            {
                // Nothing to commit means no ETag check: an older state than the stored one may have judged an event
                // a duplicate (say, the result of a task another process dispatched meanwhile). Decide on a load.
                continue;
            }

            if (early.Count > 0)
            {
                // A timer longer than the queue's longest delay arrives early: send it on for the rest of the wait.
                await _backend.Control.SendAsync(
                    [.. early.Select(e => new OutgoingMessage(e.EventId, JsonSerializer.Serialize(new ControlMessage(runId, e), EngineJson.Options), ClampDelay(e.At - now)))],
                    ct).ConfigureAwait(false);
            }

            if (entries.Count == 0)
            {
                if (delivered.Count > 0)
                {
                    await _backend.Store.MarkDeliveredAsync(runId, delivered, ct).ConfigureAwait(false);
                }

                return true;
            }

            var baseVersion = loaded.Version;
            state = state with { Version = baseVersion + entries.Count };
            var outbox = commands.Select(ToOutbox).ToList();
            string etag;
            try
            {
                etag = await CommitAsync(runId, loadedETag, state, entries, baseVersion, outbox, delivered, ct).ConfigureAwait(false);
                Remember(runId, etag, state);
            }
            catch (ConcurrencyException) when (attempt < _o.MaxCommitAttempts)
            {
                EngineLog.Conflict(_log, runId, attempt);
                _states.TryRemove(runId, out _);
                _conflicts[runId] = _o.Time.GetTimestamp();
                if (attempt > 2)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(1, 5 * attempt)), _o.Time, ct).ConfigureAwait(false);
                }

                continue;
            }

            FaultInjection.Hit(FaultInjection.AfterCommit);
            await DeliverCommittedAsync(runId, etag, commands, outbox, ct, committer).ConfigureAwait(false);
            return true;
        }
    }

    private Task<string> CommitAsync(string runId, string? etag, RunState state, List<RunEvent> entries, long baseVersion, List<OutboxItem> outbox,
        IReadOnlyList<string> delivered, CancellationToken ct)
    {
        var journal = new List<JournalEntry>(entries.Count);
        for (var i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            journal.Add(new JournalEntry(baseVersion + i + 1, e.GetType().Name, JsonSerializer.Serialize(e, EngineJson.Options), e.At));
        }

        return _backend.Store.CommitAsync(new RunCommit
        {
            RunId = runId,
            ExpectedETag = etag,
            SnapshotJson = SnapshotWriter.Serialize(state),
            NewEntries = journal,
            Outbox = outbox,
            Delivered = delivered,
            Summary = Summarize(state),
        }, ct);
    }

    /// <summary>
    /// Delivers a commit's outbox. With <see cref="RunEngineOptions.InlineBuiltins"/>, attempts of built-in steps are
    /// run here instead of going through the work queue: their outbox items stay pending (a crash leaves them to be
    /// delivered to the work queue by the next load or recovery) until the commit that records their result removes them.
    /// </summary>
    private async Task DeliverCommittedAsync(string runId, string etag, List<RunCommand> commands, List<OutboxItem> outbox, CancellationToken ct, Committer? committer = null)
    {
        List<(OutboxItem Item, WorkMessage Message)>? inline = null;
        if (_o.InlineBuiltins)
        {
            for (var i = 0; i < commands.Count; i++)
            {
                if (commands[i] is DispatchTask { Work.Executor: ExecutorKind.Builtin } d && (_o.InlineFilter?.Invoke(d.Work) ?? true) && _inlineInFlight.TryAdd(outbox[i].Id, 0))
                {
                    (inline ??= []).Add((outbox[i], new WorkMessage(d.Work)));
                }
            }
        }

        if (inline is null)
        {
            await DeliverAsync(runId, outbox, ct).ConfigureAwait(false);
            Trust(runId, etag);
            return;
        }

        try
        {
            var ids = inline.Select(i => i.Item.Id).ToHashSet(StringComparer.Ordinal);
            await DeliverAsync(runId, [.. outbox.Where(o => !ids.Contains(o.Id))], ct).ConfigureAwait(false);
        }
        catch
        {
            foreach (var (item, _) in inline)
            {
                _inlineInFlight.TryRemove(item.Id, out _);
            }

            throw;
        }

        Trust(runId, etag);
        var inlineCt = Volatile.Read(ref _inlineStop).Token;
        if (Interlocked.Add(ref _inlineExecuting, inline.Count) == 1 && committer is not null)
        {
            // The run's committer dispatched one attempt and no other inline attempt is running: it runs the attempt
            // itself and commits its result next, instead of two thread-pool hops per step of a chain (one to run the
            // step, one to start a committer). It gives up the committer role meanwhile, so a result that arrives
            // while a long step runs starts a committer of its own instead of waiting for the step.
            lock (committer.Box.Gate)
            {
                committer.Box.Pumping = false;
            }

            committer.Released = true;
            await RunInlineAsync(runId, inline[0].Item, inline[0].Message, inlineCt, committer.Box).ConfigureAwait(false);
            return;
        }

        foreach (var (item, message) in inline)
        {
            Track(Task.Run(() => RunInlineAsync(runId, item, message, inlineCt), CancellationToken.None));
        }
    }

    /// <summary>Executes one inline attempt and queues its result for the run's next commit.</summary>
    /// <remarks>The caller counted the attempt in <see cref="_inlineExecuting"/>; it is uncounted here when done.</remarks>
    /// <paramref name="released"/>: the box of a committer that runs this attempt itself; the result goes there and that
    /// committer takes its role back.
    private async Task RunInlineAsync(string runId, OutboxItem item, WorkMessage message, CancellationToken ct, InlineResults? released = null)
    {
        var queued = false;
        try
        {
            await _inlineSlots.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                var (result, report, claim) = await ExecuteCoreAsync(message, ct).ConfigureAwait(false);
                if (report is not null)
                {
                    QueueInlineResult(runId, new InlineResult(item, message.Work, report, claim), ct, released);
                    queued = true;
                }
                else if (result.Kind == WorkResultKind.Busy)
                {
                    // Another worker holds this attempt (its work message was delivered by another process): leave it there.
                    _inlineInFlight.TryRemove(item.Id, out _);
                    await DeliverAsync(runId, [item], ct).ConfigureAwait(false);
                }
                else
                {
                    // Skipped, cancelled, or pending (a poll message now carries the attempt).
                    await _backend.Store.MarkDeliveredAsync(runId, [item.Id], ct).ConfigureAwait(false);
                }
            }
            finally
            {
                _inlineSlots.Release();
            }
        }
#pragma warning disable CA1031 // The item stays pending in the outbox: the next load or recovery sends it to the work queue.
        catch (Exception e)
#pragma warning restore CA1031
        {
            if (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                EngineLog.InlineFailed(_log, e, runId, item.Id);
            }

            // Failed, or the host is stopping (the attempt's claim was released): the work queue takes the attempt, so a
            // worker elsewhere runs it under the same dispatch id now rather than after the next load of the run.
            await HandOverAsync(runId, [item]).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _inlineExecuting);
            if (!queued)
            {
                _inlineInFlight.TryRemove(item.Id, out _);
            }
        }
    }

    private void QueueInlineResult(string runId, InlineResult result, CancellationToken ct, InlineResults? released = null)
    {
        // The released committer's box, even if another committer has retired it meanwhile: its owner takes it back.
        var box = released ?? _inlineResults.GetOrAdd(runId, _ => new InlineResults());
        bool start;
        lock (box.Gate)
        {
            box.Items.Add(result);
            start = !box.Pumping && released is null;
            box.Pumping |= start;
        }

        if (start)
        {
            Track(Task.Run(() => CommitInlineResultsAsync(runId, box, ct), CancellationToken.None));
        }
    }

    /// <summary>
    /// Group commit: every result queued while the previous commit of the run was in flight goes into the next one,
    /// together with the removal of the attempts' outbox items.
    /// </summary>
    private async Task CommitInlineResultsAsync(string runId, InlineResults box, CancellationToken ct)
    {
        var committer = new Committer(box);
        while (true)
        {
            List<InlineResult> batch;
            lock (box.Gate)
            {
                if (committer.Released)
                {
                    // This committer ran an attempt itself with its role given up: take the role back, unless a
                    // result that arrived meanwhile started another committer (which then applies everything).
                    if (box.Pumping)
                    {
                        return;
                    }

                    box.Pumping = true;
                    committer.Released = false;
                }

                if (box.Items.Count == 0)
                {
                    box.Pumping = false;
                    _inlineResults.TryRemove(new KeyValuePair<string, InlineResults>(runId, box));
                    return;
                }

                batch = [.. box.Items];
                box.Items.Clear();
            }

            try
            {
                await ApplyAsync(runId, [.. batch.Select(b => b.Report).OrderBy(e => e.At)], ct, [.. batch.Select(b => b.Item.Id)], committer).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // Falls back to the durable path: results go through the control queue like a worker's.
            catch (Exception e)
#pragma warning restore CA1031
            {
                if (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    EngineLog.ApplyFailed(_log, e, runId, batch.Count);
                }

                foreach (var b in batch)
                {
                    try
                    {
                        // The result is durable in the control queue and the claim says done: the dispatch is delivered.
                        await SendReportAsync(b.Work, b.Report, b.Claim, CancellationToken.None).ConfigureAwait(false);
                        await _backend.Store.MarkDeliveredAsync(runId, [b.Item.Id], CancellationToken.None).ConfigureAwait(false);
                    }
#pragma warning disable CA1031 // Lost only if the store is gone too: the pending outbox item re-runs the attempt.
                    catch (Exception inner)
#pragma warning restore CA1031
                    {
                        EngineLog.InlineFailed(_log, inner, runId, b.Item.Id);
                    }
                }
            }
            finally
            {
                foreach (var b in batch)
                {
                    _inlineInFlight.TryRemove(b.Item.Id, out _);
                }
            }
        }
    }

    /// <summary>Sends inline items to the work queue (best effort: they stay pending in the outbox otherwise).</summary>
    private async Task HandOverAsync(string runId, IReadOnlyList<OutboxItem> items)
    {
        foreach (var i in items)
        {
            _inlineInFlight.TryRemove(i.Id, out _);
        }

        try
        {
            await DeliverAsync(runId, items, CancellationToken.None).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Still pending in the outbox; the next load of the run delivers it.
        catch (Exception e)
#pragma warning restore CA1031
        {
            EngineLog.InlineFailed(_log, e, runId, items[0].Id);
        }
    }

    /// <summary>
    /// Delivers pending items found on a load (not this process's fresh commit). A task attempt with a live claim is
    /// being executed right now (typically inline by the process that committed it, which removes the item with its
    /// result): a copy would only wait on the claim and then be skipped, at about seven storage requests, so it is left
    /// pending for one claim read. If its holder dies, the claim expires and a later load or sweep delivers it.
    /// </summary>
    private async Task RedeliverAsync(string runId, IReadOnlyList<OutboxItem> items, CancellationToken ct)
    {
        if (items.Count == 0)
        {
            return;
        }

        var deliver = new List<OutboxItem>(items.Count);
        foreach (var item in items)
        {
            // Own inline attempts need no claim read: DeliverAsync leaves them to the commit of their result.
            if (_inlineInFlight.ContainsKey(item.Id) || !await HeldByLiveClaimAsync(item, ct).ConfigureAwait(false))
            {
                deliver.Add(item);
            }
        }

        await DeliverAsync(runId, deliver, ct).ConfigureAwait(false);
    }

    /// <summary>True for a pending task attempt that some holder is executing now (its claim is live).</summary>
    private async Task<bool> HeldByLiveClaimAsync(OutboxItem item, CancellationToken ct) =>
        item.Target == OutboxTarget.Work && TryParseWork(item.Body, out var work, out _)
            && await LiveClaimAsync(work!.Work.DispatchId, ct).ConfigureAwait(false) is not null;

    private async Task DeliverAsync(string runId, IReadOnlyList<OutboxItem> items, CancellationToken ct)
    {
        if (!_inlineInFlight.IsEmpty && items.Any(i => _inlineInFlight.ContainsKey(i.Id)))
        {
            // Attempts running inline in this process are delivered by the commit that records their results.
            items = [.. items.Where(i => !_inlineInFlight.ContainsKey(i.Id))];
        }

        if (items.Count == 0)
        {
            return;
        }

        var now = _o.Time.GetUtcNow();
        var control = new List<OutgoingMessage>();
        var work = new List<OutgoingMessage>();
        var notify = new List<NotifyRunFinished>();
        foreach (var item in items)
        {
            var delay = item.VisibleAt is { } v && v > now ? ClampDelay(v - now) : (TimeSpan?)null;
            switch (item.Target)
            {
                case OutboxTarget.Control:
                    control.Add(new OutgoingMessage(item.Id, item.Body, delay));
                    break;
                case OutboxTarget.Work:
                    work.Add(new OutgoingMessage(item.Id, item.Body, delay));
                    break;
                case OutboxTarget.Cancel:
                    var cancel = (CancelTask)JsonSerializer.Deserialize<RunCommand>(item.Body, EngineJson.Options)!;
                    await _runner.CancelLocalAsync(cancel.DispatchId).ConfigureAwait(false);

                    await _records.CancelAsync(cancel.DispatchId, ct).ConfigureAwait(false);
                    break;
                case OutboxTarget.Notify:
                    notify.Add((NotifyRunFinished)JsonSerializer.Deserialize<RunCommand>(item.Body, EngineJson.Options)!);
                    break;
                default:
                    throw new InvalidOperationException($"Outbox item '{item.Id}' of run '{runId}' has unknown target {item.Target}; upgrade this host.");
            }
        }

        if (control.Count > 0)
        {
            await _backend.Control.SendAsync(control, ct).ConfigureAwait(false);
        }

        if (work.Count > 0)
        {
            await _backend.Work.SendAsync(work, ct).ConfigureAwait(false);
            FaultInjection.Hit(FaultInjection.AfterDispatch);
        }

        foreach (var n in notify)
        {
            EngineLog.RunFinished(_log, n.RunId, Lower(n.Status));
            // Not cut short by a stopping worker (its own budget bounds it): a host that stops right after the run
            // ended would otherwise leave the run's remote jobs running until the notification is re-sent.
            await ReleaseRemoteAsync(n, CancellationToken.None).ConfigureAwait(false);
            foreach (var notifier in _o.Notifiers)
            {
                try
                {
                    await notifier.NotifyAsync(n, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A broken notifier must not keep the outbox pending forever (it would re-send every command).
                    EngineLog.NotifierFailed(_log, e, notifier.GetType().Name, n.RunId);
                }
            }
        }

        await _backend.Store.MarkDeliveredAsync(runId, [.. items.Select(i => i.Id)], ct).ConfigureAwait(false);
        if (control.Count > 0)
        {
            MessagesSent?.Invoke(_backend.Control);
        }

        if (work.Count > 0)
        {
            MessagesSent?.Invoke(_backend.Work);
        }

        foreach (var n in notify)
        {
            RunFinished?.Invoke(n);
        }
    }

    private OutboxItem ToOutbox(RunCommand command) => command switch
    {
        DispatchTask d => new OutboxItem(d.CommandId, OutboxTarget.Work, JsonSerializer.Serialize(new WorkMessage(d.Work), EngineJson.Options), null),
        ScheduleTimer t => new OutboxItem(t.CommandId, OutboxTarget.Control,
            JsonSerializer.Serialize(new ControlMessage(t.RunId, new TimerFired(t.TimerId) { EventId = t.CommandId, At = t.FireAt }), EngineJson.Options), t.FireAt),
        CancelTask c => new OutboxItem(c.CommandId, OutboxTarget.Cancel, JsonSerializer.Serialize<RunCommand>(c, EngineJson.Options), null),
        NotifyRunFinished n => new OutboxItem(n.CommandId, OutboxTarget.Notify, JsonSerializer.Serialize<RunCommand>(n, EngineJson.Options), null),
        _ => throw new InvalidOperationException($"The decider returned an unknown command {command.GetType().Name}; upgrade the runtime."),
    };

    /// <summary>Refuses, before anything is stored, a run with a step on an executor this host lacks (not halfway through the run).</summary>
    private void CheckExecutors(PipelineSpec spec)
    {
        foreach (var step in spec.Steps)
        {
            var kind = step.EffectiveExecutor(spec.Defaults);
            if (!_runner.HasExecutor(kind))
            {
                var hint = _o.MissingExecutorHints.TryGetValue(kind, out var h) ? h : "run the pipeline on a host that has one, or change the step's executor";
                throw new RunRequestException($"Step '{step.Id}' of pipeline '{spec.Name}' runs on executor {Lower(kind)}, which this host ({_o.WorkerId}) does not have: {hint}.");
            }
        }
    }

    /// <summary>Tells remote executors that served a finished run to release what it held (e.g. its Batch job). Best effort.</summary>
    private async Task ReleaseRemoteAsync(NotifyRunFinished finished, CancellationToken ct)
    {
        var remotes = _runner.RemoteExecutors.ToList();
        if (remotes.Count == 0)
        {
            return;
        }

        foreach (var remote in remotes)
        {
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
            budget.CancelAfter(RemoteCallBudget);
            try
            {
                var state = await GetRunAsync(finished.RunId, budget.Token).ConfigureAwait(false);
                var spec = state is null ? null : await GetSpecAsync(state.PipelineHash, budget.Token).ConfigureAwait(false);
                if (spec is null || !spec.Steps.Any(step => step.EffectiveExecutor(spec.Defaults) == remote.Kind))
                {
                    continue;
                }

                await remote.RunFinishedAsync(finished.RunId, finished.Status, spec, budget.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                EngineLog.RemoteCallFailed(_log, e, "release run " + finished.RunId, Lower(remote.Kind));
            }
        }
    }

    private async Task<PipelineSpec> GetSpecAsync(string hash, CancellationToken ct)
    {
        if (_specs.TryGetValue(hash, out var spec))
        {
            return spec;
        }

        var version = await _backend.Store.GetPipelineAsync(hash, ct).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Pipeline version {hash} is not in the store; the run cannot continue (was the store purged?).");
        spec = _o.SpecParser is { } parser ? parser(version) : PipelineLoader.LoadOrThrow(version.SpecText, version.Source ?? version.Name);
        if (string.IsNullOrEmpty(spec.ContentHash))
        {
            spec = spec with { ContentHash = hash };
        }

        _specs[hash] = spec;
        return spec;
    }

    private RunState StateOf(StoredRun stored)
    {
        if (_states.TryGetValue(stored.RunId, out var cached) && cached.ETag == stored.ETag)
        {
            return cached.State;
        }

        var state = JsonSerializer.Deserialize<RunState>(stored.SnapshotJson, EngineJson.Options)
            ?? throw new InvalidOperationException($"Run '{stored.RunId}' has an empty snapshot; the store is damaged.");
        Remember(stored.RunId, stored.ETag, state);
        return state;
    }

    /// <summary>The cached state when this process made the run's last commit and delivered its outbox, and saw no recent conflict on it.</summary>
    private CachedRun? Trusted(string runId)
    {
        if (!_states.TryGetValue(runId, out var cached) || !cached.Delivered)
        {
            return null;
        }

        return _conflicts.TryGetValue(runId, out var at) && _o.Time.GetElapsedTime(at) < ConflictMemory ? null : cached;
    }

    private void Trust(string runId, string etag)
    {
        if (_states.TryGetValue(runId, out var cached) && cached.ETag == etag)
        {
            _states.TryUpdate(runId, cached with { Delivered = true }, cached);
        }

        if (!_conflicts.IsEmpty && _conflicts.TryGetValue(runId, out var at) && _o.Time.GetElapsedTime(at) >= ConflictMemory)
        {
            _conflicts.TryRemove(new KeyValuePair<string, long>(runId, at));
        }
    }

    private void Remember(string runId, string etag, RunState state)
    {
        if (state.Status == RunStatus.Running)
        {
            _states[runId] = new CachedRun(etag, state);
        }
        else
        {
            // Finished runs leave the cache so memory stays flat however many runs complete.
            _states.TryRemove(runId, out _);
        }
    }

    private TimeSpan ClampDelay(TimeSpan delay) => delay > _o.MaxQueueDelay ? _o.MaxQueueDelay : delay < TimeSpan.Zero ? TimeSpan.Zero : delay;

    private static RunSummary Summarize(RunState s)
        => new(s.RunId, s.PipelineName, s.PipelineHash, Lower(s.Status), s.CreatedAt, s.UpdatedAt) { FinishedAt = s.FinishedAt, TriggerKind = s.Trigger.Kind };

    private static string ResultEventId(TaskWorkItem work) => $"{work.DispatchId}:result";

    private string NewRunId(string pipeline)
        => string.Create(CultureInfo.InvariantCulture, $"{pipeline}-{_o.Time.GetUtcNow():yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..6]}");

    private static void ValidateRunId(string runId)
    {
        if (runId.Length is 0 or > 128 || !runId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') || runId[0] == '.')
        {
            throw new RunRequestException($"Run id '{runId}' is invalid: use 1-128 characters of letters, digits, '-', '_' and '.', not starting with '.'.");
        }
    }

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();

    private static bool TryParse<T>(string body, out T? message, out string? error, Func<T, bool> valid) where T : class
    {
        message = null;
        try
        {
            message = JsonSerializer.Deserialize<T>(body, EngineJson.Options);
        }
        catch (JsonException e)
        {
            error = $"not a {typeof(T).Name}: {e.Message}";
            return false;
        }
        catch (NotSupportedException e)
        {
            error = $"not a {typeof(T).Name}: {e.Message}";
            return false;
        }

        if (message is null || !valid(message))
        {
            message = null;
            error = $"not a {typeof(T).Name}: required fields are missing";
            return false;
        }

        error = null;
        return true;
    }

    private sealed record CachedRun(string ETag, RunState State)
    {
        /// <summary>Made by this process's commit whose outbox was then delivered: the store holds exactly this (if the ETag still matches).</summary>
        public bool Delivered { get; init; }
    }

    private sealed record InlineResult(OutboxItem Item, TaskWorkItem Work, RunEvent Report, AttemptClaim Claim);

    /// <summary>One committer loop of a run's <see cref="InlineResults"/>; Released while it runs an attempt itself.</summary>
    private sealed class Committer(InlineResults box)
    {
        public InlineResults Box { get; } = box;

        public bool Released { get; set; }
    }

    private sealed class InlineResults
    {
        public Lock Gate { get; } = new();

        public List<InlineResult> Items { get; } = [];

        public bool Pumping { get; set; }
    }
}
