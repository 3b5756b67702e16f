using System.Text.Json;
using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Telemetry;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Engine.Durable;

/// <summary>
/// One generation of a RunPipeline instance: feeds what completes (attempt reports, timers, signals) to the decider in
/// completion order and turns the decider's commands into Durable calls. Re-created on every replay.
/// </summary>
internal sealed class RunInterpreter
{
    private static readonly JsonElement NullPayload = JsonSerializer.SerializeToElement<object?>(null);

    private readonly TaskOrchestrationContext _ctx;
    private readonly RunPipelineInput _input;
    private readonly Inbox _inbox = new();
    private readonly Dictionary<string, TaskWorkItem> _sent = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, DateTimeOffset> _timers = new(StringComparer.Ordinal);
    private readonly SortedSet<(DateTimeOffset FireAt, string TimerId)> _dueOrder = new(DueComparer.Instance);
    private (DateTimeOffset FireAt, int Seq, CancellationTokenSource Cancel)? _alarm;
    private readonly List<TaskWorkItem> _toSend = [];
    private readonly List<Task> _housekeeping = [];
    private PipelineSpec _spec = null!;
    private RunState _state = null!;
    private ProgressBuilder _progress = null!;
    private int _generation;
    private int _outstanding;
    private int _historyEstimate;
    private int _seq;
    private bool _continued;
    private Task<bool>? _finished;

    public RunInterpreter(TaskOrchestrationContext context, RunPipelineInput input)
    {
        _ctx = context;
        _input = input;
    }

    private string RunId => _input.RunId;

    private DateTimeOffset Now => new(DateTime.SpecifyKind(_ctx.CurrentUtcDateTime, DateTimeKind.Utc));

    public async Task<RunPipelineOutput> RunAsync()
    {
        var continuation = _input.Continuation;
        _generation = continuation?.Generation ?? 0;

        // ExecutionStarted, the first episode's OrchestratorStarted/Completed and the spec load's two events.
        _historyEstimate = 5;
        var (spec, error) = await LoadSpecAsync();
        if (spec is null)
        {
            return Rejected(error!);
        }

        _spec = spec;
        _progress = new ProgressBuilder(spec, _input);
        DurableLog.GenerationStarted(_ctx.CreateReplaySafeLogger<RunPipelineOrchestration>(), RunId, _input.PipelineName, _input.PipelineHash, _generation);
        WatchSignal();
        if (continuation is not null)
        {
            _state = continuation.State;
            foreach (var (timerId, fireAt) in continuation.PendingTimers)
            {
                AddTimer(timerId, fireAt);
            }

            _toSend.AddRange(continuation.Held);
        }
        else
        {
            Apply(Decider.Decide(_spec, null, new RunStarted
            {
                EventId = RunId + ":started",
                At = Now,
                RunId = RunId,
                PipelineName = _input.PipelineName,
                PipelineHash = _input.PipelineHash,
                Params = _input.Params,
                Trigger = _input.Trigger,
                RetryOf = _input.RetryOf,
                Reused = _input.Reused,
            }));
        }

        // Set once: the status is written at the end of every episode from the state then (LiveProgress).
        _ctx.SetCustomStatus(new LiveProgress(() => _progress.Build(_state, _generation)));
        Flush();
        Arm();
        while (_state.Status == RunStatus.Running)
        {
            if (_historyEstimate >= DurableLimits.HistoryBound && _outstanding == 0)
            {
                return ContinueAsNew();
            }

            var batch = await _inbox.TakeAllAsync();
            _historyEstimate += 2;
            foreach (var done in batch)
            {
                Handle(done);
            }

            Flush();
            Arm();
        }

        return await FinishAsync();
    }

    // ---------------------------------------------------------------- the spec

