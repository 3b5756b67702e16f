using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using static Trainyard.Core.Tests.Engine.Specs;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Core.Tests.Engine;

public sealed class RetryAndTimeoutTests
{
    private static readonly RetryPolicy ThreeTries = new()
    {
        MaxAttempts = 3, InitialInterval = TimeSpan.FromSeconds(10), BackoffCoefficient = 2, MaxInterval = TimeSpan.FromMinutes(1), Jitter = 0.2,
    };

    [Fact]
    public void RetryableFailure_SchedulesTimerAtBackoff_ThenDispatchesNextAttempt()
    {
        var sim = new RunSimulator(Pipeline(new StepSpec { Id = "a", Uses = "fail", Retry = ThreeTries }));
        sim.Start();
        var first = sim.Work("a");
        sim.Now += TimeSpan.FromSeconds(3);
        var d = sim.Fail("a", "flaky");

        var timer = Assert.Single(d.Commands.OfType<ScheduleTimer>());
        Assert.Equal(EngineIds.RetryTimer("a", 2), timer.TimerId);
        Assert.Equal("retry/a/2", timer.TimerId);
        Assert.Equal(sim.Now + Backoff.Delay(ThreeTries, "run-1", "a", 1), timer.FireAt);
        var a = sim.Task("a");
        Assert.Equal(TaskStatus.Ready, a.Status);
        Assert.Equal(timer.FireAt, a.RetryAt);
        Assert.Equal("flaky", a.Message);
        Assert.Equal(0, sim.Run.InFlight);
        Assert.Empty(sim.Run.Queue);

        sim.Fire(timer.TimerId);
        var second = sim.Work("a");
        Assert.Equal(2, second.Attempt);
        Assert.Equal(EngineIds.DispatchId("run-1", "a", 2), second.DispatchId);
        Assert.NotEqual(first.DispatchId, second.DispatchId);
        Assert.Equal(second.DispatchId, sim.Task("a").DispatchId);
        Assert.Equal(timer.FireAt, sim.Journal.OfType<TaskDispatched>().Last().At);

        sim.Succeed("a");
        Assert.Equal(RunStatus.Succeeded, sim.Run.Status);
        Assert.Equal(2, sim.Task("a").Attempt);
    }

    [Fact]
    public void RetriesExhausted_FailTaskAndRun_WithAttemptCount()
    {
        var sim = new RunSimulator(Pipeline(new StepSpec { Id = "a", Uses = "fail", Retry = ThreeTries }, Step("b", "a"))) { Behaviour = _ => Outcome.Fail("exit 1") };
        sim.Start();
        sim.RunToEnd();

        Assert.Equal(3, sim.Dispatched.Count);
        Assert.Equal([1, 2, 3], sim.Dispatched.Select(w => w.Attempt));
        var a = sim.Task("a");
        Assert.Equal(TaskStatus.Failed, a.Status);
        Assert.Equal("exit 1 (attempt 3 of 3; no retries left)", a.Message);
        Assert.Equal(RunStatus.Failed, sim.Run.Status);
        Assert.StartsWith("step 'a' failed: exit 1", sim.Run.Error);
        Assert.Equal(TaskStatus.Cancelled, sim.Task("b").Status);
    }

    [Fact]
    public void RetryTiming_FollowsExponentialBackoffWithJitterBounds()
    {
        var sim = new RunSimulator(Pipeline(new StepSpec { Id = "a", Uses = "fail", Retry = ThreeTries })) { Behaviour = _ => Outcome.Fail() };
        sim.Start();
        sim.RunToEnd();

        var timers = sim.Journal.OfType<TaskDispatched>().Select(e => e.At).ToList();
        Assert.Equal(3, timers.Count);

        // Each attempt fails 1 s after dispatch (the simulator's clock); the next dispatch waits the backoff.
        var gap1 = timers[1] - timers[0] - TimeSpan.FromSeconds(1);
        var gap2 = timers[2] - timers[1] - TimeSpan.FromSeconds(1);
        Assert.InRange(gap1.TotalSeconds, 8, 12);
        Assert.InRange(gap2.TotalSeconds, 16, 24);
        Assert.Equal(Backoff.Delay(ThreeTries, "run-1", "a", 1), gap1);
        Assert.Equal(Backoff.Delay(ThreeTries, "run-1", "a", 2), gap2);
    }

    [Fact]
    public void NonRetryableFailure_FailsAtOnceDespitePolicy()
    {
        var sim = new RunSimulator(Pipeline(new StepSpec { Id = "a", Uses = "fail", Retry = ThreeTries }));
        sim.Start();
        var d = sim.Fail("a", "unknown step 'nope'", retryable: false);

        Assert.Empty(d.Commands.OfType<ScheduleTimer>());
        Assert.Equal(TaskStatus.Failed, sim.Task("a").Status);
        Assert.Equal("unknown step 'nope'", sim.Task("a").Message);
        Assert.Equal(RunStatus.Failed, sim.Run.Status);
    }

