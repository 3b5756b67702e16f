using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Trainyard.Core.Expressions;
using Trainyard.Core.Spec;

namespace Trainyard.Core.Engine;

/// <summary>The working set of one decision: mutable builders over the previous state, discarded after <see cref="Finish"/>.</summary>
internal sealed class DecisionContext
{
    /// <summary>Upper bound on the items of one foreach step, so a runaway list cannot blow up a run's state.</summary>
    public const int MaxForeachItems = 10_000;

    private readonly PipelineSpec _spec;
    private readonly SpecIndex _index;
    private readonly RunState _old;
    private readonly DateTimeOffset _at;
    private readonly ImmutableSortedDictionary<string, TaskState>.Builder _tasks;
    private readonly ImmutableList<string>.Builder _queue;
    private readonly List<RunEvent> _recorded = [];
    private readonly List<RunCommand> _commands = [];
    private readonly Queue<int> _toActivate = new();
    private ImmutableSortedSet<string> _seen;
    private ImmutableSortedDictionary<string, JsonElement> _raised;
    private ImmutableSortedDictionary<string, TaskResult>? _reusedItems;
    private int _inFlight;
    private int _open;
    private string? _error;
    private RunStatus _status;
    private DateTimeOffset? _finishedAt;
    private bool _completing;
    private Dictionary<string, List<ArtifactRef>>? _foreachArtifacts;
    private Dictionary<string, List<IReadOnlyDictionary<string, JsonElement>>>? _foreachOutputs;

    public DecisionContext(PipelineSpec spec, RunState state, RunEvent evt)
    {
        _spec = spec;
        _index = SpecIndex.For(spec);
        _old = state;
        _at = evt.At;
        _tasks = state.Tasks.ToBuilder();
        _queue = state.Queue.ToBuilder();
        _seen = state.SeenEventIds;
        _raised = state.RaisedEvents;
        _reusedItems = state.ReusedItems;
        _inFlight = state.InFlight;
        _open = state.Open;
        _error = state.Error;
        _status = state.Status;
        _finishedAt = state.FinishedAt;
    }

    private string RunId => _old.RunId;

    // ---------------------------------------------------------------- start

