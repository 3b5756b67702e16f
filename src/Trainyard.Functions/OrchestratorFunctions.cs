using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Trainyard.Engine.Durable;

namespace Trainyard.Functions;

/// <summary>
/// The orchestrators: [Function] wrappers around the one orchestrator body of each (Trainyard.Engine.Durable), the same
/// classes the in-process hosts run. Each replay gets a new instance, as Durable hosts expect.
/// </summary>
public static class OrchestratorFunctions
{
    /// <summary>Runs one pipeline by interpreting Core's decider.</summary>
    [Function(DurableNames.RunPipeline)]
    public static Task<RunPipelineOutput> RunPipeline([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new RunPipelineOrchestration().RunAsync(context, Input<RunPipelineInput>(context));
    }

    /// <summary>One chunk of a large fan-out, so no history grows with the fan-out.</summary>
    [Function(DurableNames.RunTaskChunk)]
    public static Task<RunTaskChunkOutput> RunTaskChunk([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new RunTaskChunkOrchestration().RunAsync(context, Input<RunTaskChunkInput>(context));
    }

    /// <summary>One remote (Batch) attempt: submitted once, polled on durable timers.</summary>
    [Function(DurableNames.RunRemoteTask)]
    public static Task<AttemptReport> RunRemoteTask([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new RunRemoteTaskOrchestration().RunAsync(context, Input<RunTaskInput>(context));
    }

    private static T Input<T>(TaskOrchestrationContext context)
        where T : class =>
        context.GetInput<T>() ?? throw new InvalidOperationException($"orchestration {context.InstanceId} ({context.Name}) was started without a {typeof(T).Name} input; start runs through the API or a trigger");
}