    private async Task<(PipelineSpec? Spec, string? Error)> LoadSpecAsync()
    {
        string text;
        try
        {
            // Given with the input (and so in the history already): checked against the hash below, no activity needed.
            text = _input.SpecText ?? await _ctx.CallActivityAsync<string>(DurableNames.LoadPipeline, _input.PipelineHash);
        }
        catch (TaskFailedException e)
        {
            return (null, $"version {_input.PipelineHash} of pipeline '{_input.PipelineName}' could not be loaded: {e.FailureDetails.ErrorMessage}. Push that version again (`trainyard pipelines push`) and start a new run");
        }

        var loaded = SpecCache.Load(text, _input.PipelineName, _input.PipelineHash);
        if (loaded.ContentHash != _input.PipelineHash)
        {
            return (null, $"the pipeline store returned version {loaded.ContentHash} of pipeline '{_input.PipelineName}' for version {_input.PipelineHash}; a run only runs the version it started with: check the store's content-addressed copy of {_input.PipelineHash}");
        }

        if (loaded.Spec is null)
        {
            var first = loaded.Errors.FirstOrDefault();
            return (null, $"version {_input.PipelineHash} of pipeline '{_input.PipelineName}' is not valid here{(first is null ? "" : ": " + first.Format())}; validate it with `trainyard validate` and push a fixed version");
        }

        return (loaded.Spec, null);
    }

    private RunPipelineOutput Rejected(string error)
    {
        DurableLog.RunRejected(_ctx.CreateReplaySafeLogger<RunPipelineOrchestration>(), RunId, error);
        var now = Now;

        // A later generation keeps what the run did so far (the version vanished from the store since it started).
        var state = (_input.Continuation?.State ?? new RunState
        {
            RunId = RunId,
            PipelineName = _input.PipelineName,
            PipelineHash = _input.PipelineHash,
            Trigger = _input.Trigger,
            RetryOf = _input.RetryOf,
            CreatedAt = now,
        }) with { Status = RunStatus.Failed, Error = error, UpdatedAt = now, FinishedAt = now };
        _ctx.SetCustomStatus(new RunProgress
        {
            Pipeline = _input.PipelineName,
            Version = _input.PipelineHash,
            Status = RunStatus.Failed,
            Trigger = ProgressBuilder.TriggerKind(_input),
            Error = ProgressBuilder.Truncate(error, ProgressBuilder.MaxErrorChars),
            Generation = _input.Continuation?.Generation ?? 0,
        });
        RecordFinished(state);
        return new RunPipelineOutput { Status = RunStatus.Failed, Error = error, State = state };
    }

    /// <summary>
    /// The run span and run metrics, as the embedded engine records them, from the final episode only: a replay of it
    /// records nothing, so a run is recorded once (twice only if the worker dies between this and the episode's commit).
    /// </summary>
    private void RecordFinished(RunState state)
    {
        if (!_ctx.IsReplaying)
        {
            TrainyardTelemetry.RecordRunFinished(state);
        }
    }

    // ---------------------------------------------------------------- events in

    private void Handle(Completed done)
    {
        switch (done.Kind)
        {
            case CompletedKind.Attempt:
                _outstanding--;
                OnReport(done.Works[0], AttemptOutcome.Of((Task<AttemptReport>)done.Task));
                break;
            case CompletedKind.Chunk:
                _outstanding--;
                var reports = AttemptOutcome.OfChunk((Task<RunTaskChunkOutput>)done.Task, done.Works.Count);
                for (int i = 0; i < done.Works.Count; i++)
                {
                    OnReport(done.Works[i], reports[i]);
                }

                break;
            case CompletedKind.Timer:
                if (!done.Task.IsCanceled)
                {
                    OnAlarm(done.Seq);
                }

                break;
            case CompletedKind.Signal:
                OnSignal((Task<RunSignal>)done.Task);
                WatchSignal();
                break;
            case CompletedKind.Housekeeping:
                _outstanding--;
                if (done.Task.Exception?.InnerException is TaskFailedException failed)
                {
                    DurableLog.HousekeepingFailed(_ctx.CreateReplaySafeLogger<RunPipelineOrchestration>(), RunId, DurableNames.CancelAttempt, failed.FailureDetails.ErrorMessage);
                }

                break;
        }
    }