    public static Decision Start(PipelineSpec spec, RunStarted e)
    {
        var index = SpecIndex.For(spec);
        var tasks = ImmutableSortedDictionary.CreateBuilder<string, TaskState>(StringComparer.Ordinal);
        var reusedItems = ImmutableSortedDictionary.CreateBuilder<string, TaskResult>(StringComparer.Ordinal);
        int open = 0;
        string reusedMessage = $"reused from run '{e.RetryOf}'";
        foreach (var step in index.Steps)
        {
            if (e.Reused.TryGetValue(step.Id, out var reused))
            {
                int? items = null;
                if (step.Foreach is not null)
                {
                    // A foreach step is reused whole only with its items, because its outputs are the items' outputs.
                    int n = 0;
                    while (e.Reused.TryGetValue(EngineIds.ItemKey(step.Id, n), out var itemResult))
                    {
                        var key = EngineIds.ItemKey(step.Id, n);
                        tasks[key] = new TaskState
                        {
                            TaskKey = key, StepId = step.Id, ItemIndex = n, Status = TaskStatus.Succeeded, Result = itemResult,
                            Message = reusedMessage, FinishedAt = e.At,
                        };
                        n++;
                    }

                    items = n;
                }

                tasks[step.Id] = new TaskState
                {
                    TaskKey = step.Id, StepId = step.Id, Status = TaskStatus.Succeeded, Result = reused, Message = reusedMessage,
                    FinishedAt = e.At, Items = items, ItemsOpen = items is null ? null : 0, ItemsInFlight = items is null ? null : 0,
                };
                continue;
            }

            tasks[step.Id] = new TaskState { TaskKey = step.Id, StepId = step.Id };
            open++;
        }

        // Counted after every reused step is final, so a need reused from the failed run is already met.
        foreach (var step in index.Steps)
        {
            var t = tasks[step.Id];
            int needsOpen = t.IsFinal ? 0 : step.Needs.Distinct().Count(n => !tasks[n].IsFinal);
            if (needsOpen > 0)
            {
                tasks[step.Id] = t with { NeedsOpen = needsOpen };
            }
        }

        foreach (var (key, result) in e.Reused)
        {
            // Items of a foreach step that is not reused whole wait for their step to fan out.
            var (stepId, item) = EngineIds.ParseTaskKey(key);
            if (item is not null && index.HasStep(stepId) && !tasks.ContainsKey(key))
            {
                reusedItems[key] = result;
            }
        }

        var state = new RunState
        {
            RunId = e.RunId,
            PipelineName = e.PipelineName,
            PipelineHash = e.PipelineHash,
            Params = e.Params.ToImmutableSortedDictionary(p => p.Key, p => p.Value.Clone(), StringComparer.Ordinal),
            Trigger = e.Trigger,
            Tasks = tasks.ToImmutable(),
            CreatedAt = e.At,
            UpdatedAt = e.At,
            RetryOf = e.RetryOf,
            Open = open,
            ReusedItems = reusedItems.Count == 0 ? null : reusedItems.ToImmutable(),
        };
        var ctx = new DecisionContext(spec, state, e);
        if (spec.Timeout is { } runTimeout)
        {
            ctx.Command(new ScheduleTimer(e.RunId, EngineIds.RunTimeoutTimer, e.At + runTimeout)
            {
                CommandId = EngineIds.CommandId(e.RunId, "timer", EngineIds.RunTimeoutTimer),
            });
        }

        for (int i = 0; i < index.Steps.Count; i++)
        {
            ctx._toActivate.Enqueue(i);
        }

        return ctx.Finish();
    }

    // ---------------------------------------------------------------- inbound events

    public bool OnTaskStarted(TaskStarted e)
    {
        if (!_tasks.TryGetValue(e.TaskKey, out var t) || t.Status != TaskStatus.Dispatched || t.DispatchId != e.DispatchId)
        {
            return false;
        }

        _tasks[e.TaskKey] = t with { Status = TaskStatus.Running };
        return true;
    }

    public bool OnTaskSucceeded(TaskSucceeded e)
    {
        if (!IsCurrentAttempt(e.TaskKey, e.DispatchId))
        {
            return false;
        }

        FinishTask(e.TaskKey, e.Result.Cached ? TaskStatus.Cached : TaskStatus.Succeeded, null, e.Result);
        return true;
    }

    public bool OnTaskFailed(TaskFailed e)
    {
        if (!IsCurrentAttempt(e.TaskKey, e.DispatchId))
        {
            return false;
        }

        FailAttempt(e.TaskKey, e.Error, e.Retryable);
        return true;
    }

    public bool OnTimerFired(TimerFired e)
    {
        if (e.TimerId == EngineIds.RunTimeoutTimer)
        {
            if (_spec.Timeout is not { } timeout)
            {
                return false;
            }

            Complete(RunStatus.Failed, $"run timed out after {Format(timeout)}", "run timed out");
            return true;
        }

        if (!EngineIds.TryParseTaskTimer(e.TimerId, out var kind, out var key, out int attempt) || !_tasks.TryGetValue(key, out var t))
        {
            return false;
        }

        if (kind == TimerKind.Retry)
        {
            if (t.Status != TaskStatus.Ready || t.RetryAt is null || t.Attempt != attempt - 1)
            {
                return false;
            }

            _tasks[key] = t with { RetryAt = null };
            Enqueue(key);
            return true;
        }

        if (!t.InFlight || t.Attempt != attempt)
        {
            return false;
        }

        var step = _index.Step(t.StepId);
        var limit = step.Timeout ?? _spec.Defaults.Timeout;
        Command(new CancelTask(RunId, key, t.DispatchId!) { CommandId = EngineIds.CommandId(RunId, "cancel", t.DispatchId!) });
        FailAttempt(key, $"attempt {attempt} timed out after {(limit is { } l ? Format(l) : "its timeout")}", retryable: true);
        return true;
    }

