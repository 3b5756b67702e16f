using System.Collections.Concurrent;
using System.Text;
using Trainyard.Core.Engine;
using Trainyard.Core.Steps;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Runtime.Tests;

/// <summary>`count`: records every execution by dispatch id (exactly-once checks).</summary>
internal sealed class CountingStep : IBuiltinStep
{
    public ConcurrentDictionary<string, int> Executions { get; } = new();

    public ConcurrentDictionary<string, int> ByTask { get; } = new();

    public BuiltinStepInfo Info { get; } = new("count", "1", "Counts executions.") { AllowsExtraInputs = true };

    public Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        Executions.AddOrUpdate(context.Work.DispatchId, 1, (_, n) => n + 1);
        ByTask.AddOrUpdate(context.Work.TaskKey, 1, (_, n) => n + 1);
        return Task.FromResult(new TaskResult());
    }
}

/// <summary>`fail-until-marker`: fails (not retryable) until an artifact marker exists, then succeeds; creates the marker on failure.</summary>
internal sealed class FailOnceStep : IBuiltinStep
{
    public BuiltinStepInfo Info { get; } = new("fail-until-marker", "1", "Fails until its marker exists.");

    public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        const string marker = "markers/fail-once";
        if (await context.Artifacts.GetInfoAsync(marker, cancellationToken) is null)
        {
            await context.Artifacts.PutAsync(marker, new MemoryStream(Encoding.UTF8.GetBytes("x")), cancellationToken);
            throw new StepFailedException("first run fails on purpose");
        }

        return new TaskResult();
    }
}

/// <summary>A remote-style executor: returns Pending <see cref="Polls"/> times, then succeeds.</summary>
internal sealed class PollingExecutor(int polls) : ITaskExecutor
{
    public int Calls;

    public int Polls { get; } = polls;

    public Core.Spec.ExecutorKind Kind => Core.Spec.ExecutorKind.Batch;

    public Task<TaskOutcome> ExecuteAsync(TaskExecutionContext context, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Calls);
        var seen = context.ResumeState?.GetInt32() ?? 0;
        return Task.FromResult<TaskOutcome>(seen < Polls
            ? new TaskOutcome.Pending(TimeSpan.FromMilliseconds(20), System.Text.Json.JsonSerializer.SerializeToElement(seen + 1))
            : new TaskOutcome.Succeeded(new TaskResult { Outputs = new Dictionary<string, System.Text.Json.JsonElement> { ["polls"] = System.Text.Json.JsonSerializer.SerializeToElement(seen) } }));
    }
}
