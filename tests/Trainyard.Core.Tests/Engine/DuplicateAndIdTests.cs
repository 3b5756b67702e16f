using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using static Trainyard.Core.Tests.Engine.Specs;

namespace Trainyard.Core.Tests.Engine;

public sealed class DuplicateAndIdTests
{
    [Fact]
    public void RunStartedOnExistingState_IsDuplicate()
    {
        var sim = new RunSimulator(Pipeline(Step("a")));
        var first = sim.Start();
        var again = Decider.Decide(sim.Spec, sim.Run, new RunStarted { EventId = "again", At = sim.Now, RunId = "run-1", PipelineName = "test", PipelineHash = "x" });
        Assert.True(again.Duplicate);
        Assert.Same(first.State, again.State);
    }

    [Fact]
    public void ResultForWrongOrOldDispatch_IsDuplicate()
    {
        var sim = new RunSimulator(Pipeline(Step("a"), Step("b", "a")));
        sim.Start();
        var a = sim.Work("a");
        Assert.True(Decider.Decide(sim.Spec, sim.Run, new TaskSucceeded("a", "d-other", new TaskResult()) { EventId = "x1", At = sim.Now }).Duplicate);
        Assert.True(Decider.Decide(sim.Spec, sim.Run, new TaskFailed("a", "d-other", "e") { EventId = "x2", At = sim.Now }).Duplicate);
        Assert.True(Decider.Decide(sim.Spec, sim.Run, new TaskStarted("a", "d-other") { EventId = "x3", At = sim.Now }).Duplicate);
        Assert.True(Decider.Decide(sim.Spec, sim.Run, new TaskSucceeded("nope", a.DispatchId, new TaskResult()) { EventId = "x4", At = sim.Now }).Duplicate);

        sim.Succeed("a");
        var version = sim.Run.Version;
        var redelivered = Decider.Decide(sim.Spec, sim.Run, new TaskSucceeded("a", a.DispatchId, new TaskResult()) { EventId = "x5", At = sim.Now });
        Assert.True(redelivered.Duplicate);
        Assert.Equal(version, redelivered.State.Version);
        Assert.Single(sim.Dispatched, w => w.TaskKey == "b");
    }

    [Fact]
    public void CancelAndRaisedEvents_WithSeenIds_AreDuplicates()
    {
        var sim = new RunSimulator(Pipeline(Step("a")));
        sim.Start();
        sim.Apply(new EventRaised("go", J(1)) { EventId = "ev-go", At = sim.Now });
        Assert.True(Decider.Decide(sim.Spec, sim.Run, new EventRaised("go", J(2)) { EventId = "ev-go", At = sim.Now }).Duplicate);
        Assert.Equal(1, sim.Run.RaisedEvents["go"].GetInt32());

        sim.Apply(new CancelRequested("stop") { EventId = "c1", At = sim.Now });
        Assert.True(Decider.Decide(sim.Spec, sim.Run, new CancelRequested("stop") { EventId = "c1", At = sim.Now }).Duplicate);
    }

    [Fact]
    public void AnythingAfterRunFinished_IsDuplicate()
    {
        var sim = new RunSimulator(Pipeline(Step("a")));
        sim.Start();
        sim.Succeed("a");
        Assert.Equal(RunStatus.Succeeded, sim.Run.Status);
        Assert.True(Decider.Decide(sim.Spec, sim.Run, new CancelRequested("late") { EventId = "c-late", At = sim.Now }).Duplicate);
        Assert.True(Decider.Decide(sim.Spec, sim.Run, new EventRaised("x", J(1)) { EventId = "e-late", At = sim.Now }).Duplicate);
        Assert.True(Decider.Decide(sim.Spec, sim.Run, new TimerFired("retry/a/2") { EventId = "t-late", At = sim.Now }).Duplicate);
    }

    [Fact]
    public void DecisionEventsAndMissingState_AreRejectedWithClearErrors()
    {
        var spec = Pipeline(Step("a"));
        var ex = Assert.Throws<ArgumentException>(() => Decider.Decide(spec, null, new TaskDispatched("a", 1, "d") { EventId = "x", At = RunSimulator.T0 }));
        Assert.Contains("decision event", ex.Message);
        var ex2 = Assert.Throws<ArgumentException>(() => Decider.Decide(spec, null, new TimerFired("t") { EventId = "x", At = RunSimulator.T0 }));
        Assert.Contains("RunStarted", ex2.Message);
    }