    public bool OnCancelRequested(CancelRequested e)
    {
        if (_seen.Contains(e.EventId))
        {
            return false;
        }

        _seen = _seen.Add(e.EventId);
        var reason = string.IsNullOrWhiteSpace(e.Reason) ? "cancelled on request" : $"cancelled: {e.Reason}";
        Complete(RunStatus.Cancelled, reason, reason);
        return true;
    }

    public bool OnEventRaised(EventRaised e)
    {
        if (_seen.Contains(e.EventId))
        {
            return false;
        }

        _seen = _seen.Add(e.EventId);
        _raised = _raised.SetItem(e.Name, e.Payload.Clone());
        return true;
    }

    // ---------------------------------------------------------------- finishing the decision

    public Decision Finish()
    {
        Settle();
        if (_status == RunStatus.Running)
        {
            if (_error is not null && _inFlight == 0)
            {
                Complete(RunStatus.Failed, _error, "run failed");
            }
            else if (_open == 0)
            {
                Complete(RunStatus.Succeeded, null, null);
            }
        }

        var state = _old with
        {
            Status = _status,
            Tasks = _tasks.ToImmutable(),
            Queue = _queue.ToImmutable(),
            SeenEventIds = _seen,
            RaisedEvents = _raised,
            ReusedItems = _reusedItems,
            InFlight = _inFlight,
            Open = _open,
            Error = _error,
            FinishedAt = _finishedAt,
            UpdatedAt = _at,
            Version = _old.Version + 1 + _recorded.Count,
        };
        return new Decision(state, _recorded, _commands);
    }

    // Activation and dispatch feed each other (a dispatch can fail a task, which skips or unblocks dependents).
    private void Settle()
    {
        do
        {
            Propagate();
            Pump();
        }
        while (_toActivate.Count > 0);
    }

    private void Propagate()
    {
        while (_toActivate.Count > 0)
        {
            int pos = _toActivate.Dequeue();
            if (_error is not null || _completing)
            {
                continue;
            }

            var step = _index.Steps[pos];
            var t = _tasks[step.Id];
            if (t.Status == TaskStatus.Pending && t.NeedsOpen is null or 0)
            {
                Activate(step, t);
            }
        }
    }

    // ---------------------------------------------------------------- readiness

    private void Activate(StepSpec step, TaskState t)
    {
        foreach (var need in step.Needs)
        {
            var upstream = _tasks[need];
            string? why = upstream.Status switch
            {
                TaskStatus.Skipped => "skipped",
                TaskStatus.Failed => "failed",
                TaskStatus.Cancelled => "cancelled",
                _ => null,
            };
            if (why is not null)
            {
                Skip(step.Id, $"upstream '{need}' {why}");
                return;
            }
        }

        if (step.When is { } when)
        {
            bool run;
            try
            {
                run = ExpressionEvaluator.IsTruthy(ExpressionEvaluator.Evaluate(Template.ParseCondition(when), new RunScope(this, null)));
            }
            catch (ExpressionException ex)
            {
                FinishTask(step.Id, TaskStatus.Failed, $"step '{step.Id}': when: {ex.Message}", null);
                return;
            }

            if (!run)
            {
                Skip(step.Id, $"when '{when.Trim()}' was false");
                return;
            }
        }

        if (step.Foreach is { } fe)
        {
            Expand(step, fe, t);
            return;
        }

        _tasks[step.Id] = t with { Status = TaskStatus.Ready };
        Enqueue(step.Id);
    }

