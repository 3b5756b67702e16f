using Trainyard.Core.Engine;
using Trainyard.Core.Spec;

namespace Trainyard.Cli;

/// <summary>`trainyard logs`: the stored log of each task attempt (`{outputPrefix}log.txt`, written when the attempt ends).</summary>
internal static class TaskLogs
{
    /// <summary>Prints the logs of one task (or all), the latest attempt unless <paramref name="attempt"/> is given.</summary>
    public static async Task<int> PrintAsync(Trainyard.Execution.Contracts.IArtifactStore artifacts, RunState state, string? task, int? attempt, CliOutput output, CancellationToken ct)
    {
        var tasks = state.Tasks.Values.Where(t => task is null || t.TaskKey == task || t.StepId == task).ToList();
        if (tasks.Count == 0)
        {
            output.Error($"run {state.RunId} has no step or task '{task}'; its tasks are: {string.Join(", ", state.Tasks.Keys)}.");
            return RunCommands.BadInput;
        }

        var printed = 0;
        foreach (var t in RunReport.OrderTasks(state).Where(tasks.Contains))
        {
            var wanted = attempt ?? t.Attempt;
            // Both engines derive an attempt's dispatch id from run, task and attempt number (EngineIds.DispatchId).
            if (wanted < 1 || wanted > t.Attempt)
            {
                if (attempt is not null && task is not null)
                {
                    output.Error($"task {t.TaskKey} has no attempt {wanted}; it has {t.Attempt} attempt(s).");
                    return RunCommands.BadInput;
                }

                continue;
            }

            var path = LogPath(state.RunId, t.TaskKey, wanted);
            if (tasks.Count > 1 || task is null)
            {
                output.Write($"==> {t.TaskKey} (attempt {wanted}, {RunReport.Lower(t.Status)}) <==\n");
            }

            await using var stream = await artifacts.OpenReadAsync(path, ct);
            if (stream is null)
            {
                output.Write(t.Status is Core.Engine.TaskStatus.Dispatched or Core.Engine.TaskStatus.Running && wanted == t.Attempt
                    ? "(still running: the log is stored when the attempt ends)\n"
                    : "(no output)\n");
            }
            else
            {
                await CopyAsync(stream, output, ct);
            }

            printed++;
        }

        if (printed == 0)
        {
            output.Info(task is null ? $"run {state.RunId} has not dispatched any task yet." : $"task {task} has not been dispatched yet.");
        }

        return RunCommands.Ok;
    }

    /// <summary>
    /// Where an attempt's log is stored, with the dispatch id both engines derive from run, task and attempt
    /// (<see cref="EngineIds.DispatchId"/>).
    /// </summary>
    internal static string LogPath(string runId, string taskKey, int attempt) => TaskWorkItem.LogPathOf(runId, taskKey, EngineIds.DispatchId(runId, taskKey, attempt));

    /// <summary>Writes a stored log in chunks (a log is as long as its step made it); output.Write escapes what the step printed.</summary>
    internal static async Task CopyAsync(Stream stream, CliOutput output, CancellationToken ct)
    {
        using var reader = new StreamReader(stream);
        var buffer = new char[16 * 1024];
        int read;
        while ((read = await reader.ReadAsync(buffer, ct)) > 0)
        {
            output.Write(new string(buffer, 0, read));
        }
    }
}
