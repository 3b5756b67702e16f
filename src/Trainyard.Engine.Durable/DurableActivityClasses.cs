using Microsoft.DurableTask;

namespace Trainyard.Engine.Durable;

/// <summary>Activity <see cref="DurableNames.RunTask"/>: one attempt (or one poll of a remote attempt).</summary>
public sealed class RunTaskActivity(IDurableActivities activities) : TaskActivity<RunTaskInput, AttemptReport>
{
    /// <inheritdoc />
    public override Task<AttemptReport> RunAsync(TaskActivityContext context, RunTaskInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return activities.RunTaskAsync(input, CancellationToken.None);
    }
}

/// <summary>Activity <see cref="DurableNames.CancelAttempt"/>: sets an attempt's cancel marker, stops remote work.</summary>
public sealed class CancelAttemptActivity(IDurableActivities activities) : TaskActivity<CancelAttemptInput, bool>
{
    /// <inheritdoc />
    public override async Task<bool> RunAsync(TaskActivityContext context, CancelAttemptInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        await activities.CancelAttemptAsync(input, CancellationToken.None).ConfigureAwait(false);
        return true;
    }
}

/// <summary>Activity <see cref="DurableNames.LoadPipeline"/>: the spec text of a pipeline version.</summary>
public sealed class LoadPipelineActivity(IDurableActivities activities) : TaskActivity<string, string>
{
    /// <inheritdoc />
    public override Task<string> RunAsync(TaskActivityContext context, string input)
    {
        ArgumentException.ThrowIfNullOrEmpty(input);
        return activities.LoadPipelineAsync(input, CancellationToken.None);
    }
}

/// <summary>Activity <see cref="DurableNames.RunFinished"/>: releases what a finished run held remotely.</summary>
public sealed class RunFinishedActivity(IDurableActivities activities) : TaskActivity<RunFinishedInput, bool>
{
    /// <inheritdoc />
    public override async Task<bool> RunAsync(TaskActivityContext context, RunFinishedInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        await activities.RunFinishedAsync(input, CancellationToken.None).ConfigureAwait(false);
        return true;
    }
}

/// <summary>Every orchestrator and activity of the Durable engine by name, so a host registers them in one loop.</summary>
public static class DurableFunctions
{
    /// <summary>Orchestrator names and factories (each call makes a new instance, as Durable hosts expect).</summary>
    public static IReadOnlyList<(string Name, Func<ITaskOrchestrator> Create)> Orchestrators { get; } =
    [
        (DurableNames.RunPipeline, static () => new RunPipelineOrchestration()),
        (DurableNames.RunTaskChunk, static () => new RunTaskChunkOrchestration()),
        (DurableNames.RunRemoteTask, static () => new RunRemoteTaskOrchestration()),
    ];

    /// <summary>Activity names and their implementations over <paramref name="activities"/>.</summary>
    public static IReadOnlyList<(string Name, ITaskActivity Activity)> Activities(IDurableActivities activities)
    {
        ArgumentNullException.ThrowIfNull(activities);
        return
        [
            (DurableNames.RunTask, new RunTaskActivity(activities)),
            (DurableNames.CancelAttempt, new CancelAttemptActivity(activities)),
            (DurableNames.LoadPipeline, new LoadPipelineActivity(activities)),
            (DurableNames.RunFinished, new RunFinishedActivity(activities)),
        ];
    }
}