    private void Expand(StepSpec step, ForeachSpec fe, TaskState parent)
    {
        JsonElement items;
        try
        {
            var scope = new RunScope(this, null);
            items = fe.Items.ValueKind == JsonValueKind.String
                ? ExpressionEvaluator.Evaluate(Template.ParseCondition(fe.Items.GetString()!), scope)
                : Template.ResolveDeep(fe.Items, scope);
        }
        catch (ExpressionException ex)
        {
            FinishTask(step.Id, TaskStatus.Failed, $"step '{step.Id}': foreach.items: {ex.Message}", null);
            return;
        }

        if (items.ValueKind != JsonValueKind.Array)
        {
            FinishTask(step.Id, TaskStatus.Failed, $"step '{step.Id}': foreach.items must give a list, but it gave {Describe(items)}: make it a list literal or an expression over a list", null);
            return;
        }

        int n = items.GetArrayLength();
        if (n > MaxForeachItems)
        {
            FinishTask(step.Id, TaskStatus.Failed, $"step '{step.Id}': foreach.items gave {n} items; the limit is {MaxForeachItems}: split the work into batches", null);
            return;
        }

        if (n == 0)
        {
            _tasks[step.Id] = parent with { Items = 0, ItemsOpen = 0, ItemsInFlight = 0 };
            FinishTask(step.Id, TaskStatus.Succeeded, "foreach over an empty list", new TaskResult());
            return;
        }

        int open = 0;
        int i = 0;
        foreach (var item in items.EnumerateArray())
        {
            var key = EngineIds.ItemKey(step.Id, i);
            if (_reusedItems is not null && _reusedItems.TryGetValue(key, out var reused))
            {
                _tasks[key] = new TaskState
                {
                    TaskKey = key, StepId = step.Id, ItemIndex = i, Item = item.Clone(), Status = TaskStatus.Succeeded, Result = reused,
                    Message = $"reused from run '{_old.RetryOf}'", FinishedAt = _at,
                };
                _reusedItems = _reusedItems.Remove(key);
            }
            else
            {
                _tasks[key] = new TaskState { TaskKey = key, StepId = step.Id, ItemIndex = i, Item = item.Clone(), Status = TaskStatus.Ready };
                open++;
            }

            i++;
        }

        if (_reusedItems is { Count: 0 })
        {
            _reusedItems = null;
        }

        _open += open;
        _tasks[step.Id] = parent with { Status = TaskStatus.Running, Items = n, ItemsOpen = open, ItemsInFlight = 0 };
        if (open == 0)
        {
            FinishForeach(step.Id);
            return;
        }

        // Items are enqueued in index order; their step's position keeps them contiguous in the queue.
        for (int k = 0; k < n; k++)
        {
            var key = EngineIds.ItemKey(step.Id, k);
            if (_tasks[key].Status == TaskStatus.Ready)
            {
                Enqueue(key);
            }
        }
    }

    private void Skip(string key, string reason)
    {
        _recorded.Add(new TaskSkipped(key, reason) { EventId = EngineIds.RecordedEventId(RunId, "skipped", key), At = _at });
        FinishTask(key, TaskStatus.Skipped, reason, null);
    }

    // ---------------------------------------------------------------- dispatch

    private void Enqueue(string key)
    {
        var order = Order(key);
        int lo = 0;
        int hi = _queue.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Compare(Order(_queue[mid]), order) < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        _queue.Insert(lo, key);
    }

    private (int Step, int Item) Order(string key)
    {
        var (stepId, item) = EngineIds.ParseTaskKey(key);
        return (_index.Position(stepId), item ?? -1);
    }

    private static int Compare((int Step, int Item) a, (int Step, int Item) b)
        => a.Step != b.Step ? a.Step.CompareTo(b.Step) : a.Item.CompareTo(b.Item);

