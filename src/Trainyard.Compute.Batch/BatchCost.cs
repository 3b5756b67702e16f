using System.Text.Json;
using Trainyard.Execution.Telemetry;

namespace Trainyard.Compute.Batch;

/// <summary>
/// Estimated Batch cost: node time (task start to end) times the pool's price per node-hour. One task is assumed to
/// hold one node (Trainyard's pools run one task per node), so this is what the node cost while the task ran,
/// not the whole pool bill (idle and boot time are not included).
/// </summary>
public static class BatchCost
{
    /// <summary>Output name holding a task's estimated cost in USD.</summary>
    public const string CostOutput = "batch_cost_usd";

    /// <summary>Output name holding the id of the Batch task that produced the outputs.</summary>
    public const string TaskIdOutput = "batch_task_id";

    /// <summary>Output name holding a task's node seconds.</summary>
    public const string NodeSecondsOutput = "batch_node_seconds";

    /// <summary>Estimated cost of <paramref name="nodeTime"/> on <paramref name="poolId"/>.</summary>
    public static double Estimate(IReadOnlyDictionary<string, double> prices, string poolId, TimeSpan nodeTime)
    {
        ArgumentNullException.ThrowIfNull(prices);
        if (nodeTime <= TimeSpan.Zero || !prices.TryGetValue(poolId, out var perHour))
        {
            return 0;
        }

        return Math.Round(nodeTime.TotalHours * perHour, 6);
    }

    /// <summary>
    /// A Batch output (<see cref="CostOutput"/>, <see cref="NodeSecondsOutput"/>) of a task's own attempt: null unless the
    /// outputs came from the Batch task of <paramref name="dispatchId"/> (<see cref="TaskIdOutput"/>). Outputs copied on
    /// by another step (select-best passes the winner's on) and results reused from the step cache or an earlier run
    /// cost nothing in this run, so they do not count.
    /// </summary>
    public static double? OwnValue(string? dispatchId, IReadOnlyDictionary<string, JsonElement> outputs, string name)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        if (dispatchId is null
            || !outputs.TryGetValue(TaskIdOutput, out var taskId) || taskId.ValueKind != JsonValueKind.String
            || taskId.GetString() != BatchIds.ForDispatch(dispatchId)
            || !outputs.TryGetValue(name, out var value) || value.ValueKind != JsonValueKind.Number)
        {
            return null;
        }

        return value.GetDouble();
    }

    internal static void Record(string poolId, string pipeline, TimeSpan nodeTime, double costUsd)
        => TrainyardTelemetry.RecordBatchTask(poolId, pipeline, nodeTime, costUsd);

    internal static void RecordRequeue(string poolId, int count) => TrainyardTelemetry.RecordBatchRequeues(poolId, count);
}
