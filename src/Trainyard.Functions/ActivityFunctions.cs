using Microsoft.Azure.Functions.Worker;
using Trainyard.Engine.Durable;

namespace Trainyard.Functions;

/// <summary>The RunPipeline orchestrator's activities: thin wrappers over <see cref="IDurableActivities"/>.</summary>
public sealed class ActivityFunctions(IDurableActivities activities)
{
    /// <summary>One step attempt, exactly once per dispatch id.</summary>
    [Function(DurableNames.RunTask)]
    public Task<AttemptReport> RunTask([ActivityTrigger] RunTaskInput input, FunctionContext context) =>
        activities.RunTaskAsync(input, context.CancellationToken);

    /// <summary>Sets an attempt's cancel marker and stops its remote work (true when done: the orchestrator awaits a bool).</summary>
    [Function(DurableNames.CancelAttempt)]
    public async Task<bool> CancelAttempt([ActivityTrigger] CancelAttemptInput input, FunctionContext context)
    {
        await activities.CancelAttemptAsync(input, context.CancellationToken);
        return true;
    }

    /// <summary>The spec text of a pipeline version.</summary>
    [Function(DurableNames.LoadPipeline)]
    public Task<string> LoadPipeline([ActivityTrigger] string pipelineHash, FunctionContext context) =>
        activities.LoadPipelineAsync(pipelineHash, context.CancellationToken);

    /// <summary>Releases what a finished run held remotely (true when done: the orchestrator awaits a bool).</summary>
    [Function(DurableNames.RunFinished)]
    public async Task<bool> RunFinished([ActivityTrigger] RunFinishedInput input, FunctionContext context)
    {
        await activities.RunFinishedAsync(input, context.CancellationToken);
        return true;
    }
}