    // First queue index whose step comes after the given step position.
    private int FirstAfterStep(int stepPos)
    {
        int lo = 0;
        int hi = _queue.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Order(_queue[mid]).Step <= stepPos)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private void Pump()
    {
        if (_error is not null || _completing || _status != RunStatus.Running)
        {
            return;
        }

        int i = 0;
        // A bound below 1 would stall the run forever; validation rejects it, and here it means one at a time.
        while (i < _queue.Count && (_spec.MaxParallel is not { } max || _inFlight < Math.Max(1, max)))
        {
            var key = _queue[i];
            var t = _tasks[key];
            if (t.ItemIndex is not null && _index.Step(t.StepId).Foreach?.MaxParallel is { } stepMax && _tasks[t.StepId].ItemsInFlight >= Math.Max(1, stepMax))
            {
                i = FirstAfterStep(_index.Position(t.StepId));
                continue;
            }

            _queue.RemoveAt(i);
            Dispatch(key, t);
            if (_error is not null)
            {
                return;
            }
        }
    }

    private void Dispatch(string key, TaskState t)
    {
        var step = _index.Step(t.StepId);
        int attempt = t.Attempt + 1;
        var dispatchId = EngineIds.DispatchId(RunId, key, attempt);
        TaskWorkItem work;
        try
        {
            work = BuildWork(step, t, attempt, dispatchId);
        }
        catch (ExpressionException ex)
        {
            FinishTask(key, TaskStatus.Failed, ex.Message, null);
            return;
        }

        _tasks[key] = t with { Status = TaskStatus.Dispatched, Attempt = attempt, DispatchId = dispatchId, StartedAt = t.StartedAt ?? _at, RetryAt = null };
        _inFlight++;
        if (t.ItemIndex is not null)
        {
            var parent = _tasks[t.StepId];
            _tasks[t.StepId] = parent with { ItemsInFlight = parent.ItemsInFlight + 1 };
        }

        _recorded.Add(new TaskDispatched(key, attempt, dispatchId) { EventId = dispatchId, At = _at });
        Command(new DispatchTask(work) { CommandId = EngineIds.CommandId(RunId, "dispatch", dispatchId) });
        if (work.Timeout is { } timeout)
        {
            var timerId = EngineIds.TimeoutTimer(key, attempt);
            Command(new ScheduleTimer(RunId, timerId, _at + timeout) { CommandId = EngineIds.CommandId(RunId, "timer", timerId) });
        }
    }

    private TaskWorkItem BuildWork(StepSpec step, TaskState t, int attempt, string dispatchId)
    {
        var scope = new RunScope(this, t.Item);
        string where = t.ItemIndex is { } ix ? $"step '{step.Id}' item {ix}" : $"step '{step.Id}'";

        var inputs = new Dictionary<string, JsonElement>(step.With.Count, StringComparer.Ordinal);
        foreach (var (name, value) in step.With)
        {
            inputs[name] = Resolve(() => Template.ResolveDeep(value, scope), where, $"with.{name}");
        }

        IReadOnlyList<string>? command = null;
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        if (step.Run is { } run)
        {
            var argv = new string[run.Command.Count];
            for (int i = 0; i < argv.Length; i++)
            {
                var arg = run.Command[i];
                argv[i] = Template.ContainsExpression(arg)
                    ? ExpressionEvaluator.ToText(Resolve(() => Template.Parse(arg).Evaluate(scope), where, $"run.command[{i}]"))
                    : arg;
            }

            command = argv;
            foreach (var (name, value) in run.Env)
            {
                env[name] = Template.ContainsExpression(value)
                    ? ExpressionEvaluator.ToText(Resolve(() => Template.Parse(value).Evaluate(scope), where, $"run.env.{name}"))
                    : value;
            }
        }

        var upstream = new Dictionary<string, IReadOnlyList<ArtifactRef>>(StringComparer.Ordinal);
        foreach (var need in step.Needs)
        {
            var artifacts = Artifacts(need);
            if (artifacts.Count > 0)
            {
                upstream[need] = artifacts;
            }
        }

        return new TaskWorkItem
        {
            RunId = RunId,
            TaskKey = t.TaskKey,
            StepId = step.Id,
            Attempt = attempt,
            DispatchId = dispatchId,
            PipelineName = _old.PipelineName,
            PipelineHash = _old.PipelineHash,
            Executor = step.EffectiveExecutor(_spec.Defaults),
            Uses = step.Uses,
            Command = command,
            Image = step.Run?.Image,
            Env = env,
            Inputs = inputs,
            Item = t.Item,
            UpstreamArtifacts = upstream,
            Timeout = step.Timeout ?? _spec.Defaults.Timeout,
            Resources = step.Resources,
            Cache = step.Cache,
        };
    }

