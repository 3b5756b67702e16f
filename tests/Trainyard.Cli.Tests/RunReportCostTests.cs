using System.Collections.Immutable;
using System.Text.Json;
using Trainyard.Compute.Batch;
using Trainyard.Core.Engine;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Cli.Tests;

/// <summary>`trainyard status` shows the estimated Batch cost per task and per run (text and --json).</summary>
public sealed class RunReportCostTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static TaskState Task(string key, TaskStatus status, Dictionary<string, object>? outputs = null) => new()
    {
        TaskKey = key,
        StepId = key,
        Status = status,
        Attempt = 1,
        DispatchId = "r1:" + key + ":1",
        StartedAt = T0,
        FinishedAt = T0.AddMinutes(2),
        Result = outputs is null ? null : new TaskResult { Outputs = outputs.ToDictionary(p => p.Key, p => JsonSerializer.SerializeToElement(p.Value)) },
    };

    private static RunState Run(params TaskState[] tasks) => new()
    {
        RunId = "r1",
        PipelineName = "churn-batch",
        PipelineHash = "h",
        Status = RunStatus.Succeeded,
        CreatedAt = T0,
        FinishedAt = T0.AddMinutes(5),
        Tasks = tasks.ToImmutableSortedDictionary(t => t.TaskKey, t => t, StringComparer.Ordinal),
    };

    [Fact]
    public void BatchTasks_CostIsSummedPerRun_AndShownPerTask()
    {
        var state = Run(
            Task("train-a", TaskStatus.Succeeded, new() { [BatchCost.CostOutput] = 0.0175, [BatchCost.NodeSecondsOutput] = 120.0, ["auc"] = 0.8, [BatchCost.TaskIdOutput] = BatchIds.ForDispatch("r1:train-a:1") }),
            Task("train-b", TaskStatus.Succeeded, new() { [BatchCost.CostOutput] = 0.0025, [BatchCost.NodeSecondsOutput] = 90.0, [BatchCost.TaskIdOutput] = BatchIds.ForDispatch("r1:train-b:1") }),
            // select-best passes the winner's outputs on: they are train-a's cost, not its own.
            Task("pick", TaskStatus.Succeeded, new() { [BatchCost.CostOutput] = 0.0175, [BatchCost.NodeSecondsOutput] = 120.0, [BatchCost.TaskIdOutput] = BatchIds.ForDispatch("r1:train-a:1") }),
            Task("prep", TaskStatus.Succeeded, new() { ["rows"] = 10 }));

        var report = RunReport.From(state, T0.AddMinutes(6));

        Assert.Equal(0.02, report.EstimatedCostUsd!.Value, 6);
        Assert.Equal(210, report.BatchNodeSeconds!.Value, 6);
        Assert.Null(report.Tasks.Single(t => t.Key == "prep").CostUsd);
        Assert.Null(report.Tasks.Single(t => t.Key == "pick").CostUsd);
        var text = report.ToText(includeLogHint: false);
        Assert.Contains("estimated Batch cost: $0.0200 for 3m30s of node time (train-a $0.0175, train-b $0.0025)", text, StringComparison.Ordinal);

        using var json = JsonDocument.Parse(JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web)));
        Assert.Equal(0.02, json.RootElement.GetProperty("estimatedCostUsd").GetDouble(), 6);
        Assert.Equal(0.0175, json.RootElement.GetProperty("tasks").EnumerateArray().First(t => t.GetProperty("key").GetString() == "train-a").GetProperty("costUsd").GetDouble(), 6);
    }

    [Fact]
    public void NoBatchTasks_NoCostLine_AndNullInJson()
    {
        var report = RunReport.From(Run(Task("prep", TaskStatus.Succeeded, new() { ["rows"] = 10 })), T0.AddMinutes(6));
        Assert.Null(report.EstimatedCostUsd);
        Assert.DoesNotContain("estimated Batch cost", report.ToText(includeLogHint: false), StringComparison.Ordinal);
    }
}
