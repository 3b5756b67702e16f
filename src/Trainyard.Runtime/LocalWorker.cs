using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Core.Engine;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.Runtime;

/// <summary>How a <see cref="LocalWorker"/> pulls its queues.</summary>
public sealed record LocalWorkerOptions
{
    /// <summary>Task slots: work messages executed at once.</summary>
    public int Workers { get; init; } = Math.Max(2, Environment.ProcessorCount);

    /// <summary>
    /// Control messages received (and committed per run) at once: a fan-in of N results costs about N/batch commits.
    /// Queues may return fewer per call (Azure Storage: 32).
    /// </summary>
    public int ControlBatchSize { get; init; } = 256;

    /// <summary>Lease on control messages while a batch is applied.</summary>
    public TimeSpan ControlLease { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Lease on a work message; renewed while its task runs.</summary>
    public TimeSpan WorkLease { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Lease renewal period (default: a third of the lease).</summary>
    public TimeSpan? RenewEvery { get; init; }

    /// <summary>First wait after an empty receive; doubles up to <see cref="MaxIdleDelay"/>. In-process sends wake the worker at once.</summary>
    public TimeSpan MinIdleDelay { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Longest wait between polls of an idle queue (bounds the latency of messages sent by other processes).</summary>
    public TimeSpan MaxIdleDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How often <see cref="LocalWorker.RunUntilCompleteAsync"/> re-reads the run (runs finished by other processes).</summary>
    public TimeSpan RunPollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Dequeue count above which a message goes to <see cref="PoisonHandler"/> (null: never).</summary>
    public int? PoisonThreshold { get; init; }

    /// <summary>Takes over poison and unreadable messages; null: retry poison forever with backoff, drop unreadable with a log line.</summary>
    public IPoisonHandler? PoisonHandler { get; init; }

    /// <summary>Longest backoff after a handler error.</summary>
    public TimeSpan MaxErrorBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Deliver pending outboxes of running runs when starting (repairs a crash right after a commit).</summary>
    public bool RecoverOnStart { get; init; } = true;

    /// <summary>
    /// How often to sweep for stalled outbox items (<see cref="RunEngine.RecoverStalledAsync"/>): what a host killed
    /// while running attempts inline leaves behind is delivered within about two sweeps plus the claim length. Null: never.
    /// Each sweep lists running runs and loads each (on Azure Storage about 1 + 2 per running run requests).
    /// </summary>
    public TimeSpan? RecoverEvery { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Logging; none by default.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}

/// <summary>
/// Pulls the control and work queues of one backend in this process and feeds the <see cref="RunEngine"/> entry
/// points: control messages in batches (one commit per run per batch), work messages in parallel task slots with lease
/// renewal. Several workers (threads or processes) may share one backend.
/// </summary>
public sealed class LocalWorker
{
    private readonly RunEngine _engine;
    private readonly LocalWorkerOptions _o;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private TaskCompletionSource _wakeControl = NewWake();
    private TaskCompletionSource _wakeWork = NewWake();

    /// <summary>Creates a worker for an engine (and its backend).</summary>
    public LocalWorker(RunEngine engine, LocalWorkerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _engine = engine;
        _o = options ?? new LocalWorkerOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_o.Workers, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_o.ControlBatchSize, 1, nameof(options));
        _log = (_o.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<LocalWorker>();
        _time = engine.Options.Time;
    }

    /// <summary>Pulls both queues until <paramref name="cancellationToken"/> is cancelled; in-flight tasks are cancelled and their messages given back.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _engine.MessagesSent += Wake;
        try
        {
            // Attempts another host is running (live claims) are left to it; the first sweep takes them if it died.
            IReadOnlySet<string> pending = _o.RecoverOnStart
                ? (await _engine.RecoverStalledAsync(null, cancellationToken).ConfigureAwait(false)).Pending
                : new HashSet<string>(StringComparer.Ordinal);
            await Task.WhenAll(ControlLoopAsync(cancellationToken), WorkLoopAsync(cancellationToken), RecoverLoopAsync(pending, cancellationToken)).ConfigureAwait(false);
        }
        finally
        {
            _engine.MessagesSent -= Wake;

            // Stop the attempts the engine runs inline (they hand themselves to the work queue) and wait for that, so the
            // host does not exit with them half-delivered.
            if (!await _engine.StopInlineAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false))
            {
                EngineLog.InlineDrainTimedOut(_log);
            }
        }
    }

    private async Task RecoverLoopAsync(IReadOnlySet<string> pending, CancellationToken stop)
    {
        if (_o.RecoverEvery is not { } every)
        {
            return;
        }

        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(every, _time, stop).ConfigureAwait(false);
                pending = (await _engine.RecoverStalledAsync(pending, stop).ConfigureAwait(false)).Pending;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                EngineLog.HandlerFailed(_log, e, "(recovery)", "(sweep)", 0, every);
            }
        }
    }

