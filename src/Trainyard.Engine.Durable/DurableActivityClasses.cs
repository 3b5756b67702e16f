using Microsoft.DurableTask;

namespace Trainyard.Engine.Durable;

/// <summary>An activity whose body is one call of <see cref="IDurableActivities"/>.</summary>
/// <typeparam name="TInput">Input type.</typeparam>
/// <typeparam name="TOutput">Output type.</typeparam>
public abstract class DurableActivity<TInput, TOutput> : TaskActivity<TInput, TOutput>
{
    private readonly Func<TInput, CancellationToken, Task<TOutput>> _body;

    /// <summary>An activity running <paramref name="body"/>.</summary>
    private protected DurableActivity(Func<TInput, CancellationToken, Task<TOutput>> body) => _body = body;

    /// <inheritdoc />
    public override Task<TOutput> RunAsync(TaskActivityContext context, TInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return _body(input, CancellationToken.None);
    }

    private protected static IDurableActivities Require(IDurableActivities activities)
        => activities ?? throw new ArgumentNullException(nameof(activities));

    private protected static Func<TInput, CancellationToken, Task<bool>> Done(Func<TInput, CancellationToken, Task> call)
        => async (input, cancellationToken) =>
        {
            await call(input, cancellationToken).ConfigureAwait(false);
            return true;
        };
}

/// <summary>Activity <see cref="DurableNames.RunTask"/>: one attempt (or one poll of a remote attempt).</summary>
public sealed class RunTaskActivity(IDurableActivities activities)
    : DurableActivity<RunTaskInput, AttemptReport>(Require(activities).RunTaskAsync);

/// <summary>Activity <see cref="DurableNames.CancelAttempt"/>: sets an attempt's cancel marker, stops remote work.</summary>
public sealed class CancelAttemptActivity(IDurableActivities activities)
    : DurableActivity<CancelAttemptInput, bool>(Done(Require(activities).CancelAttemptAsync));

/// <summary>Activity <see cref="DurableNames.LoadPipeline"/>: the spec text of a pipeline version.</summary>
public sealed class LoadPipelineActivity(IDurableActivities activities)
    : DurableActivity<string, string>(Require(activities).LoadPipelineAsync);

/// <summary>Activity <see cref="DurableNames.RunFinished"/>: releases what a finished run held remotely.</summary>
public sealed class RunFinishedActivity(IDurableActivities activities)
    : DurableActivity<RunFinishedInput, bool>(Done(Require(activities).RunFinishedAsync));

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
