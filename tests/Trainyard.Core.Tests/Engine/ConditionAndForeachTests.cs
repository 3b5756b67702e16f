using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using static Trainyard.Core.Tests.Engine.Specs;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Core.Tests.Engine;

public sealed class ConditionAndForeachTests
{
    [Fact]
    public void WhenFalse_SkipsStepAndDependents_WithRecordedReasons()
    {
        var spec = Pipeline(
            Step("train"),
            new StepSpec { Id = "deploy", Uses = "echo", Needs = ["train"], When = "${{ steps.train.outputs.auc >= 0.9 }}" },
            Step("notify", "deploy"),
            Step("report", "train"));
        var sim = new RunSimulator(spec);
        sim.Start();
        var d = sim.Succeed("train", new { auc = 0.8 });

        Assert.Equal(TaskStatus.Skipped, sim.Task("deploy").Status);
        Assert.Equal("when '${{ steps.train.outputs.auc >= 0.9 }}' was false", sim.Task("deploy").Message);
        Assert.Equal(TaskStatus.Skipped, sim.Task("notify").Status);
        Assert.Equal("upstream 'deploy' skipped", sim.Task("notify").Message);
        Assert.Equal(["deploy", "notify"], d.Recorded.OfType<TaskSkipped>().Select(s => s.TaskKey));
        Assert.Equal(TaskStatus.Dispatched, sim.Task("report").Status);
        sim.RunToEnd();
        Assert.Equal(RunStatus.Succeeded, sim.Run.Status);
    }

    [Fact]
    public void WhenTrue_OverParamsAndOutputs_Runs()
    {
        var spec = Pipeline(
            Step("train"),
            new StepSpec { Id = "deploy", Uses = "echo", Needs = ["train"], When = "params.deploy && steps.train.outputs.auc >= 0.9" })
            with { Params = [new ParamSpec("deploy", ParamType.Boolean)] };
        var sim = new RunSimulator(spec);
        sim.Start(e => e with { Params = With(("deploy", true)) });
        sim.Succeed("train", new { auc = 0.95 });
        Assert.Equal(TaskStatus.Dispatched, sim.Task("deploy").Status);
    }

    [Fact]
    public void WhenOnRootStep_IsEvaluatedAtStart()
    {
        var spec = Pipeline(new StepSpec { Id = "a", Uses = "echo", When = "params.go" }, Step("b"));
        var sim = new RunSimulator(spec);
        var d = sim.Start(e => e with { Params = With(("go", false)) });
        Assert.Equal("when 'params.go' was false", Assert.Single(d.Recorded.OfType<TaskSkipped>()).Reason);
        Assert.Equal(["b"], sim.Dispatched.Select(w => w.TaskKey));
    }

    [Fact]
    public void WhenThatCannotEvaluate_FailsStep_NamingStepAndField()
    {
        var spec = Pipeline(new StepSpec { Id = "a", Uses = "echo", When = "params.nope == 1" });
        var sim = new RunSimulator(spec);
        sim.Start();
        var a = sim.Task("a");
        Assert.Equal(TaskStatus.Failed, a.Status);
        Assert.Equal("step 'a': when: 'params.nope' has no value in this run", a.Message);
        Assert.Equal(RunStatus.Failed, sim.Run.Status);
    }

    [Fact]
    public void ForeachLiteral_FansOut_AndJoinsBeforeDependents()
    {
        var spec = Pipeline(
            new StepSpec { Id = "train", Uses = "echo", Foreach = new ForeachSpec { Items = Parse("""["fasttree","lightgbm","sdca"]""") }, With = With(("trainer", "${{ item }}")) },
            new StepSpec { Id = "pick", Uses = "echo", Needs = ["train"], With = With(("aucs", "${{ steps.train.outputs.auc }}"), ("all", "${{ steps.train.outputs }}"), ("second", "${{ steps.train.outputs[1].auc }}")) });
        var sim = new RunSimulator(spec);
        sim.Start();

        Assert.Equal(["train[0]", "train[1]", "train[2]"], sim.Dispatched.Select(w => w.TaskKey));
        Assert.Equal(["fasttree", "lightgbm", "sdca"], sim.Dispatched.Select(w => w.Inputs["trainer"].GetString()));
        Assert.Equal("lightgbm", sim.Dispatched[1].Item?.GetString());
        Assert.Equal(3, sim.Task("train").Items);
        Assert.Equal(TaskStatus.Running, sim.Task("train").Status);

        sim.Succeed("train[2]", new { auc = 0.7 });
        sim.Succeed("train[0]", new { auc = 0.9 });
        Assert.Equal(TaskStatus.Pending, sim.Task("pick").Status);
        sim.Succeed("train[1]", new { auc = 0.8 });

        Assert.Equal(TaskStatus.Succeeded, sim.Task("train").Status);
        var pick = sim.Work("pick");
        Assert.Equal("[0.9,0.8,0.7]", pick.Inputs["aucs"].GetRawText());
        Assert.Equal(0.8, pick.Inputs["second"].GetDouble());
        Assert.Equal(3, pick.Inputs["all"].GetArrayLength());
        Assert.Equal(0.7, pick.Inputs["all"][2].GetProperty("auc").GetDouble());
    }