    [Fact]
    public void SpecOfAnotherVersion_ThrowsNamingBothVersions()
    {
        var sim = new RunSimulator(Pipeline(Step("a"), Step("b", "a")));
        sim.Start();
        var a = sim.Work("a");
        var changed = Pipeline(Step("a")) with { ContentHash = "other-version" };
        var ex = Assert.Throws<InvalidOperationException>(() => Decider.Decide(changed, sim.Run, new TaskSucceeded("a", a.DispatchId, new TaskResult()) { EventId = "x", At = sim.Now }));
        Assert.Contains("hash-test", ex.Message);
        Assert.Contains("other-version", ex.Message);
    }

    [Fact]
    public void DispatchId_IsDeterministic_32Chars_BatchSafe()
    {
        var id = EngineIds.DispatchId("run-1", "train[3]", 2);
        Assert.Equal(id, EngineIds.DispatchId("run-1", "train[3]", 2));
        Assert.Equal(32, id.Length);
        Assert.Matches("^d[0-9a-f]{31}$", id);
        Assert.NotEqual(id, EngineIds.DispatchId("run-1", "train[3]", 3));
        Assert.NotEqual(id, EngineIds.DispatchId("run-2", "train[3]", 2));
        Assert.NotEqual(id, EngineIds.DispatchId("run-1", "train[4]", 2));
    }

    [Fact]
    public void CommandIds_AreDeterministicAcrossReplays()
    {
        var spec = Pipeline(Step("a"), Step("b", "a")) with { Timeout = TimeSpan.FromHours(1) };
        var one = Decider.Decide(spec, null, Start());
        var two = Decider.Decide(spec, null, Start());
        Assert.Equal(one.Commands.Select(c => c.CommandId), two.Commands.Select(c => c.CommandId));
        Assert.Equal(one.Commands.Count, one.Commands.Select(c => c.CommandId).Distinct().Count());

        static RunStarted Start() => new() { EventId = "s", At = RunSimulator.T0, RunId = "r", PipelineName = "p", PipelineHash = "h" };
    }

    [Theory]
    [InlineData("retry/train[3]/2", TimerKind.Retry, "train[3]", 2)]
    [InlineData("timeout/a/1", TimerKind.Timeout, "a", 1)]
    public void TaskTimerIds_RoundTrip(string id, TimerKind kind, string key, int attempt)
    {
        Assert.True(EngineIds.TryParseTaskTimer(id, out var k, out var t, out int n));
        Assert.Equal((kind, key, attempt), (k, t, n));
        Assert.Equal(id, kind == TimerKind.Retry ? EngineIds.RetryTimer(key, attempt) : EngineIds.TimeoutTimer(key, attempt));
        Assert.False(EngineIds.TryParseTaskTimer(EngineIds.RunTimeoutTimer, out _, out _, out _));
        Assert.Equal(("train", (int?)3), EngineIds.ParseTaskKey("train[3]"));
        Assert.Equal(("train", (int?)null), EngineIds.ParseTaskKey("train"));
    }

    [Fact]
    public void Backoff_WithoutJitter_IsExponentialAndCapped()
    {
        var p = new RetryPolicy { MaxAttempts = 10, InitialInterval = TimeSpan.FromSeconds(1), BackoffCoefficient = 3, MaxInterval = TimeSpan.FromSeconds(30), Jitter = 0 };
        Assert.Equal([1, 3, 9, 27, 30, 30], Enumerable.Range(1, 6).Select(a => Backoff.Delay(p, "r", "t", a).TotalSeconds));
    }

    [Fact]
    public void Backoff_Jitter_StaysInBounds_IsDeterministic_AndSpreads()
    {
        var p = new RetryPolicy { InitialInterval = TimeSpan.FromSeconds(10), BackoffCoefficient = 2, Jitter = 0.25 };
        var delays = Enumerable.Range(0, 500).Select(i => Backoff.Delay(p, $"run-{i}", "task", 1).TotalSeconds).ToList();
        Assert.All(delays, d => Assert.InRange(d, 7.5, 12.5));
        Assert.Equal(delays, Enumerable.Range(0, 500).Select(i => Backoff.Delay(p, $"run-{i}", "task", 1).TotalSeconds));
        Assert.True(delays.Min() < 8.0 && delays.Max() > 12.0, $"jitter should spread over the band, got {delays.Min()}..{delays.Max()}");
        Assert.True(delays.Distinct().Count() > 400);
    }
}