    private static JsonElement Resolve(Func<JsonElement> evaluate, string where, string field)
    {
        try
        {
            return evaluate();
        }
        catch (ExpressionException ex)
        {
            throw new ExpressionException($"{where}: {field}: {ex.Message}", ex.Position);
        }
    }

    private IReadOnlyList<ArtifactRef> Artifacts(string stepId)
    {
        var t = _tasks[stepId];
        if (t.Items is not { } n)
        {
            return t.Result?.Artifacts ?? [];
        }

        // Needs are final, so their items no longer change: gather once per decision, not once per dispatched item.
        _foreachArtifacts ??= new(StringComparer.Ordinal);
        if (_foreachArtifacts.TryGetValue(stepId, out var cached))
        {
            return cached;
        }

        var all = new List<ArtifactRef>();
        for (int i = 0; i < n; i++)
        {
            if (_tasks.TryGetValue(EngineIds.ItemKey(stepId, i), out var item) && item.Result is { } r)
            {
                all.AddRange(r.Artifacts);
            }
        }

        _foreachArtifacts[stepId] = all;
        return all;
    }

    // ---------------------------------------------------------------- results

    private bool IsCurrentAttempt(string key, string dispatchId)
        => _tasks.TryGetValue(key, out var t) && t.InFlight && t.DispatchId == dispatchId;

    private void FailAttempt(string key, string error, bool retryable)
    {
        var t = _tasks[key];
        var step = _index.Step(t.StepId);
        var policy = step.Retry ?? _spec.Defaults.Retry ?? RetryPolicy.None;
        if (retryable && t.Attempt < policy.MaxAttempts && _error is null)
        {
            var fireAt = _at + Backoff.Delay(policy, RunId, key, t.Attempt);
            LeaveFlight(t);
            _tasks[key] = t with { Status = TaskStatus.Ready, RetryAt = fireAt, Message = error };
            var timerId = EngineIds.RetryTimer(key, t.Attempt + 1);
            Command(new ScheduleTimer(RunId, timerId, fireAt) { CommandId = EngineIds.CommandId(RunId, "timer", timerId) });
            return;
        }

        var message = policy.MaxAttempts > 1 && retryable && t.Attempt >= policy.MaxAttempts
            ? $"{error} (attempt {t.Attempt} of {policy.MaxAttempts}; no retries left)"
            : error;
        FinishTask(key, TaskStatus.Failed, message, null);
    }

    private void LeaveFlight(TaskState t)
    {
        _inFlight--;
        if (t.ItemIndex is not null)
        {
            var parent = _tasks[t.StepId];
            _tasks[t.StepId] = parent with { ItemsInFlight = parent.ItemsInFlight - 1 };
        }
    }

    private void FinishTask(string key, TaskStatus status, string? message, TaskResult? result)
    {
        var t = _tasks[key];
        if (t.InFlight)
        {
            LeaveFlight(t);
        }

        _tasks[key] = t with { Status = status, Message = message, Result = result, FinishedAt = _at, RetryAt = null };
        _open--;
        if (t.ItemIndex is null)
        {
            StepFinished(t.StepId);
            return;
        }

        var parent = _tasks[t.StepId];
        _tasks[t.StepId] = parent = parent with { ItemsOpen = parent.ItemsOpen - 1 };
        if (parent.ItemsOpen == 0)
        {
            FinishForeach(t.StepId);
        }
    }

