using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using static Trainyard.Core.Tests.Engine.Specs;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Core.Tests.Engine;

public sealed class DeciderFlowTests
{
    [Fact]
    public void Start_DispatchesOnlyStepsWithoutNeeds()
    {
        var sim = new RunSimulator(Pipeline(Step("a"), Step("b", "a"), Step("c")));
        var d = sim.Start();

        Assert.Equal(["a", "c"], sim.Dispatched.Select(w => w.TaskKey));
        Assert.Equal(TaskStatus.Pending, sim.Task("b").Status);
        Assert.Equal(TaskStatus.Dispatched, sim.Task("a").Status);
        Assert.Equal(["a", "c"], d.Recorded.OfType<TaskDispatched>().Select(e => e.TaskKey));
        Assert.All(d.Recorded.OfType<TaskDispatched>(), e => Assert.Equal(EngineIds.DispatchId("run-1", e.TaskKey, 1), e.DispatchId));
        Assert.Equal(2, sim.Run.InFlight);
        Assert.Equal(3, sim.Run.Open);
    }

    [Fact]
    public void FanIn_WaitsForEveryNeed()
    {
        var sim = new RunSimulator(Pipeline(Step("a"), Step("b", "a"), Step("c", "a"), Step("d", "a"), Step("e", "b", "c", "d")));
        sim.Start();
        sim.Succeed("a");
        Assert.Equal(["b", "c", "d"], sim.InFlight.Select(w => w.TaskKey));
        sim.Succeed("b");
        sim.Succeed("d");
        Assert.Equal(TaskStatus.Pending, sim.Task("e").Status);
        sim.Succeed("c");
        Assert.Equal(TaskStatus.Dispatched, sim.Task("e").Status);
        sim.Succeed("e");

        Assert.Equal(RunStatus.Succeeded, sim.Run.Status);
        Assert.Equal(0, sim.Run.Open);
        Assert.Single(sim.Notified);
        Assert.Equal(RunStatus.Succeeded, sim.Notified[0].Status);
        Assert.IsType<RunCompleted>(sim.Journal[^1]);
    }

    [Fact]
    public void TaskStarted_MarksRunning_AndCachedResultMarksCached()
    {
        var sim = new RunSimulator(Pipeline(Step("a")));
        sim.Start();
        var w = sim.Work("a");
        sim.Apply(new TaskStarted("a", w.DispatchId) { EventId = sim.NextId(), At = sim.Now });
        Assert.Equal(TaskStatus.Running, sim.Task("a").Status);

        sim.Complete(w, Outcome.Ok() with { Cached = true });
        Assert.Equal(TaskStatus.Cached, sim.Task("a").Status);
        Assert.Equal(RunStatus.Succeeded, sim.Run.Status);
    }

    [Fact]
    public void Completion_VersionCountsEveryJournalEntry()
    {
        var sim = new RunSimulator(Pipeline(Step("a"), Step("b", "a")));
        sim.Start();
        sim.RunToEnd();
        Assert.Equal(sim.Journal.Count, sim.Run.Version);
        Assert.Equal(sim.Now, sim.Run.FinishedAt);
    }

    [Fact]
    public void WorkItem_CarriesResolvedInputsCommandEnvAndUpstreamArtifacts()
    {
        var spec = new PipelineSpec
        {
            Name = "wi",
            ContentHash = "h1",
            Params = [new ParamSpec("lr", ParamType.Number)],
            Defaults = new DefaultsSpec { Timeout = TimeSpan.FromMinutes(5), Executor = ExecutorKind.Batch },
            Steps =
            [
                Step("prep"),
                new StepSpec
                {
                    Id = "train",
                    Needs = ["prep"],
                    Run = new RunSpec
                    {
                        Command = ["python", "train.py", "--lr=${{ params.lr }}", "--rows", "${{ steps.prep.outputs.rows }}"],
                        Image = "img:1",
                        Env = new Dictionary<string, string> { ["RUN"] = "${{ run.id }}", ["PLAIN"] = "x" },
                    },
                    With = With(("lr", "${{ params.lr }}"), ("name", "m-${{ run.pipeline }}"), ("nested", Parse("""{"a":["${{ steps.prep.outputs.rows }}"]}"""))),
                    Resources = new ResourceSpec { Gpu = 1 },
                    Cache = new CacheSpec(),
                },
                new StepSpec { Id = "report", Uses = "echo", Needs = ["train"], Executor = ExecutorKind.Local, Timeout = TimeSpan.FromSeconds(30) },
            ],
        };
        var sim = new RunSimulator(spec);
        sim.Start(e => e with { Params = With(("lr", 0.5)) });
        var prep = sim.Work("prep");
        Assert.Equal(ExecutorKind.Builtin, prep.Executor);
        sim.Complete(prep, Outcome.Ok(new { rows = 42 }) with { Artifacts = [new ArtifactRef("data", "runs/run-1/prep/x/data.csv", "abc", 10)] });

        var w = sim.Work("train");
        Assert.Equal(["python", "train.py", "--lr=0.5", "--rows", "42"], w.Command);
        Assert.Equal("run-1", w.Env["RUN"]);
        Assert.Equal("x", w.Env["PLAIN"]);
        Assert.Equal(0.5, w.Inputs["lr"].GetDouble());
        Assert.Equal("m-wi", w.Inputs["name"].GetString());
        Assert.Equal(42, w.Inputs["nested"].GetProperty("a")[0].GetInt32());
        Assert.Equal("img:1", w.Image);
        Assert.Equal(ExecutorKind.Batch, w.Executor);
        Assert.Equal(TimeSpan.FromMinutes(5), w.Timeout);
        Assert.Equal(1, w.Resources?.Gpu);
        Assert.NotNull(w.Cache);
        Assert.Equal("wi", w.PipelineName);
        Assert.Equal("h1", w.PipelineHash);
        Assert.Equal(1, w.Attempt);
        Assert.Equal("data", Assert.Single(w.UpstreamArtifacts["prep"]).Name);
        Assert.Equal($"runs/run-1/train/{w.DispatchId}/", w.OutputPrefix);

        sim.Succeed("train");
        var report = sim.Work("report");
        Assert.Equal(ExecutorKind.Local, report.Executor);
        Assert.Equal(TimeSpan.FromSeconds(30), report.Timeout);
        Assert.Empty(report.UpstreamArtifacts);
    }

