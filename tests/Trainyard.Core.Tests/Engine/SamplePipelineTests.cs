using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;

namespace Trainyard.Core.Tests.Engine;

/// <summary>The shipped sample pipelines, loaded by the real YAML loader, run to success through the decider.</summary>
public sealed partial class SamplePipelineTests
{
    public static TheoryData<string> Samples => [.. Directory.GetDirectories(SamplesDir()).Where(d => File.Exists(Path.Combine(d, "pipeline.yaml"))).Select(d => Path.GetFileName(d))];

    [Theory]
    [MemberData(nameof(Samples))]
    public void Sample_RunsToSuccess_AndReplays(string sample)
    {
        var path = Path.Combine(SamplesDir(), sample, "pipeline.yaml");
        var text = File.ReadAllText(path);
        var spec = PipelineLoader.LoadOrThrow(text, path);
        var parameters = ParamResolver.Resolve(spec, new Dictionary<string, JsonElement>());
        Assert.True(parameters.Succeeded, string.Join("; ", parameters.Errors));

        // Every output some expression reads gets a value, so the run takes its main path.
        var referenced = OutputRef().Matches(text).GroupBy(m => m.Groups[1].Value).ToDictionary(g => g.Key, g => g.Select(m => m.Groups[2].Value).Distinct().ToList());
        var sim = new RunSimulator(spec)
        {
            Behaviour = w => referenced.TryGetValue(w.StepId, out var names)
                ? Outcome.Ok() with { Outputs = names.ToDictionary(n => n, n => n == "passed" ? JsonSerializer.SerializeToElement(true) : JsonSerializer.SerializeToElement($"{n}-{w.TaskKey}")) }
                : Outcome.Ok(),
        };
        sim.Start(e => e with { Params = parameters.Values });
        sim.RunToEnd();

        Assert.Equal(RunStatus.Succeeded, sim.Run.Status);
        Assert.DoesNotContain(sim.Run.Tasks.Values, t => t.Status is not (Trainyard.Core.Engine.TaskStatus.Succeeded or Trainyard.Core.Engine.TaskStatus.Skipped));
        Assert.Contains(sim.Dispatched, w => w.StepId == spec.Steps[^1].Id);
        var replayed = JournalReplay.Replay(spec, sim.Journal);
        Assert.Equal(JsonSerializer.Serialize(sim.Run, EngineJson.Options), JsonSerializer.Serialize(replayed, EngineJson.Options));
    }

    [GeneratedRegex(@"steps\.([a-z][a-z0-9-]*)\.outputs\.([A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex OutputRef();

    private static string SamplesDir([CallerFilePath] string here = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", "samples"));
}