    // A foreach step's own task takes the worst outcome of its items.
    private void FinishForeach(string stepId)
    {
        var parent = _tasks[stepId];
        int n = parent.Items ?? 0;
        int failed = 0;
        int cancelled = 0;
        string? firstError = null;
        for (int i = 0; i < n; i++)
        {
            var item = _tasks[EngineIds.ItemKey(stepId, i)];
            if (item.Status == TaskStatus.Failed)
            {
                failed++;
                firstError ??= $"item {i}: {item.Message}";
            }
            else if (item.Status == TaskStatus.Cancelled)
            {
                cancelled++;
            }
        }

        var (status, message) = failed > 0
            ? (TaskStatus.Failed, $"{failed} of {n} items failed; first: {firstError}")
            : cancelled > 0 ? (TaskStatus.Cancelled, $"{cancelled} of {n} items cancelled") : (TaskStatus.Succeeded, (string?)null);

        // The items hold the outputs; an empty result marks the step reusable as a whole by retry-from-failure.
        _tasks[stepId] = parent with { Status = status, Message = message, FinishedAt = _at, Result = status == TaskStatus.Succeeded ? new TaskResult() : null };
        _open--;
        StepFinished(stepId);
    }

    private void StepFinished(string stepId)
    {
        if (_completing)
        {
            return;
        }

        var t = _tasks[stepId];
        int pos = _index.Position(stepId);
        if (t.Status == TaskStatus.Failed && _index.Steps[pos].OnFailure == OnFailure.FailRun && _error is null)
        {
            _error = $"step '{stepId}' failed: {t.Message}";
        }

        foreach (int d in _index.Dependents[pos])
        {
            var dependent = _tasks[_index.Steps[d].Id];
            int left = (dependent.NeedsOpen ?? 0) - 1;
            _tasks[dependent.TaskKey] = dependent with { NeedsOpen = left > 0 ? left : null };
            if (left <= 0)
            {
                _toActivate.Enqueue(d);
            }
        }
    }

    // ---------------------------------------------------------------- completion

    private void Complete(RunStatus status, string? error, string? taskReason)
    {
        _completing = true;
        foreach (var step in _index.Steps)
        {
            var parent = _tasks[step.Id];
            if (parent.Items is { } n)
            {
                for (int i = 0; i < n; i++)
                {
                    CancelIfOpen(EngineIds.ItemKey(step.Id, i), taskReason);
                }
            }

            CancelIfOpen(step.Id, taskReason);
        }

        _queue.Clear();
        _status = status;
        _error = error;
        _finishedAt = _at;
        _recorded.Add(new RunCompleted(status, error) { EventId = EngineIds.RecordedEventId(RunId, "completed", "run"), At = _at });
        Command(new NotifyRunFinished(RunId, status) { CommandId = EngineIds.CommandId(RunId, "notify", "finished") });
    }

    private void CancelIfOpen(string key, string? reason)
    {
        var t = _tasks[key];
        if (t.IsFinal)
        {
            return;
        }

        if (t.InFlight)
        {
            Command(new CancelTask(RunId, key, t.DispatchId!) { CommandId = EngineIds.CommandId(RunId, "cancel", t.DispatchId!) });
        }

        var why = reason ?? "run finished";
        _recorded.Add(new TaskCancelled(key, why) { EventId = EngineIds.RecordedEventId(RunId, "cancelled", key), At = _at });
        FinishTask(key, TaskStatus.Cancelled, why, null);
    }

    private void Command(RunCommand command) => _commands.Add(command);

    // ---------------------------------------------------------------- expression scope