    private void OnReport(TaskWorkItem work, AttemptReport report)
    {
        _sent.Remove(work.DispatchId);
        var at = Now;
        var eventId = work.DispatchId + ":result";
        switch (report.Kind)
        {
            case AttemptReportKind.Succeeded:
                Decide(new TaskSucceeded(work.TaskKey, work.DispatchId, report.Result ?? new TaskResult()) { EventId = eventId, At = at });
                break;
            case AttemptReportKind.Cancelled:
                // A cancelled attempt has no result to apply: the decider cancelled it (timeout, run cancel). Should the
                // decider still count it in flight, nothing else would ever finish it: it is a retryable failure then.
                if (_state.Tasks.TryGetValue(work.TaskKey, out var t) && t.InFlight && t.DispatchId == work.DispatchId)
                {
                    Decide(new TaskFailed(work.TaskKey, work.DispatchId, report.Error ?? "the attempt was cancelled") { EventId = eventId, At = at });
                }

                break;
            case AttemptReportKind.Failed:
                Decide(new TaskFailed(work.TaskKey, work.DispatchId, report.Error ?? "the attempt failed")
                {
                    EventId = eventId,
                    At = at,
                    Retryable = report.Retryable,
                    ExitCode = report.ExitCode,
                    TimedOut = report.TimedOut,
                });
                break;
            default:
                Decide(new TaskFailed(work.TaskKey, work.DispatchId, $"{DurableNames.RunTask} returned {report.Kind} for a {work.Executor} attempt, which runs to its end in one call")
                {
                    EventId = eventId,
                    At = at,
                });
                break;
        }
    }

    private void OnSignal(Task<RunSignal> task)
    {
        if (!task.IsCompletedSuccessfully || task.Result is not { } signal)
        {
            return;
        }

        _historyEstimate++;
        var at = Now;
        if (string.IsNullOrEmpty(signal.EventId))
        {
            DurableLog.SignalIgnored(_ctx.CreateReplaySafeLogger<RunPipelineOrchestration>(), RunId, "", "it has no event id");
            return;
        }

        switch (signal.Kind)
        {
            case RunSignal.Cancel:
                Decide(new CancelRequested(signal.Reason ?? "") { EventId = signal.EventId, At = at });
                break;
            case RunSignal.Event when !string.IsNullOrEmpty(signal.Name):
                Decide(new EventRaised(signal.Name, signal.Payload ?? NullPayload) { EventId = signal.EventId, At = at });
                break;
            default:
                DurableLog.SignalIgnored(_ctx.CreateReplaySafeLogger<RunPipelineOrchestration>(), RunId, signal.EventId, $"kind '{signal.Kind}' with name '{signal.Name}' is neither a cancel nor a named event");
                break;
        }
    }

    private void Decide(RunEvent evt) => Apply(Decider.Decide(_spec, _state, evt));

    private void Apply(Decision decision)
    {
        _state = decision.State;
        foreach (var command in decision.Commands)
        {
            switch (command)
            {
                case DispatchTask d:
                    _toSend.Add(d.Work);
                    break;
                case ScheduleTimer s:
                    AddTimer(s.TimerId, s.FireAt);
                    break;
                case CancelTask c:
                    Cancel(c);
                    break;
                case NotifyRunFinished n when Notifies() is var notifies && (notifies || HoldsRemoteWork()):
                    _finished = _ctx.CallActivityAsync<bool>(DurableNames.RunFinished, new RunFinishedInput(RunId, _input.PipelineHash, n.Status, notifies ? _state : null));
                    break;
            }
        }
    }

    // ---------------------------------------------------------------- commands out

    /// <summary>
    /// Whether the run ends with the RunFinished activity. Only remote (Batch) work holds anything to release, so a run
    /// started with its spec text (the current starters) skips it otherwise; a run started with the hash only (the
    /// first release's starters, and their histories in flight) always calls it, so its history replays unchanged.
    /// </summary>
    /// <summary>
    /// Whether the pipeline has `notify:` entries: the RunFinished activity then gets the final state and sends the
    /// alerts (a run that finishes calls it in its last episode, so histories of runs in flight replay unchanged).
    /// </summary>
    private bool Notifies() => _spec.Notify.Count > 0 || _spec.Steps.Any(s => s.Notify.Count > 0);

    private bool HoldsRemoteWork() => _input.SpecText is null || _spec.Steps.Any(s => s.EffectiveExecutor(_spec.Defaults) == ExecutorKind.Batch);

