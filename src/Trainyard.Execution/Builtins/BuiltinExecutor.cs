using Trainyard.Core.Spec;
using Trainyard.Execution.Contracts;

namespace Trainyard.Execution.Builtins;

/// <summary>Runs `uses:` steps in-process from a <see cref="BuiltinStepRegistry"/>.</summary>
public sealed class BuiltinExecutor(BuiltinStepRegistry registry, IServiceProvider? services = null, TimeProvider? time = null) : ITaskExecutor
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <inheritdoc />
    public ExecutorKind Kind => ExecutorKind.Builtin;

    /// <inheritdoc />
    public async Task<TaskOutcome> ExecuteAsync(TaskExecutionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var work = context.Work;
        if (work.Uses is null)
        {
            return new TaskOutcome.Failed($"Step '{work.StepId}' has no `uses:` but was sent to the builtin executor; set `uses:` or `executor: local`.", Retryable: false);
        }

        var step = registry.Find(work.Uses);
        if (step is null)
        {
            var known = string.Join(", ", registry.All.Select(s => s.Info.Name).Order(StringComparer.Ordinal));
            return new TaskOutcome.Failed($"Step '{work.StepId}': unknown built-in step '{work.Uses}'; known steps: {known}.", Retryable: false);
        }

        FaultInjection.Hit(FaultInjection.MidTask);
        try
        {
            var result = await step.RunAsync(
                new StepContext { Work = work, Artifacts = context.Artifacts, WorkingDirectory = context.WorkingDirectory, Log = context.Log, Services = services, Time = _time },
                cancellationToken).ConfigureAwait(false);
            return new TaskOutcome.Succeeded(result);
        }
        catch (StepFailedException e)
        {
            return new TaskOutcome.Failed(e.Message, e.Retryable);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // A step's unexpected exception is a task failure (retryable), never a worker crash.
        catch (Exception e)
#pragma warning restore CA1031
        {
            return new TaskOutcome.Failed($"{e.GetType().Name}: {e.Message}", Retryable: true);
        }
    }
}