    internal JsonElement? ResolveReference(IReadOnlyList<string> path, JsonElement? item)
    {
        if (path.Count == 0)
        {
            return null;
        }

        switch (path[0])
        {
            case "params":
                return path.Count >= 2 && _old.Params.TryGetValue(path[1], out var p) ? Navigate(p, path, 2) : path.Count == 1 ? Json(_old.Params) : null;
            case "item":
                return item is { } it ? Navigate(it, path, 1) : null;
            case "events":
                return path.Count >= 2 && _raised.TryGetValue(path[1], out var ev) ? Navigate(ev, path, 2) : null;
            case "run":
                if (path.Count != 2)
                {
                    return null;
                }

                return path[1] switch
                {
                    "id" => Json(RunId),
                    "pipeline" => Json(_old.PipelineName),
                    "version" => Json(_old.PipelineHash),
                    "retryOf" => _old.RetryOf is null ? null : Json(_old.RetryOf),
                    _ => null,
                };
            case "steps":
                return path.Count >= 3 ? ResolveStep(path) : null;
            default:
                return null;
        }
    }

    private JsonElement? ResolveStep(IReadOnlyList<string> path)
    {
        if (!_index.HasStep(path[1]) || !_tasks.TryGetValue(path[1], out var t))
        {
            return null;
        }

        if (path[2] == "status")
        {
            return path.Count == 3 ? Json(JsonNamingPolicy.CamelCase.ConvertName(t.Status.ToString())) : null;
        }

        if (path[2] != "outputs" || t.Status is not (TaskStatus.Succeeded or TaskStatus.Cached))
        {
            return null;
        }

        if (t.Items is not { } n)
        {
            var outputs = t.Result?.Outputs ?? new Dictionary<string, JsonElement>();
            if (path.Count == 3)
            {
                return Json(outputs);
            }

            return outputs.TryGetValue(path[3], out var v) ? Navigate(v, path, 4) : null;
        }

        // A foreach step's outputs: the list of its items' outputs objects, or of one named output across items.
        _foreachOutputs ??= new(StringComparer.Ordinal);
        if (!_foreachOutputs.TryGetValue(path[1], out var itemOutputs))
        {
            itemOutputs = new List<IReadOnlyDictionary<string, JsonElement>>(n);
            for (int i = 0; i < n; i++)
            {
                itemOutputs.Add(_tasks[EngineIds.ItemKey(path[1], i)].Result?.Outputs ?? new Dictionary<string, JsonElement>());
            }

            _foreachOutputs[path[1]] = itemOutputs;
        }

        if (path.Count == 3)
        {
            return Json(itemOutputs);
        }

        if (int.TryParse(path[3], NumberStyles.None, CultureInfo.InvariantCulture, out int index))
        {
            return index < n ? Navigate(Json(itemOutputs[index]), path, 4) : null;
        }

        var column = itemOutputs.Select(o => o.TryGetValue(path[3], out var v) ? (JsonElement?)v : null).ToList();
        return Navigate(Json(column), path, 4);
    }

    private static JsonElement? Navigate(JsonElement value, IReadOnlyList<string> path, int from)
        => from >= path.Count ? value : new JsonScope(value).Resolve([.. path.Skip(from)]);

    private static JsonElement Json<T>(T value) => JsonSerializer.SerializeToElement(value);

    private static string Describe(JsonElement v)
    {
        var raw = v.GetRawText();
        if (raw.Length > 60)
        {
            raw = raw[..57] + "...";
        }

        return v.ValueKind switch
        {
            JsonValueKind.String => $"a string ({raw})",
            JsonValueKind.Number => $"a number ({raw})",
            JsonValueKind.True or JsonValueKind.False => $"a boolean ({raw})",
            JsonValueKind.Null => "null",
            _ => $"an object ({raw})",
        };
    }

    private static string Format(TimeSpan t) => t.ToString("c", CultureInfo.InvariantCulture);

    private sealed class RunScope(DecisionContext ctx, JsonElement? item) : IExpressionScope
    {
        public JsonElement? Resolve(IReadOnlyList<string> path) => ctx.ResolveReference(path, item);
    }
}
