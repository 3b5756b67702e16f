using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using static Trainyard.Core.Tests.Engine.Specs;

namespace Trainyard.Core.Tests.Engine;

public sealed class StateSerializationTests
{
    private static PipelineSpec Mixed() => Pipeline(
        Step("a"),
        new StepSpec { Id = "each", Uses = "echo", Needs = ["a"], Foreach = new ForeachSpec { Items = J("steps.a.outputs.list"), MaxParallel = 2 }, Retry = new RetryPolicy { MaxAttempts = 2 } },
        new StepSpec { Id = "gate", Uses = "echo", Needs = ["each"], When = "params.go" },
        Step("z", "each")) with { MaxParallel = 3, Params = [new ParamSpec("go", ParamType.Boolean)] };

    private static Outcome Behave(TaskWorkItem w)
        => w.TaskKey == "a" ? Outcome.Ok(new { list = new[] { 1, 2, 3, 4, 5 } })
            : w.TaskKey == "each[3]" && w.Attempt == 1 ? Outcome.Fail("transient")
            : Outcome.Ok(new { v = w.TaskKey });

    [Fact]
    public void StateStoredAsJsonBetweenDecisions_DecidesExactlyLikeInMemory()
    {
        var live = new RunSimulator(Mixed()) { Behaviour = Behave };
        live.Start(e => e with { Params = With(("go", false)) });
        live.RunToEnd();

        var stored = new RunSimulator(Mixed()) { Behaviour = Behave, RoundTripState = true };
        stored.Start(e => e with { Params = With(("go", false)) });
        stored.RunToEnd();

        Assert.Equal(RunStatus.Succeeded, stored.Run.Status);
        Assert.Equal(JournalReplay.Serialize(live.Journal), JournalReplay.Serialize(stored.Journal));
        Assert.Equal(JsonSerializer.Serialize(live.Run, EngineJson.Options), JsonSerializer.Serialize(stored.Run, EngineJson.Options));
    }

    [Fact]
    public void Snapshot_StaysCompact()
    {
        var spec = Pipeline(new StepSpec { Id = "each", Uses = "echo", Foreach = new ForeachSpec { Items = J(Enumerable.Range(0, 1000).ToArray()) } });
        var sim = new RunSimulator(spec);
        sim.Start();
        sim.RunToEnd();
        var bytes = JsonSerializer.SerializeToUtf8Bytes(sim.Run, EngineJson.Options).Length;
        Assert.InRange(bytes, 1, 300 * 1000);
    }
}
