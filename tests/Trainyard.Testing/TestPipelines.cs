using System.Text.Json;
using Trainyard.Core.Spec;
using Trainyard.Runtime;
using Trainyard.Execution;

namespace Trainyard.Testing;

/// <summary>Pipelines built in code for runtime tests (no YAML needed), each with a unique spec text.</summary>
public static class TestPipelines
{
    /// <summary>A step using a built-in with the given inputs.</summary>
    public static StepSpec Step(string id, string uses, object? with = null, params string[] needs) => new()
    {
        Id = id,
        Uses = uses,
        Needs = needs,
        With = with is null
            ? new Dictionary<string, JsonElement>()
            : JsonSerializer.SerializeToElement(with).EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone()),
    };

    /// <summary>A start request for a pipeline of <paramref name="steps"/>.</summary>
    public static StartRunRequest Request(string name, IReadOnlyList<StepSpec> steps, Func<PipelineSpec, PipelineSpec>? tweak = null, string? runId = null)
    {
        var spec = new PipelineSpec { Name = name, Steps = steps };
        spec = tweak?.Invoke(spec) ?? spec;
        // The text only versions the pipeline here; a unique text per call keeps test runs independent.
        var text = $"# test pipeline {name} {Guid.NewGuid():N}\n" + JsonSerializer.Serialize(spec.Steps.Select(s => s.Id));
        return new StartRunRequest { Spec = spec, SpecText = text, RunId = runId };
    }

    /// <summary>start -> n parallel echo tasks -> join.</summary>
    public static StartRunRequest FanOutFanIn(int n, string uses = "echo", object? with = null)
    {
        var steps = new List<StepSpec> { Step("start", "echo") };
        var mids = Enumerable.Range(0, n).Select(i => $"t{i}").ToArray();
        steps.AddRange(mids.Select(m => Step(m, uses, with, "start")));
        steps.Add(Step("join", "echo", null, mids));
        return Request("fan", steps);
    }

    /// <summary>A chain of n echo steps.</summary>
    public static StartRunRequest Chain(int n)
        => Request("chain", [.. Enumerable.Range(0, n).Select(i => i == 0 ? Step("s0", "echo") : Step($"s{i}", "echo", null, $"s{i - 1}"))]);
}
