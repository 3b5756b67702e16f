using Microsoft.DurableTask;
using Trainyard.Core.Spec;

namespace Trainyard.Engine.Durable;

/// <summary>
/// Runs a chunk of one large fan-out's attempts together and returns their reports, so RunPipeline's history holds one
/// sub-orchestration per chunk instead of one activity per attempt.
/// </summary>
public sealed class RunTaskChunkOrchestration : TaskOrchestrator<RunTaskChunkInput, RunTaskChunkOutput>
{
    /// <inheritdoc />
    public override async Task<RunTaskChunkOutput> RunAsync(TaskOrchestrationContext context, RunTaskChunkInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        var calls = new List<Task<AttemptReport>>(input.Works.Count);
        foreach (var work in input.Works)
        {
            calls.Add(AttemptCalls.Start(context, work));
        }

        var reports = new AttemptReport[calls.Count];
        for (int i = 0; i < calls.Count; i++)
        {
            reports[i] = await AttemptCalls.ReportOf(calls[i]);
        }

        return new RunTaskChunkOutput { Reports = reports };
    }
}

/// <summary>
/// Polls one remote attempt (Azure Batch) to its end: RunTask submits or polls, and while the report is Pending the
/// orchestration waits on a durable timer (no activity waits for hours). Continues as new every
/// <see cref="DurableLimits.PollsPerGeneration"/> polls so a long job does not grow one history.
/// </summary>
public sealed class RunRemoteTaskOrchestration : TaskOrchestrator<RunTaskInput, AttemptReport>
{
    /// <inheritdoc />
    public override async Task<AttemptReport> RunAsync(TaskOrchestrationContext context, RunTaskInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        var current = input;
        for (int polls = 0; ; polls++)
        {
            var report = await AttemptCalls.ReportOf(context.CallActivityAsync<AttemptReport>(DurableNames.RunTask, current));
            if (report.Kind != AttemptReportKind.Pending)
            {
                return report;
            }

            current = current with { ResumeState = report.State, Poll = current.Poll + 1 };
            await context.CreateTimer(context.CurrentUtcDateTime + (report.PollAfter ?? DurableLimits.DefaultPollAfter), CancellationToken.None);
            if (polls + 1 >= DurableLimits.PollsPerGeneration)
            {
                context.ContinueAsNew(current, preserveUnprocessedEvents: false);
                return report;
            }
        }
    }
}

/// <summary>How the orchestrators start one attempt and read its report.</summary>
internal static class AttemptCalls
{
    /// <summary>An activity for local and built-in work, a <see cref="DurableNames.RunRemoteTask"/> sub-orchestration for remote work.</summary>
    public static Task<AttemptReport> Start(TaskOrchestrationContext context, Core.Engine.TaskWorkItem work)
    {
        var input = new RunTaskInput { Work = work };
        return work.Executor == ExecutorKind.Batch
            ? context.CallSubOrchestratorAsync<AttemptReport>(
                DurableNames.RunRemoteTask, input, new SubOrchestrationOptions { InstanceId = DurableLimits.SubInstanceId(work.RunId, "remote", work.DispatchId) })
            : context.CallActivityAsync<AttemptReport>(DurableNames.RunTask, input);
    }

    /// <summary>The report of a finished call; a call that failed (the activity threw) is a retryable failure of the attempt.</summary>
    public static async Task<AttemptReport> ReportOf(Task<AttemptReport> call)
    {
        try
        {
            return await call;
        }
        catch (TaskFailedException e)
        {
            return Failed($"{e.TaskName} failed: {e.FailureDetails.ErrorType}: {e.FailureDetails.ErrorMessage}");
        }
    }

    public static AttemptReport Failed(string error) => new() { Kind = AttemptReportKind.Failed, Error = error, Retryable = true };
}