    [Fact]
    public void ExpressionFailureInWith_FailsTaskWithoutRetry_NamingStepAndField()
    {
        var spec = Pipeline(new StepSpec { Id = "a", Uses = "echo", With = With(("x", "${{ params.missing }}")), Retry = new RetryPolicy { MaxAttempts = 5 } });
        var sim = new RunSimulator(spec);
        sim.Start();

        var a = sim.Task("a");
        Assert.Equal(TaskStatus.Failed, a.Status);
        Assert.Equal(0, a.Attempt);
        Assert.Contains("step 'a'", a.Message);
        Assert.Contains("with.x", a.Message);
        Assert.Contains("params.missing", a.Message);
        Assert.Empty(sim.Dispatched);
        Assert.Equal(RunStatus.Failed, sim.Run.Status);
        Assert.Contains("step 'a' failed", sim.Run.Error);
    }

    [Fact]
    public void RunLevelMaxParallel_BoundsInFlight_AndDispatchesInFileOrder()
    {
        var steps = Enumerable.Range(0, 10).Select(i => Step($"s{i}")).ToArray();
        var sim = new RunSimulator(Pipeline(steps) with { MaxParallel = 3 });
        sim.Start();
        Assert.Equal(["s0", "s1", "s2"], sim.InFlight.Select(w => w.TaskKey));
        Assert.Equal(7, sim.Run.Queue.Count);
        Assert.Equal(TaskStatus.Ready, sim.Task("s9").Status);

        sim.Succeed("s1");
        Assert.Equal(["s0", "s2", "s3"], sim.InFlight.Select(w => w.TaskKey));
        sim.RunToEnd();

        Assert.Equal(3, sim.MaxInFlightSeen);
        Assert.Equal(steps.Select(s => s.Id), sim.Dispatched.Select(w => w.TaskKey));
        Assert.Equal(RunStatus.Succeeded, sim.Run.Status);
    }

    [Fact]
    public void ContinueOnFailure_SkipsDependents_RunStillSucceeds()
    {
        var spec = Pipeline(
            new StepSpec { Id = "flaky", Uses = "fail", OnFailure = OnFailure.Continue },
            Step("after-flaky", "flaky"),
            Step("later", "after-flaky"),
            Step("other"));
        var sim = new RunSimulator(spec) { Behaviour = w => w.StepId == "flaky" ? Outcome.Fail("exit 3") : Outcome.Ok() };
        sim.Start();
        sim.RunToEnd();

        Assert.Equal(RunStatus.Succeeded, sim.Run.Status);
        Assert.Equal(TaskStatus.Failed, sim.Task("flaky").Status);
        Assert.Equal("upstream 'flaky' failed", sim.Task("after-flaky").Message);
        Assert.Equal(TaskStatus.Skipped, sim.Task("after-flaky").Status);
        Assert.Equal("upstream 'after-flaky' skipped", sim.Task("later").Message);
        Assert.Equal(TaskStatus.Succeeded, sim.Task("other").Status);
        Assert.Equal(["after-flaky", "later"], sim.Journal.OfType<TaskSkipped>().Select(s => s.TaskKey));
    }