    /// <summary>
    /// A final state is committed before its outbox (the run-finished notification, which also releases remote work
    /// such as Batch jobs) is delivered, so stopping the loops at once could cut that delivery short. Waits, briefly,
    /// until the run's outbox is delivered (here or by another process).
    /// </summary>
    private async Task DrainOutboxAsync(string runId, Task loops, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + TimeSpan.FromSeconds(10);
        while (!loops.IsCompleted && _time.GetUtcNow() < deadline
            && await _engine.Backend.Store.LoadAsync(runId, cancellationToken).ConfigureAwait(false) is { PendingOutbox.Count: > 0 })
        {
            await Task.WhenAny(loops, Task.Delay(TimeSpan.FromMilliseconds(25), _time, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Works until the run reaches a final state (finished here or by another process), then stops; returns the final state.</summary>
    public async Task<RunState> RunUntilCompleteAsync(string runId, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnFinished(NotifyRunFinished n)
        {
            if (n.RunId == runId)
            {
                finished.TrySetResult();
            }
        }

        _engine.RunFinished += OnFinished;
        var loops = RunAsync(stop.Token);
        try
        {
            while (true)
            {
                var state = await _engine.GetRunAsync(runId, cancellationToken).ConfigureAwait(false)
                    ?? throw new RunRequestException($"Run '{runId}' does not exist; list runs with `trainyard runs`.");
                if (state.Status != RunStatus.Running)
                {
                    await DrainOutboxAsync(runId, loops, cancellationToken).ConfigureAwait(false);
                    return state;
                }

                if (loops.IsCompleted)
                {
                    await loops.ConfigureAwait(false);
                    throw new InvalidOperationException($"The worker stopped before run '{runId}' finished.");
                }

                await Task.WhenAny(finished.Task, loops, Task.Delay(_o.RunPollInterval, _time, cancellationToken)).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        finally
        {
            _engine.RunFinished -= OnFinished;
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await loops.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopping is what we asked for.
            }
        }
    }

    private async Task ControlLoopAsync(CancellationToken stop)
    {
        var queue = _engine.Backend.Control;
        var idle = _o.MinIdleDelay;
        while (!stop.IsCancellationRequested)
        {
            var wake = Volatile.Read(ref _wakeControl).Task;
            IReadOnlyList<LeasedMessage> received;
            try
            {
                received = await queue.ReceiveAsync(_o.ControlBatchSize, _o.ControlLease, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                EngineLog.HandlerFailed(_log, e, queue.Name, "(receive)", 0, idle);
                await IdleAsync(wake, idle, stop).ConfigureAwait(false);
                idle = NextIdle(idle);
                continue;
            }

            if (received.Count == 0)
            {
                await IdleAsync(wake, idle, stop).ConfigureAwait(false);
                idle = NextIdle(idle);
                continue;
            }

            idle = _o.MinIdleDelay;
            await HandleControlBatchAsync(queue, received, stop).ConfigureAwait(false);
        }
    }

    private async Task HandleControlBatchAsync(IMessageQueue queue, IReadOnlyList<LeasedMessage> received, CancellationToken stop)
    {
        var parsed = new List<(LeasedMessage Leased, ControlMessage Message)>(received.Count);
        foreach (var m in received)
        {
            if (!RunEngine.TryParseControl(m.Body, out var cm, out var error))
            {
                EngineLog.BadMessage(_log, queue.Name, m.Id, m.DequeueCount, error!);
                await GiveUpAsync(queue, m, $"unreadable control message: {error}", stop).ConfigureAwait(false);
                continue;
            }

            if (_o.PoisonThreshold is { } max && m.DequeueCount > max && _o.PoisonHandler is not null)
            {
                await GiveUpAsync(queue, m, $"delivered {m.DequeueCount} times without being applied", stop).ConfigureAwait(false);
                continue;
            }

            parsed.Add((m, cm!));
        }

        if (parsed.Count == 0)
        {
            return;
        }

        ControlBatchResult result;
        try
        {
            result = await _engine.HandleControlAsync([.. parsed.Select(p => p.Message)], stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Leases expire and the messages come back; nothing was half-applied (commits are atomic).
            return;
        }

        foreach (var (leased, message) in parsed)
        {
            if (result.Failed.ContainsKey(message.RunId))
            {
                await AbandonAsync(queue, leased, Backoff(leased.DequeueCount), stop).ConfigureAwait(false);
            }
            else
            {
                await CompleteAsync(queue, leased, stop).ConfigureAwait(false);
            }
        }
    }

    private async Task WorkLoopAsync(CancellationToken stop)
    {
        var queue = _engine.Backend.Work;
        using var slots = new SemaphoreSlim(_o.Workers, _o.Workers);
        var running = new List<Task>();
        var idle = _o.MinIdleDelay;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await slots.WaitAsync(stop).ConfigureAwait(false);
                var free = 1;
                while (slots.Wait(0))
                {
                    free++;
                }

                var wake = Volatile.Read(ref _wakeWork).Task;
                IReadOnlyList<LeasedMessage> received;
                try
                {
                    received = await queue.ReceiveAsync(free, _o.WorkLease, stop).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    slots.Release(free);
                    EngineLog.HandlerFailed(_log, e, queue.Name, "(receive)", 0, idle);
                    await IdleAsync(wake, idle, stop).ConfigureAwait(false);
                    idle = NextIdle(idle);
                    continue;
                }

                if (free > received.Count)
                {
                    slots.Release(free - received.Count);
                }

                running.RemoveAll(t => t.IsCompleted);
                foreach (var m in received)
                {
                    running.Add(Task.Run(async () =>
                    {
                        try
                        {
                            await HandleWorkAsync(queue, m, stop).ConfigureAwait(false);
                        }
                        finally
                        {
                            slots.Release();
                        }
                    }, CancellationToken.None));
                }

                if (received.Count == 0)
                {
                    await IdleAsync(wake, idle, stop).ConfigureAwait(false);
                    idle = NextIdle(idle);
                }
                else
                {
                    idle = _o.MinIdleDelay;
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            await Task.WhenAll(running).ConfigureAwait(false);
        }
    }

    private async Task HandleWorkAsync(IMessageQueue queue, LeasedMessage message, CancellationToken stop)
    {
        if (!RunEngine.TryParseWork(message.Body, out var work, out var error))
        {
            EngineLog.BadMessage(_log, queue.Name, message.Id, message.DequeueCount, error!);
            await GiveUpAsync(queue, message, $"unreadable work message: {error}", stop).ConfigureAwait(false);
            return;
        }

        if (_o.PoisonThreshold is { } max && message.DequeueCount > max && _o.PoisonHandler is not null)
        {
            // A duplicate copy of an attempt that a live holder is executing comes back "busy" delivery after delivery
            // while a long task runs: that is not a poison message, and failing the attempt would fail a running task.
            if (await _engine.LiveClaimAsync(work!.Work.DispatchId, stop).ConfigureAwait(false) is { } left)
            {
                await AbandonAsync(queue, message, left + TimeSpan.FromMilliseconds(50), stop).ConfigureAwait(false);
                return;
            }

            // A duplicate that outlived its attempt (executed, cancelled, or its run over) is dropped, not quarantined.
            if (await _engine.IsSettledAsync(work.Work, stop).ConfigureAwait(false))
            {
                EngineLog.WorkSkipped(_log, work.Work.DispatchId, work.Work.TaskKey, $"duplicate delivered {message.DequeueCount} times; the attempt is settled");
                await CompleteAsync(queue, message, stop).ConfigureAwait(false);
                return;
            }

            await GiveUpAsync(queue, message, $"task attempt {work!.Work.DispatchId} was delivered {message.DequeueCount} times without finishing", stop).ConfigureAwait(false);
            return;
        }

        var lease = new LeaseHolder(message);
        using var stopRenewal = new CancellationTokenSource();
        var renewal = RenewLoopAsync(queue, lease, stopRenewal.Token);
        WorkResult? result = null;
        Exception? failure = null;
        try
        {
            result = await _engine.ExecuteWorkAsync(work!, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopping: give the message back at once so another worker can take it.
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            failure = e;
        }
        finally
        {
            await stopRenewal.CancelAsync().ConfigureAwait(false);
            await renewal.ConfigureAwait(false);
        }

        if (result is null)
        {
            var delay = failure is null ? TimeSpan.Zero : Backoff(message.DequeueCount);
            if (failure is not null)
            {
                EngineLog.HandlerFailed(_log, failure, queue.Name, message.Id, message.DequeueCount, delay);
            }

            await AbandonAsync(queue, lease.Current, delay, CancellationToken.None).ConfigureAwait(false);
        }
        else if (result.RetryAfter is { } retry)
        {
            await AbandonAsync(queue, lease.Current, retry, stop).ConfigureAwait(false);
        }
        else
        {
            await CompleteAsync(queue, lease.Current, stop).ConfigureAwait(false);
        }
    }

    private async Task RenewLoopAsync(IMessageQueue queue, LeaseHolder lease, CancellationToken stop)
    {
        var every = _o.RenewEvery ?? _o.WorkLease / 3;
        while (true)
        {
            try
            {
                await Task.Delay(every, _time, stop).ConfigureAwait(false);
                lease.Current = await queue.RenewAsync(lease.Current, _o.WorkLease, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (LeaseLostException e)
            {
                // The claim in the key-value store still guards the attempt; the redelivered copy waits for it.
                EngineLog.LeaseLost(_log, queue.Name, lease.Current.Id, e.Message);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                EngineLog.LeaseLost(_log, queue.Name, lease.Current.Id, e.Message);
            }
        }
    }

    private async Task GiveUpAsync(IMessageQueue queue, LeasedMessage message, string reason, CancellationToken stop)
    {
        if (_o.PoisonHandler is { } handler)
        {
            EngineLog.Poison(_log, queue.Name, message.Id, message.DequeueCount);
            if (!await handler.HandleAsync(queue, message, reason, stop).ConfigureAwait(false))
            {
                await AbandonAsync(queue, message, Backoff(message.DequeueCount), stop).ConfigureAwait(false);
                return;
            }
        }

        await CompleteAsync(queue, message, stop).ConfigureAwait(false);
    }

    private async Task CompleteAsync(IMessageQueue queue, LeasedMessage message, CancellationToken stop)
    {
        try
        {
            // Once handled, the message goes even when stopping: a stop requested just after a result was reported
            // (e.g. the run it finished) must not leave the message to come back after its lease.
            await queue.CompleteAsync(message, stop.IsCancellationRequested ? CancellationToken.None : stop).ConfigureAwait(false);
        }
        catch (LeaseLostException e)
        {
            // Someone else holds it now; their copy is de-duplicated downstream.
            EngineLog.LeaseLost(_log, queue.Name, message.Id, e.Message);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopping: the lease runs out and the message comes back; its effects are de-duplicated.
        }
    }

    private async Task AbandonAsync(IMessageQueue queue, LeasedMessage message, TimeSpan delay, CancellationToken stop)
    {
        try
        {
            await queue.AbandonAsync(message, delay, stop.IsCancellationRequested ? CancellationToken.None : stop).ConfigureAwait(false);
        }
        catch (LeaseLostException e)
        {
            EngineLog.LeaseLost(_log, queue.Name, message.Id, e.Message);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopping mid-request: the lease runs out instead and the message comes back.
        }
    }

    private TimeSpan Backoff(int dequeueCount)
    {
        var ms = 100 * Math.Pow(2, Math.Min(Math.Max(dequeueCount - 1, 0), 16));
        return TimeSpan.FromMilliseconds(Math.Min(ms, _o.MaxErrorBackoff.TotalMilliseconds));
    }

    private TimeSpan NextIdle(TimeSpan idle) => idle * 2 > _o.MaxIdleDelay ? _o.MaxIdleDelay : idle * 2;

    private async Task IdleAsync(Task wake, TimeSpan delay, CancellationToken stop)
    {
        try
        {
            await Task.WhenAny(wake, Task.Delay(delay, _time, stop)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private void Wake(IMessageQueue queue)
    {
        if (ReferenceEquals(queue, _engine.Backend.Control))
        {
            Interlocked.Exchange(ref _wakeControl, NewWake()).TrySetResult();
        }
        else
        {
            Interlocked.Exchange(ref _wakeWork, NewWake()).TrySetResult();
        }
    }

    private static TaskCompletionSource NewWake() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class LeaseHolder(LeasedMessage message)
    {
        public LeasedMessage Current { get; set; } = message;
    }
}
