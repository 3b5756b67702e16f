using System.Collections.Immutable;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Engine.Durable.Tests;

/// <summary>The custom status: per-step states for the dashboard, and never over Durable's 16 KB of UTF-16 text.</summary>
public sealed class ProgressBuilderTests
{
    private const int DurableLimitChars = 16 * 1024 / 2;

    [Fact]
    public void EveryStartedStep_HasItsState_AndAForeachStepItsItemCounts()
    {
        var spec = Spec(3, idLength: 8, foreachLast: true);
        var ids = spec.Steps.Select(s => s.Id).ToList();
        var state = State(spec, [
            Task(ids[0], TaskStatus.Succeeded),
            Task(ids[1], TaskStatus.Running, attempt: 2),
            Task(ids[2], TaskStatus.Running) with { Items = 10, ItemsOpen = 7 }]);

        var progress = new ProgressBuilder(spec, Input(spec)).Build(state, 0);

        Assert.Equal(TaskStatus.Succeeded, progress.Steps[ids[0]].Status);
        Assert.Equal(2, progress.Steps[ids[1]].Attempt);
        Assert.Null(progress.Steps[ids[0]].Attempt);
        Assert.Equal((10, 7), (progress.Steps[ids[2]].Items!.Value, progress.Steps[ids[2]].ItemsOpen!.Value));
        var json = JsonSerializer.Serialize(progress, EngineJson.Options);
        Assert.Contains("\"steps\":{", json, StringComparison.Ordinal);
        Assert.Contains("\"status\":\"running\"", json, StringComparison.Ordinal);
    }

    [Fact]
    public void APipelineWithMoreStepsThanTheBudget_ReportsCountsOnly()
    {
        var spec = Spec(60, idLength: 63);
        var state = State(spec, [.. spec.Steps.Select(s => Task(s.Id, TaskStatus.Succeeded))]);

        var progress = new ProgressBuilder(spec, Input(spec)).Build(state, 0);

        Assert.Empty(progress.Steps);
        Assert.Equal(60, progress.Counts["succeeded"]);
    }

    [Fact]
    public void TheWorstStatus_StaysUnderDurablesLimit()
    {
        // 25 steps with the longest ids, each failed with a long message, a long run error, and 20 waiting events.
        var spec = Spec(25, idLength: 63);
        var tasks = spec.Steps.Select(s => Task(s.Id, TaskStatus.Failed) with { Message = new string('m', 5000) }).ToList();
        var state = State(spec, tasks) with { Status = RunStatus.Failed, Error = new string('e', 10_000) };

        var progress = new ProgressBuilder(spec, Input(spec)).Build(state, 3);
        var chars = JsonSerializer.Serialize(progress, EngineJson.Options).Length;

        Assert.InRange(chars, 1, DurableLimitChars);
        Assert.Equal(25, progress.Counts["failed"]);
        Assert.NotEmpty(progress.Failed);
    }

    private static PipelineSpec Spec(int steps, int idLength, bool foreachLast = false)
    {
        var lines = new List<string> { "name: p", "steps:" };
        for (int i = 0; i < steps; i++)
        {
            var id = ("s" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)).PadRight(idLength, 'x');
            var fe = foreachLast && i == steps - 1 ? ", foreach: { items: [1, 2] }" : "";
            lines.Add($"  - {{ id: {id}, uses: echo{fe} }}");
        }

        return PipelineLoader.LoadOrThrow(string.Join('\n', lines), "p.yaml");
    }

    private static RunPipelineInput Input(PipelineSpec spec) => new() { RunId = "r", PipelineName = spec.Name, PipelineHash = "h" };

    private static RunState State(PipelineSpec spec, IEnumerable<TaskState> tasks) => new()
    {
        RunId = "r", PipelineName = spec.Name, PipelineHash = "h",
        Tasks = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, tasks.Select(t => KeyValuePair.Create(t.TaskKey, t))),
    };

    private static TaskState Task(string id, TaskStatus status, int attempt = 1) => new() { TaskKey = id, StepId = id, Status = status, Attempt = attempt };
}