    [Fact]
    public void FailRun_StopsNewDispatches_WaitsForInFlight_ThenFailsNamingStep()
    {
        var spec = Pipeline(Step("a"), Step("b"), Step("c", "a"), Step("d", "b"));
        var sim = new RunSimulator(spec);
        sim.Start();
        sim.Fail("a", "disk full", retryable: false);

        Assert.Equal(RunStatus.Running, sim.Run.Status);
        Assert.True(sim.Run.Failing);
        Assert.Equal(TaskStatus.Pending, sim.Task("c").Status);

        sim.Succeed("b");
        Assert.DoesNotContain(sim.Dispatched, w => w.TaskKey == "d");
        Assert.Equal(RunStatus.Failed, sim.Run.Status);
        Assert.Equal("step 'a' failed: disk full", sim.Run.Error);
        Assert.Equal(TaskStatus.Cancelled, sim.Task("c").Status);
        Assert.Equal(TaskStatus.Cancelled, sim.Task("d").Status);
        Assert.Equal(TaskStatus.Succeeded, sim.Task("b").Status);
        var completed = Assert.IsType<RunCompleted>(sim.Journal[^1]);
        Assert.Equal(RunStatus.Failed, completed.Status);
        Assert.Equal(RunStatus.Failed, Assert.Single(sim.Notified).Status);
    }

    [Fact]
    public void CancelRequested_CancelsInFlightAndPending_AndIgnoresLateResults()
    {
        var sim = new RunSimulator(Pipeline(Step("a"), Step("b"), Step("c", "a")));
        sim.Start();
        var a = sim.Work("a");
        var b = sim.Work("b");
        sim.Succeed("b");
        var d = sim.Apply(new CancelRequested("operator said so") { EventId = "cancel-1", At = sim.Now });

        Assert.Equal(RunStatus.Cancelled, sim.Run.Status);
        var cancel = Assert.Single(d.Commands.OfType<CancelTask>());
        Assert.Equal(a.DispatchId, cancel.DispatchId);
        Assert.Equal(TaskStatus.Cancelled, sim.Task("a").Status);
        Assert.Equal(TaskStatus.Cancelled, sim.Task("c").Status);
        Assert.Equal(TaskStatus.Succeeded, sim.Task("b").Status);
        Assert.Equal(["a", "c"], d.Recorded.OfType<TaskCancelled>().Select(e => e.TaskKey));
        Assert.Equal("cancelled: operator said so", sim.Run.Error);
        Assert.Single(d.Commands.OfType<NotifyRunFinished>());

        var late = Decider.Decide(sim.Spec, sim.Run, new TaskSucceeded("a", a.DispatchId, new TaskResult()) { EventId = "late", At = sim.Now });
        Assert.True(late.Duplicate);
        Assert.Same(sim.Run, late.State);
        _ = b;
    }

    [Fact]
    public void RetryFromFailure_ReusedTasksStartSucceeded_AndFeedDependents()
    {
        var spec = Pipeline(Step("a"), new StepSpec { Id = "b", Uses = "echo", Needs = ["a"], With = With(("v", "${{ steps.a.outputs.v }}")) });
        var sim = new RunSimulator(spec, "run-2");
        var reused = new TaskResult { Outputs = With(("v", 7)) };
        sim.Start(e => e with { RetryOf = "run-1", Reused = new Dictionary<string, TaskResult> { ["a"] = reused } });

        Assert.Equal(TaskStatus.Succeeded, sim.Task("a").Status);
        Assert.Equal("reused from run 'run-1'", sim.Task("a").Message);
        Assert.Equal("run-1", sim.Run.RetryOf);
        var b = Assert.Single(sim.Dispatched);
        Assert.Equal("b", b.TaskKey);
        Assert.Equal(7, b.Inputs["v"].GetInt32());
        sim.RunToEnd();
        Assert.Equal(RunStatus.Succeeded, sim.Run.Status);
        Assert.DoesNotContain(sim.Dispatched, w => w.TaskKey == "a");
    }

    [Fact]
    public void RetryFromFailure_EverythingReused_CompletesAtStart()
    {
        var sim = new RunSimulator(Pipeline(Step("a"), Step("b", "a")));
        var d = sim.Start(e => e with { RetryOf = "run-0", Reused = new Dictionary<string, TaskResult> { ["a"] = new(), ["b"] = new() } });
        Assert.Equal(RunStatus.Succeeded, sim.Run.Status);
        Assert.Empty(sim.Dispatched);
        Assert.IsType<RunCompleted>(Assert.Single(d.Recorded));
    }

    [Fact]
    public void RaisedEvent_IsVisibleToWhenConditions()
    {
        var spec = Pipeline(Step("a"), new StepSpec { Id = "deploy", Uses = "echo", Needs = ["a"], When = "events.approval.ok == true" });
        var sim = new RunSimulator(spec);
        sim.Start();
        sim.Apply(new EventRaised("approval", Parse("""{"ok":true}""")) { EventId = "approve-1", At = sim.Now });
        Assert.True(sim.Run.RaisedEvents["approval"].GetProperty("ok").GetBoolean());
        sim.Succeed("a");
        Assert.Equal(TaskStatus.Dispatched, sim.Task("deploy").Status);
    }
}