    [Fact]
    public void DefaultsRetry_AppliesWhenStepHasNone()
    {
        var spec = Pipeline(Step("a")) with { Defaults = new DefaultsSpec { Retry = ThreeTries with { MaxAttempts = 2 } } };
        var sim = new RunSimulator(spec) { Behaviour = _ => Outcome.Fail() };
        sim.Start();
        sim.RunToEnd();
        Assert.Equal(2, sim.Dispatched.Count);
    }

    [Fact]
    public void StaleRetryTimer_IsDuplicate()
    {
        var sim = new RunSimulator(Pipeline(new StepSpec { Id = "a", Uses = "fail", Retry = ThreeTries }));
        sim.Start();
        sim.Fail("a");
        sim.Fire("retry/a/2");
        var again = Decider.Decide(sim.Spec, sim.Run, new TimerFired("retry/a/2") { EventId = "dup", At = sim.Now });
        Assert.True(again.Duplicate);
        var unknown = Decider.Decide(sim.Spec, sim.Run, new TimerFired("something-else") { EventId = "x", At = sim.Now });
        Assert.True(unknown.Duplicate);
    }

    [Fact]
    public void AttemptTimeout_CancelsAttempt_CountsAsRetryableFailure()
    {
        var spec = Pipeline(new StepSpec { Id = "a", Uses = "sleep", Timeout = TimeSpan.FromSeconds(30), Retry = ThreeTries with { MaxAttempts = 2 } });
        var sim = new RunSimulator(spec);
        var start = sim.Start();
        var first = sim.Work("a");
        var timeout = Assert.Single(start.Commands.OfType<ScheduleTimer>());
        Assert.Equal("timeout/a/1", timeout.TimerId);
        Assert.Equal(RunSimulator.T0 + TimeSpan.FromSeconds(30), timeout.FireAt);

        var d = sim.Fire("timeout/a/1");
        Assert.Equal(first.DispatchId, Assert.Single(d.Commands.OfType<CancelTask>()).DispatchId);
        Assert.Equal("retry/a/2", Assert.Single(d.Commands.OfType<ScheduleTimer>()).TimerId);
        Assert.Equal("attempt 1 timed out after 00:00:30", sim.Task("a").Message);

        // The timed-out attempt's late result no longer counts.
        var late = Decider.Decide(spec, sim.Run, new TaskSucceeded("a", first.DispatchId, new TaskResult()) { EventId = "late", At = sim.Now });
        Assert.True(late.Duplicate);

        sim.Fire("retry/a/2");
        sim.Fire("timeout/a/2");
        Assert.Equal(TaskStatus.Failed, sim.Task("a").Status);
        Assert.Contains("attempt 2 timed out after 00:00:30", sim.Task("a").Message);
        Assert.Equal(RunStatus.Failed, sim.Run.Status);
    }

    [Fact]
    public void TimeoutTimerAfterSuccess_IsDuplicate()
    {
        var spec = Pipeline(new StepSpec { Id = "a", Uses = "sleep", Timeout = TimeSpan.FromSeconds(30) }, Step("b"));
        var sim = new RunSimulator(spec);
        sim.Start();
        sim.Succeed("a");
        var d = Decider.Decide(spec, sim.Run, new TimerFired("timeout/a/1") { EventId = "t", At = sim.Now });
        Assert.True(d.Duplicate);
    }

    [Fact]
    public void RunTimeout_FailsRun_AndCancelsInFlight()
    {
        var spec = Pipeline(Step("a"), Step("b"), Step("c", "a")) with { Timeout = TimeSpan.FromMinutes(10) };
        var sim = new RunSimulator(spec);
        var start = sim.Start();
        Assert.Contains(start.Commands.OfType<ScheduleTimer>(), t => t.TimerId == EngineIds.RunTimeoutTimer && t.FireAt == RunSimulator.T0.AddMinutes(10));
        sim.Succeed("b");
        var a = sim.Work("a");

        var d = sim.Fire(EngineIds.RunTimeoutTimer);
        Assert.Equal(RunStatus.Failed, sim.Run.Status);
        Assert.Equal("run timed out after 00:10:00", sim.Run.Error);
        Assert.Equal(a.DispatchId, Assert.Single(d.Commands.OfType<CancelTask>()).DispatchId);
        Assert.Equal(TaskStatus.Cancelled, sim.Task("a").Status);
        Assert.Equal("run timed out", sim.Task("c").Message);
        Assert.Equal(TaskStatus.Succeeded, sim.Task("b").Status);
        Assert.Equal(0, sim.Run.InFlight);
    }

    [Fact]
    public void RunTimeoutTimer_WithoutRunTimeout_IsDuplicate()
    {
        var sim = new RunSimulator(Pipeline(Step("a")));
        sim.Start();
        Assert.True(Decider.Decide(sim.Spec, sim.Run, new TimerFired(EngineIds.RunTimeoutTimer) { EventId = "t", At = sim.Now }).Duplicate);
    }
}