    private void Cancel(CancelTask c)
    {
        // Not sent yet (held back, or dispatched in this very round): it never runs.
        int unsent = _toSend.FindIndex(w => w.DispatchId == c.DispatchId);
        if (unsent >= 0)
        {
            _toSend.RemoveAt(unsent);
            return;
        }

        if (_sent.TryGetValue(c.DispatchId, out var work))
        {
            _historyEstimate += 2;
            Track(new Completed(CompletedKind.Housekeeping, _ctx.CallActivityAsync<bool>(DurableNames.CancelAttempt, new CancelAttemptInput(work, CancelReason())), _seq++));
        }
    }

    private string CancelReason() => _state.Status switch
    {
        RunStatus.Cancelled => "run cancelled",
        RunStatus.Failed => "run failed",
        _ => "attempt timed out",
    };

    // Sends this round's dispatches: one call each for a few, chunks for many; nothing new once the history is at its bound.
    private void Flush()
    {
        if (_toSend.Count == 0 || _state.Status != RunStatus.Running)
        {
            _toSend.Clear();
            return;
        }

        int i = 0;
        bool chunked = _toSend.Count > DurableLimits.ChunkThreshold;
        while (i < _toSend.Count && _historyEstimate < DurableLimits.HistoryBound)
        {
            _historyEstimate += 2;
            _outstanding++;
            if (!chunked)
            {
                var work = _toSend[i++];
                _sent[work.DispatchId] = work;
                Track(new Completed(CompletedKind.Attempt, AttemptCalls.Start(_ctx, work), _seq++) { Works = [work] });
                continue;
            }

            var size = _input.SpecText is null ? DurableLimits.ChunkSize : DurableLimits.LargeChunkSize;
            var chunk = _toSend.GetRange(i, Math.Min(size, _toSend.Count - i));
            i += chunk.Count;
            foreach (var work in chunk)
            {
                _sent[work.DispatchId] = work;
            }

            var call = _ctx.CallSubOrchestratorAsync<RunTaskChunkOutput>(
                DurableNames.RunTaskChunk,
                new RunTaskChunkInput { Works = chunk },
                new SubOrchestrationOptions { InstanceId = DurableLimits.SubInstanceId(RunId, "chunk", chunk[0].DispatchId) });
            Track(new Completed(CompletedKind.Chunk, call, _seq++) { Works = chunk });
        }

        _toSend.RemoveRange(0, i);
    }

    // ---------------------------------------------------------------- timers

    // The decider's timers are data; one durable timer (the alarm) at a time wakes the run for the earliest of them. So
    // a fan-out whose attempts each have a timeout adds a few timer events to the history, not two per attempt.
    private void AddTimer(string timerId, DateTimeOffset fireAt)
    {
        if (_timers.TryAdd(timerId, fireAt))
        {
            _dueOrder.Add((fireAt, timerId));
        }
    }

    private void OnAlarm(int seq)
    {
        if (_alarm is { } alarm && alarm.Seq == seq)
        {
            _alarm = null;
        }

        // "No earlier than": the Azure Storage provider can fire up to a second early (queue visibility delays are whole
        // seconds); what is not due yet waits for the next alarm.
        var now = Now;
        while (_dueOrder.Count > 0 && _dueOrder.Min.FireAt <= now)
        {
            var (_, timerId) = _dueOrder.Min;
            _dueOrder.Remove(_dueOrder.Min);
            _timers.Remove(timerId);
            Decide(new TimerFired(timerId) { EventId = "timer:" + timerId, At = now });
        }
    }

    private void Arm()
    {
        if (_dueOrder.Count == 0 || _state.Status != RunStatus.Running)
        {
            return;
        }

        var earliest = _dueOrder.Min.FireAt;
        if (_alarm is { } alarm)
        {
            if (alarm.FireAt <= earliest)
            {
                return;
            }

            // An earlier timer came: the later alarm would keep the instance open, so cancel it.
            alarm.Cancel.Cancel();
        }

        _historyEstimate += 2;
        var cancel = new CancellationTokenSource();
        var seq = _seq++;
        _alarm = (earliest, seq, cancel);
        Track(new Completed(CompletedKind.Timer, _ctx.CreateTimer(earliest.UtcDateTime, cancel.Token), seq));
    }

    private void Disarm()
    {
        _alarm?.Cancel.Cancel();
        _alarm = null;
    }

