using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using static Trainyard.Core.Tests.Engine.Specs;

namespace Trainyard.Core.Tests.Engine;

/// <summary>
/// The pipelines and worker behaviour behind the checked-in journals in Journals/. Each scenario has a pipeline built
/// in C# (the YAML loader is another part of the code base and must not be able to break these format guards), a way to
/// drive it, and a changed pipeline the journal must no longer replay against.
/// </summary>
internal sealed record JournalScenario(string Name, Func<PipelineSpec> Spec, Action<RunSimulator> Drive, Func<PipelineSpec, PipelineSpec> Change)
{
    public static readonly IReadOnlyList<JournalScenario> All =
    [
        new("train-fanout", TrainFanOut, DriveTrainFanOut, s => s with { Steps = [.. s.Steps.Select(st => st.Id == "train" ? st with { Foreach = st.Foreach! with { MaxParallel = 3 } } : st)] }),
        new("timeout-continue", TimeoutContinue, DriveTimeoutContinue, s => s with { Steps = [.. s.Steps.Select(st => st.Id == "lint" ? st with { OnFailure = OnFailure.FailRun } : st)] }),
        new("cancelled", Cancelled, DriveCancelled, s => s with { MaxParallel = 2 }),
        new("retry-from-failure", RetryFromFailure, DriveRetryFromFailure, s => s with { Steps = [.. s.Steps.Select(st => st.Id == "evaluate" ? st with { When = "steps.train.outputs.auc > 0.99" } : st)] }),
    ];

    private static readonly RetryPolicy Retry = new() { MaxAttempts = 3, InitialInterval = TimeSpan.FromSeconds(5), BackoffCoefficient = 2, MaxInterval = TimeSpan.FromMinutes(1), Jitter = 0.2 };

    private static PipelineSpec TrainFanOut() => new()
    {
        Name = "train-fanout",
        ContentHash = "fixture-train-fanout",
        Params = [new ParamSpec("trainers", ParamType.List), new ParamSpec("deploy", ParamType.Boolean)],
        Defaults = new DefaultsSpec { Retry = Retry },
        Steps =
        [
            new StepSpec { Id = "ingest", Uses = "echo", With = With(("rows", 1000)) },
            new StepSpec
            {
                Id = "train", Uses = "echo", Needs = ["ingest"], With = With(("trainer", "${{ item }}"), ("rows", "${{ steps.ingest.outputs.rows }}")),
                Foreach = new ForeachSpec { Items = J("${{ params.trainers }}"), MaxParallel = 2 },
            },
            new StepSpec { Id = "select", Uses = "echo", Needs = ["train"], With = With(("aucs", "${{ steps.train.outputs.auc }}")) },
            new StepSpec { Id = "deploy", Uses = "echo", Needs = ["select"], When = "params.deploy && steps.select.outputs.best >= 0.9" },
            new StepSpec { Id = "notify", Uses = "echo", Needs = ["deploy"] },
        ],
    };

    private static void DriveTrainFanOut(RunSimulator sim)
    {
        sim.Behaviour = w => w switch
        {
            { StepId: "ingest" } => Outcome.Ok(new { rows = 1000 }),
            { TaskKey: "train[1]", Attempt: 1 } => Outcome.Fail("out of memory"),
            { StepId: "train" } => Outcome.Ok(new { auc = 0.8 + (0.01 * w.Item!.Value.GetString()!.Length) }),
            { StepId: "select" } => Outcome.Ok(new { best = 0.88 }),
            _ => Outcome.Ok(),
        };
        sim.Start(e => e with { Params = With(("trainers", new[] { "sdca", "fasttree", "lightgbm", "lbfgs" }), ("deploy", true)) });
        sim.RunToEnd();
    }

    private static PipelineSpec TimeoutContinue() => new()
    {
        Name = "timeout-continue",
        ContentHash = "fixture-timeout-continue",
        Timeout = TimeSpan.FromHours(2),
        Steps =
        [
            new StepSpec { Id = "fetch", Run = new RunSpec { Command = ["curl", "-o", "data.csv", "${{ params.url }}"] }, Timeout = TimeSpan.FromMinutes(1), Retry = Retry },
            new StepSpec { Id = "lint", Uses = "fail", Needs = ["fetch"], OnFailure = OnFailure.Continue },
            new StepSpec { Id = "lint-report", Uses = "echo", Needs = ["lint"] },
            new StepSpec { Id = "train", Run = new RunSpec { Command = ["python", "train.py"], Env = new Dictionary<string, string> { ["RUN_ID"] = "${{ run.id }}" } }, Needs = ["fetch"] },
        ],
        Params = [new ParamSpec("url", ParamType.String)],
    };

    private static void DriveTimeoutContinue(RunSimulator sim)
    {
        sim.Behaviour = w => w switch
        {
            { StepId: "fetch", Attempt: 1 } => Outcome.Hanging(),
            { StepId: "lint" } => Outcome.Fail("3 style errors", retryable: false),
            _ => Outcome.Ok(),
        };
        sim.Start(e => e with { Params = With(("url", "https://example.invalid/data.csv")) });
        sim.RunToEnd();
    }

    private static PipelineSpec Cancelled() => new()
    {
        Name = "cancelled",
        ContentHash = "fixture-cancelled",
        Steps = [Step("a"), Step("b"), Step("c"), Step("d", "a", "b", "c")],
    };

    private static void DriveCancelled(RunSimulator sim)
    {
        sim.Start();
        sim.Now += TimeSpan.FromSeconds(2);
        sim.Apply(new TaskStarted("a", sim.Work("a").DispatchId) { EventId = sim.NextId(), At = sim.Now, Worker = "w1" });
        sim.Succeed("b");
        sim.Apply(new EventRaised("note", J(new { by = "ops" })) { EventId = sim.NextId(), At = sim.Now });
        sim.Now += TimeSpan.FromSeconds(5);
        sim.Apply(new CancelRequested("wrong data") { EventId = sim.NextId(), At = sim.Now });
    }

    private static PipelineSpec RetryFromFailure() => new()
    {
        Name = "retry-from-failure",
        ContentHash = "fixture-retry-from-failure",
        Steps =
        [
            Step("prepare"),
            new StepSpec { Id = "train", Uses = "echo", Needs = ["prepare"] },
            new StepSpec { Id = "evaluate", Uses = "echo", Needs = ["train"], With = With(("auc", "${{ steps.train.outputs.auc }}")) },
            new StepSpec { Id = "shards", Uses = "echo", Needs = ["prepare"], Foreach = new ForeachSpec { Items = J(new[] { 0, 1, 2 }) } },
        ],
    };

    private static void DriveRetryFromFailure(RunSimulator sim)
    {
        var reused = new Dictionary<string, TaskResult>
        {
            ["prepare"] = new() { Artifacts = [new ArtifactRef("data", "runs/run-0/prepare/d1/data.csv", "00ff", 12)] },
            ["train"] = new() { Outputs = With(("auc", 0.93)) },
            ["shards[1]"] = new(),
        };
        sim.Start(e => e with { RetryOf = "run-0", Reused = reused });
        sim.RunToEnd();
    }
}