    [Fact]
    public void ForeachExpression_OverParamsAndUpstreamOutputs()
    {
        var spec = Pipeline(
            Step("list"),
            new StepSpec { Id = "per-param", Uses = "echo", Foreach = new ForeachSpec { Items = J("${{ params.regions }}") }, With = With(("r", "${{ item.name }}")) },
            new StepSpec { Id = "per-file", Uses = "echo", Needs = ["list"], Foreach = new ForeachSpec { Items = J("steps.list.outputs.files") } });
        var sim = new RunSimulator(spec);
        sim.Start(e => e with { Params = With(("regions", Parse("""[{"name":"eu"},{"name":"us"}]"""))) });
        Assert.Equal(["eu", "us"], sim.Dispatched.Where(w => w.StepId == "per-param").Select(w => w.Inputs["r"].GetString()));

        sim.Succeed("list", new { files = new[] { "a.csv", "b.csv", "c.csv" } });
        Assert.Equal(["per-file[0]", "per-file[1]", "per-file[2]"], sim.InFlight.Where(w => w.StepId == "per-file").Select(w => w.TaskKey));
        sim.RunToEnd();
        Assert.Equal(RunStatus.Succeeded, sim.Run.Status);
    }

    [Fact]
    public void ForeachEmpty_SucceedsWithNoItems_AndDependentsRun()
    {
        var spec = Pipeline(
            new StepSpec { Id = "each", Uses = "echo", Foreach = new ForeachSpec { Items = J("params.items") } },
            new StepSpec { Id = "after", Uses = "echo", Needs = ["each"], With = With(("n", "${{ steps.each.outputs }}")) });
        var sim = new RunSimulator(spec);
        sim.Start(e => e with { Params = With(("items", Array.Empty<int>())) });

        Assert.Equal(TaskStatus.Succeeded, sim.Task("each").Status);
        Assert.Equal(0, sim.Task("each").Items);
        var after = Assert.Single(sim.Dispatched);
        Assert.Equal("[]", after.Inputs["n"].GetRawText());
    }

    [Fact]
    public void ForeachNonList_FailsStepWithClearMessage()
    {
        var spec = Pipeline(new StepSpec { Id = "each", Uses = "echo", Foreach = new ForeachSpec { Items = J("params.items") } });
        var sim = new RunSimulator(spec);
        sim.Start(e => e with { Params = With(("items", "abc")) });
        var each = sim.Task("each");
        Assert.Equal(TaskStatus.Failed, each.Status);
        Assert.Equal("step 'each': foreach.items must give a list, but it gave a string (\"abc\"): make it a list literal or an expression over a list", each.Message);
        Assert.Equal(RunStatus.Failed, sim.Run.Status);
    }