    private void WatchSignal()
        => Track(new Completed(CompletedKind.Signal, _ctx.WaitForExternalEvent<RunSignal>(DurableNames.SignalEvent), _seq++));

    private void Track(Completed pending) => _ = WatchAsync(pending);

    private async Task WatchAsync(Completed pending)
    {
        // WhenAny never throws: the outcome is read from the task itself when the loop takes it.
        await Task.WhenAny(pending.Task);
        if (_continued && pending.Kind == CompletedKind.Signal && pending.Task is Task<RunSignal> { IsCompletedSuccessfully: true } signal)
        {
            // A signal later in the episode that decided to continue as new reaches this generation's open wait (the
            // shim delivers to a waiter even after ContinueAsNew): hand it on to the next generation.
            _ctx.SendEvent(_ctx.InstanceId, DurableNames.SignalEvent, signal.Result);
            return;
        }

        _inbox.Add(pending);
    }

    // ---------------------------------------------------------------- generations and the end

    private RunPipelineOutput ContinueAsNew()
    {
        DurableLog.ContinuingAsNew(_ctx.CreateReplaySafeLogger<RunPipelineOrchestration>(), RunId, _historyEstimate, _generation + 1, _toSend.Count);
        var next = _input with
        {
            Continuation = new RunContinuation
            {
                State = _state,
                PendingTimers = new SortedDictionary<string, DateTimeOffset>(_timers, StringComparer.Ordinal),
                Generation = _generation + 1,
                Held = [.. _toSend],
            },
        };

        // An open alarm would keep this generation alive; the next one sets it again from the pending timers.
        Disarm();
        _continued = true;
        _ctx.ContinueAsNew(next, preserveUnprocessedEvents: true);
        return new RunPipelineOutput { Status = RunStatus.Running, State = _state };
    }

    private async Task<RunPipelineOutput> FinishAsync()
    {
        Disarm();
        if (_finished is not null)
        {
            try
            {
                await _finished;
            }
            catch (TaskFailedException e)
            {
                DurableLog.HousekeepingFailed(_ctx.CreateReplaySafeLogger<RunPipelineOrchestration>(), RunId, DurableNames.RunFinished, e.FailureDetails.ErrorMessage);
            }
        }

        DurableLog.RunFinished(_ctx.CreateReplaySafeLogger<RunPipelineOrchestration>(), RunId, _state.Status.ToString());
        RecordFinished(_state);
        return new RunPipelineOutput { Status = _state.Status, Error = _state.Error, State = _state };
    }

    // ---------------------------------------------------------------- completions

    private enum CompletedKind
    {
        Attempt,
        Chunk,
        Timer,
        Signal,
        Housekeeping,
    }

    private sealed record Completed(CompletedKind Kind, Task Task, int Seq)
    {
        public IReadOnlyList<TaskWorkItem> Works { get; init; } = [];
    }

    private sealed class DueComparer : IComparer<(DateTimeOffset FireAt, string TimerId)>
    {
        public static readonly DueComparer Instance = new();

        public int Compare((DateTimeOffset FireAt, string TimerId) x, (DateTimeOffset FireAt, string TimerId) y)
        {
            int c = x.FireAt.CompareTo(y.FireAt);
            return c != 0 ? c : string.CompareOrdinal(x.TimerId, y.TimerId);
        }
    }

    /// <summary>Completed calls in completion order; the loop takes all of them at each wake-up.</summary>
    private sealed class Inbox
    {
        private readonly List<Completed> _ready = [];
        private TaskCompletionSource<bool>? _wake;

        public void Add(Completed done)
        {
            _ready.Add(done);
            _wake?.TrySetResult(true);
        }

        public async Task<List<Completed>> TakeAllAsync()
        {
            if (_ready.Count == 0)
            {
                _wake = new TaskCompletionSource<bool>();
                await _wake.Task;
                _wake = null;
            }

            // What is ready at a wake-up is fixed by the history; sorting by call order makes the order within it
            // independent of how a host runs continuations (inline in the Durable Task Framework: one at a time).
            var all = _ready.OrderBy(d => d.Seq).ToList();
            _ready.Clear();
            return all;
        }
    }
}
