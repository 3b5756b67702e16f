using Microsoft.DurableTask;

namespace Trainyard.Engine.Durable;

/// <summary>Reads attempt reports from completed Durable calls; a call that failed is a retryable failure of its attempts.</summary>
internal static class AttemptOutcome
{
    public static AttemptReport Of(Task<AttemptReport> call)
        => call.IsCompletedSuccessfully ? call.Result : AttemptCalls.Failed(Describe(call));

    public static IReadOnlyList<AttemptReport> OfChunk(Task<RunTaskChunkOutput> call, int works)
    {
        if (call.IsCompletedSuccessfully && call.Result.Reports.Count == works)
        {
            return call.Result.Reports;
        }

        var error = call.IsCompletedSuccessfully
            ? $"{DurableNames.RunTaskChunk} returned {call.Result.Reports.Count} reports for {works} attempts"
            : Describe(call);
        return [.. Enumerable.Repeat(AttemptCalls.Failed(error), works)];
    }

    private static string Describe(Task call) => call.Exception?.InnerException switch
    {
        TaskFailedException e => $"{e.TaskName} failed: {e.FailureDetails.ErrorType}: {e.FailureDetails.ErrorMessage}",
        { } e => $"{e.GetType().Name}: {e.Message}",
        null => "the call was cancelled",
    };
}