    [Fact]
    public void ForeachMaxParallel_BoundsItemsInFlight_InIndexOrder()
    {
        var spec = Pipeline(
            new StepSpec { Id = "each", Uses = "echo", Foreach = new ForeachSpec { Items = J(Enumerable.Range(0, 10).ToArray()), MaxParallel = 2 } },
            Step("other"));
        var sim = new RunSimulator(spec);
        sim.Start();

        // The bounded step's waiting items must not block an unrelated step behind them.
        Assert.Equal(["each[0]", "each[1]", "other"], sim.InFlight.Select(w => w.TaskKey));
        int maxEach = 0;
        while (sim.Run.Status == RunStatus.Running)
        {
            maxEach = Math.Max(maxEach, sim.InFlight.Count(w => w.StepId == "each"));
            Assert.True(sim.Task("each").ItemsInFlight <= 2);
            sim.Complete(sim.InFlight[0], Outcome.Ok());
        }

        Assert.Equal(2, maxEach);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"each[{i}]"), sim.Dispatched.Where(w => w.StepId == "each").Select(w => w.TaskKey));
        Assert.Equal(RunStatus.Succeeded, sim.Run.Status);
    }

    [Fact]
    public void ForeachItemFailure_FailsStep_ContinueSkipsDependents()
    {
        var spec = Pipeline(
            new StepSpec { Id = "each", Uses = "echo", OnFailure = OnFailure.Continue, Foreach = new ForeachSpec { Items = J(new[] { 1, 2, 3 }) } },
            Step("after", "each"));
        var sim = new RunSimulator(spec) { Behaviour = w => w.TaskKey == "each[1]" ? Outcome.Fail("bad item") : Outcome.Ok() };
        sim.Start();
        sim.RunToEnd();

        Assert.Equal(TaskStatus.Failed, sim.Task("each").Status);
        Assert.Equal("1 of 3 items failed; first: item 1: bad item", sim.Task("each").Message);
        Assert.Equal("upstream 'each' failed", sim.Task("after").Message);
        Assert.Equal(RunStatus.Succeeded, sim.Run.Status);
    }

    [Fact]
    public void ForeachWithRunLevelBound_SharesSlotsAcrossSteps()
    {
        var spec = Pipeline(new StepSpec { Id = "each", Uses = "echo", Foreach = new ForeachSpec { Items = J(Enumerable.Range(0, 20).ToArray()) } }) with { MaxParallel = 4 };
        var sim = new RunSimulator(spec);
        sim.Start();
        sim.RunToEnd();
        Assert.Equal(4, sim.MaxInFlightSeen);
        Assert.Equal(20, sim.Dispatched.Count);
    }

    [Fact]
    public void RetryFromFailure_ReusesSucceededForeachItems()
    {
        var spec = Pipeline(new StepSpec { Id = "each", Uses = "echo", Foreach = new ForeachSpec { Items = J(new[] { "a", "b", "c" }) } }, Step("after", "each"));
        var sim = new RunSimulator(spec, "run-2");
        var reused = new Dictionary<string, TaskResult> { ["each[0]"] = new() { Outputs = With(("v", 0)) }, ["each[2]"] = new() { Outputs = With(("v", 2)) } };
        sim.Start(e => e with { RetryOf = "run-1", Reused = reused });

        Assert.Equal(["each[1]"], sim.Dispatched.Select(w => w.TaskKey));
        Assert.Equal(TaskStatus.Succeeded, sim.Task("each[0]").Status);
        Assert.Null(sim.Run.ReusedItems);
        sim.Succeed("each[1]", new { v = 1 });
        Assert.Equal("after", sim.Work("after").TaskKey);
        Assert.Equal(TaskStatus.Succeeded, sim.Task("each").Status);
    }

    [Fact]
    public void StepStatus_IsInScope()
    {
        var spec = Pipeline(
            new StepSpec { Id = "opt", Uses = "echo", When = "false" },
            new StepSpec { Id = "a", Uses = "echo", With = With(("s", "${{ run.id }}/${{ run.version }}")) });
        var sim = new RunSimulator(spec);
        sim.Start();
        Assert.Equal("run-1/hash-test", sim.Work("a").Inputs["s"].GetString());
        Assert.Equal(JsonValueKind.String, sim.Work("a").Inputs["s"].ValueKind);
    }
    [Fact]
    public void ForeachAfterForeach_ItemsSeeUpstreamItemsOutputsAndArtifacts()
    {
        var spec = Pipeline(
            new StepSpec { Id = "split", Uses = "echo", Foreach = new ForeachSpec { Items = J(new[] { "a", "b" }) } },
            new StepSpec
            {
                Id = "score", Uses = "echo", Needs = ["split"], With = With(("part", "${{ item }}"), ("rows", "${{ steps.split.outputs.rows }}")),
                Foreach = new ForeachSpec { Items = J("steps.split.outputs.part") },
            });
        var sim = new RunSimulator(spec);
        sim.Start();
        foreach (var (key, part) in new[] { ("split[0]", "p0"), ("split[1]", "p1") })
        {
            sim.Complete(sim.Work(key), Outcome.Ok(new { part, rows = part.Length }) with { Artifacts = [new ArtifactRef(part, $"runs/run-1/{key}/x/{part}", "00", 1)] });
        }

        var score = sim.InFlight.Where(w => w.StepId == "score").ToList();
        Assert.Equal(["p0", "p1"], score.Select(w => w.Inputs["part"].GetString()));
        Assert.All(score, w => Assert.Equal("[2,2]", w.Inputs["rows"].GetRawText()));
        Assert.All(score, w => Assert.Equal(["p0", "p1"], w.UpstreamArtifacts["split"].Select(a => a.Name)));
    }

    [Fact]
    public void MaxParallelBelowOne_StillMakesProgress()
    {
        var sim = new RunSimulator(Pipeline(Step("a"), Step("b")) with { MaxParallel = 0 });
        sim.Start();
        Assert.Single(sim.InFlight);
        sim.RunToEnd();
        Assert.Equal(RunStatus.Succeeded, sim.Run.Status);
    }
}
