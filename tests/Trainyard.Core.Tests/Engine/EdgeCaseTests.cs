using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using static Trainyard.Core.Tests.Engine.Specs;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Core.Tests.Engine;

public sealed class EdgeCaseTests
{
    [Fact]
    public void FailingRun_DoesNotRetryInFlightFailures_AndCancelsPendingRetries()
    {
        var retry = new RetryPolicy { MaxAttempts = 3, Jitter = 0 };
        var sim = new RunSimulator(Pipeline(
            new StepSpec { Id = "a", Uses = "fail", Retry = retry },
            new StepSpec { Id = "b", Uses = "fail", Retry = retry },
            Step("c")));
        sim.Start();
        sim.Fail("a", "transient");
        Assert.Equal(TaskStatus.Ready, sim.Task("a").Status);

        sim.Fail("c", "fatal", retryable: false);
        Assert.True(sim.Run.Failing);
        var d = sim.Fail("b", "transient");
        Assert.Empty(d.Commands.OfType<ScheduleTimer>());
        Assert.Equal(TaskStatus.Failed, sim.Task("b").Status);

        Assert.Equal(RunStatus.Failed, sim.Run.Status);
        Assert.Equal("step 'c' failed: fatal", sim.Run.Error);
        Assert.Equal(TaskStatus.Cancelled, sim.Task("a").Status);
        Assert.True(Decider.Decide(sim.Spec, sim.Run, new TimerFired("retry/a/2") { EventId = "late", At = sim.Now }).Duplicate);
    }

    [Fact]
    public void CancelWhileFailing_EndsCancelled()
    {
        var sim = new RunSimulator(Pipeline(Step("a"), Step("b")));
        sim.Start();
        sim.Fail("a", "fatal", retryable: false);
        Assert.True(sim.Run.Failing);
        sim.Apply(new CancelRequested("enough") { EventId = "c", At = sim.Now });
        Assert.Equal(RunStatus.Cancelled, sim.Run.Status);
        Assert.Equal(TaskStatus.Cancelled, sim.Task("b").Status);
        Assert.Single(sim.Notified);
    }

    [Fact]
    public void CancelMidForeach_CancelsItemsAndTheStep()
    {
        var spec = Pipeline(new StepSpec { Id = "each", Uses = "echo", Foreach = new ForeachSpec { Items = J(new[] { 1, 2, 3, 4 }), MaxParallel = 2 } });
        var sim = new RunSimulator(spec);
        sim.Start();
        sim.Succeed("each[0]");
        var d = sim.Apply(new CancelRequested("") { EventId = "c", At = sim.Now });

        Assert.Equal(2, d.Commands.OfType<CancelTask>().Count());
        Assert.Equal(["each[1]", "each[2]", "each[3]"], d.Recorded.OfType<TaskCancelled>().Select(e => e.TaskKey));
        Assert.Equal(TaskStatus.Cancelled, sim.Task("each").Status);
        Assert.Equal("3 of 4 items cancelled", sim.Task("each").Message);
        Assert.Equal("cancelled on request", sim.Run.Error);
        Assert.Equal(0, sim.Run.Open);
    }

    [Fact]
    public void ForeachOverTheItemLimit_FailsStep()
    {
        var spec = Pipeline(new StepSpec { Id = "each", Uses = "echo", Foreach = new ForeachSpec { Items = J("params.n") } });
        var sim = new RunSimulator(spec);
        sim.Start(e => e with { Params = With(("n", Enumerable.Range(0, 10_001).ToArray())) });
        Assert.Contains("the limit is 10000", sim.Task("each").Message);
        Assert.Single(sim.Run.Tasks);
    }

    [Fact]
    public void ForeachItemsWithExpressionsInsideALiteralList_AreResolved()
    {
        var spec = Pipeline(new StepSpec { Id = "each", Uses = "echo", Foreach = new ForeachSpec { Items = Parse("""["${{ params.a }}", {"k":"${{ params.b }}"}]""") } });
        var sim = new RunSimulator(spec);
        sim.Start(e => e with { Params = With(("a", 1), ("b", "x")) });
        Assert.Equal(1, sim.Work("each[0]").Item?.GetInt32());
        Assert.Equal("x", sim.Work("each[1]").Item?.GetProperty("k").GetString());
    }

    [Fact]
    public void DuplicateNeeds_CountOnce()
    {
        var sim = new RunSimulator(Pipeline(Step("a"), Step("b", "a", "a")));
        sim.Start();
        sim.Succeed("a");
        Assert.Equal(TaskStatus.Dispatched, sim.Task("b").Status);
    }

    [Fact]
    public void ReplayTolerates_DuplicateInboundEventsInTheJournal()
    {
        var sim = new RunSimulator(Pipeline(Step("a"), Step("b", "a")));
        sim.Start();
        var a = sim.Work("a");
        sim.Succeed("a");
        var redelivered = new TaskSucceeded("a", a.DispatchId, new TaskResult()) { EventId = "again", At = sim.Now };
        var journal = sim.Journal.Append(redelivered).ToList();
        var state = JournalReplay.Replay(sim.Spec, journal);
        Assert.Equal(sim.Run.Version, state.Version);
        Assert.Equal(TaskStatus.Dispatched, state.Tasks["b"].Status);
    }

    [Fact]
    public void CycleInSpec_IsRejectedWithTheSteps()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => new RunSimulator(Pipeline(Step("a", "b"), Step("b", "a"))).Start());
        Assert.Contains("cycle", ex.Message);
        Assert.Contains("'a'", ex.Message);
    }
}
