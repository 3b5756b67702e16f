using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;

namespace Trainyard.Core.Tests.Engine;

/// <summary>What a simulated worker does with one attempt.</summary>
internal sealed record Outcome(bool Success, bool Hang = false, string Error = "boom", bool Retryable = true, bool Cached = false)
{
    public IReadOnlyDictionary<string, JsonElement> Outputs { get; init; } = new Dictionary<string, JsonElement>();

    public IReadOnlyList<ArtifactRef> Artifacts { get; init; } = [];

    public static Outcome Ok(object? outputs = null) => new(true)
    {
        Outputs = outputs is null ? new Dictionary<string, JsonElement>() : JsonSerializer.SerializeToElement(outputs).EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone()),
    };

    public static Outcome Fail(string error = "boom", bool retryable = true) => new(false, Error: error, Retryable: retryable);

    public static Outcome Hanging() => new(false, Hang: true);
}

/// <summary>
/// Drives the decider like the runtime would, with fabricated times: dispatches become results after one second,
/// timers fire at their time. Everything it applies is kept in <see cref="Journal"/> exactly as a run store would keep it.
/// </summary>
internal sealed class RunSimulator(PipelineSpec spec, string runId = "run-1")
{
    public static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private int _seq;

    public PipelineSpec Spec { get; set; } = spec;

    public string RunId { get; } = runId;

    public RunState? State { get; private set; }

    public DateTimeOffset Now { get; set; } = T0;

    public List<RunEvent> Journal { get; } = [];

    public List<TaskWorkItem> InFlight { get; } = [];

    public List<TaskWorkItem> Dispatched { get; } = [];

    public List<ScheduleTimer> Timers { get; } = [];

    public List<CancelTask> Cancels { get; } = [];

    public List<NotifyRunFinished> Notified { get; } = [];

    public int MaxInFlightSeen { get; private set; }

    public Func<TaskWorkItem, Outcome> Behaviour { get; set; } = _ => Outcome.Ok();

    /// <summary>Store the state as JSON and read it back after every decision, as a run store does.</summary>
    public bool RoundTripState { get; set; }

    /// <summary>Chooses which in-flight attempt completes next (default: the oldest).</summary>
    public Func<int, int> Pick { get; set; } = _ => 0;

    public RunState Run => State ?? throw new InvalidOperationException("not started");

    public TaskState Task(string key) => Run.Tasks[key];

    public string NextId() => $"ev-{++_seq}";

    public Decision Start(Func<RunStarted, RunStarted>? customize = null)
    {
        var e = new RunStarted
        {
            EventId = NextId(), At = Now, RunId = RunId, PipelineName = Spec.Name, PipelineHash = Spec.ContentHash,
        };
        return Apply(customize is null ? e : customize(e));
    }

    public Decision Apply(RunEvent e)
    {
        var d = Decider.Decide(Spec, State, e);
        if (d.Duplicate)
        {
            Assert.Same(State, d.State);
            Assert.Empty(d.Commands);
            Assert.Empty(d.Recorded);
            return d;
        }

        Journal.Add(e);
        Journal.AddRange(d.Recorded);
        State = RoundTripState
            ? JsonSerializer.Deserialize<RunState>(JsonSerializer.Serialize(d.State, EngineJson.Options), EngineJson.Options)!
            : d.State;
        foreach (var c in d.Commands)
        {
            switch (c)
            {
                case DispatchTask dt:
                    InFlight.Add(dt.Work);
                    Dispatched.Add(dt.Work);
                    break;
                case ScheduleTimer st:
                    Timers.Add(st);
                    break;
                case CancelTask ct:
                    Cancels.Add(ct);
                    InFlight.RemoveAll(w => w.DispatchId == ct.DispatchId);
                    break;
                case NotifyRunFinished n:
                    Notified.Add(n);
                    break;
            }
        }

        MaxInFlightSeen = Math.Max(MaxInFlightSeen, State!.InFlight);
        Assert.Equal(InFlight.Count, State!.InFlight);
        return d;
    }

    public Decision Complete(TaskWorkItem w, Outcome o)
    {
        InFlight.Remove(w);
        if (o.Success)
        {
            var result = new TaskResult { Outputs = o.Outputs, Artifacts = o.Artifacts, Cached = o.Cached };
            return Apply(new TaskSucceeded(w.TaskKey, w.DispatchId, result) { EventId = NextId(), At = Now });
        }

        return Apply(new TaskFailed(w.TaskKey, w.DispatchId, o.Error) { EventId = NextId(), At = Now, Retryable = o.Retryable });
    }

    public TaskWorkItem Work(string key) => InFlight.Single(w => w.TaskKey == key);

    public Decision Succeed(string key, object? outputs = null) => Complete(Work(key), Outcome.Ok(outputs));

    public Decision Fail(string key, string error = "boom", bool retryable = true) => Complete(Work(key), Outcome.Fail(error, retryable));

    public Decision Fire(string timerId)
    {
        var t = Timers.First(t => t.TimerId == timerId);
        Timers.Remove(t);
        if (t.FireAt > Now)
        {
            Now = t.FireAt;
        }

        return Apply(new TimerFired(timerId) { EventId = NextId(), At = Now });
    }

    /// <summary>Runs until the run finishes: completes attempts (hanging ones wait for their timeout), then fires timers in time order.</summary>
    public RunState RunToEnd(int maxEvents = 100_000)
    {
        var hung = new HashSet<string>();
        for (int n = 0; n < maxEvents && Run.Status == RunStatus.Running; n++)
        {
            var live = InFlight.Where(w => !hung.Contains(w.DispatchId)).ToList();
            if (live.Count > 0)
            {
                var w = live[Pick(live.Count)];
                Now += TimeSpan.FromSeconds(1);
                var o = Behaviour(w);
                if (o.Hang)
                {
                    hung.Add(w.DispatchId);
                    continue;
                }

                Complete(w, o);
                continue;
            }

            var next = Timers.OrderBy(t => t.FireAt).ThenBy(t => t.TimerId, StringComparer.Ordinal).FirstOrDefault()
                ?? throw new InvalidOperationException($"run is stuck: nothing in flight, no timer, status {Run.Status}");
            Fire(next.TimerId);
        }

        return Run;
    }
}

/// <summary>Small builders for specs in tests.</summary>
internal static class Specs
{
    public static StepSpec Step(string id, params string[] needs) => new() { Id = id, Uses = "echo", Needs = needs };

    public static PipelineSpec Pipeline(params StepSpec[] steps) => new() { Name = "test", Steps = steps, ContentHash = "hash-test" };

    public static JsonElement J(object? value) => JsonSerializer.SerializeToElement(value);

    public static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement.Clone();

    public static IReadOnlyDictionary<string, JsonElement> With(params (string Key, object? Value)[] pairs)
        => pairs.ToDictionary(p => p.Key, p => p.Value is JsonElement e ? e : J(p.Value));
}
