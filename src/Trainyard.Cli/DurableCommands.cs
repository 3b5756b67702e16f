using System.Globalization;
using System.Text.Json;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Core.Text;
using Trainyard.Engine.Durable;
using Trainyard.Engine.Durable.Hosting;
using Trainyard.Execution.Contracts;
using Trainyard.Service;
using Trainyard.Storage.Azure;

namespace Trainyard.Cli;

/// <summary>
/// The run commands on a durable task hub (`--store azure:UseDevelopmentStorage=true[;TaskHub=name]`): `runs`, `status`,
/// `logs`, `cancel`, `retry`, `event` and `resume` go through the same <see cref="DurableRunControl"/> as the Function App's
/// HTTP API, over a client of the hub (no worker); `worker --engine durable` adds a worker process to the hub. A run goes
/// on whenever any process works the hub: `run --engine durable`, `worker --engine durable` or `serve`.
/// </summary>
internal sealed class DurableCommands : IAsyncDisposable
{
    private readonly DurableTaskClient _client;

    private DurableCommands(string store, AzureBlobStores blobs, DurableTaskClient client)
    {
        Store = store;
        Blobs = blobs;
        _client = client;
        Runs = new DurableRunControl(client, NullLogger<DurableRunControl>.Instance);
    }

    /// <summary>The `--store` value.</summary>
    public string Store { get; }

    /// <summary>The hub's blob containers (artifacts and task logs).</summary>
    public AzureBlobStores Blobs { get; }

    /// <summary>Run control over the hub.</summary>
    public DurableRunControl Runs { get; }

    /// <summary>Connects to the task hub of an `azure:` store value (creating the hub when missing).</summary>
    public static async Task<DurableCommands> ConnectAsync(string store, CancellationToken ct)
    {
        var blobs = AzureStore.TryOpen(store)!;
        await AzureStore.EnsureReachableAsync(blobs, ct);
        var client = await TrainyardDurableHost.ConnectClientAsync(AzureStore.TaskHub(store, blobs), null, ct);
        return new DurableCommands(store, blobs, client);
    }

    /// <summary>
    /// For a run command given an `azure:` store: connects to its task hub, runs <paramref name="command"/> and returns its
    /// exit code; null for any other store (the command goes on with the embedded store).
    /// </summary>
    public static async Task<int?> OnTaskHubAsync(string store, Func<DurableCommands, Task<int>> command, CancellationToken ct)
    {
        if (!AzureStore.IsAzure(store))
        {
            return null;
        }

        await using var hub = await ConnectAsync(store, ct);
        return await command(hub);
    }

    /// <summary>`trainyard worker --engine durable`: works the hub's runs until Ctrl+C / SIGTERM.</summary>
    public static async Task<int> WorkAsync(string store, int workers, CliOutput output, CancellationToken ct)
    {
        if (!AzureStore.IsAzure(store))
        {
            throw new CliInputException($"--store '{store}': a durable worker joins a task hub in Azure Storage; give --store azure:UseDevelopmentStorage=true[;TaskHub=name] (Azurite). " +
                "An in-memory hub lives inside the one `trainyard run --engine durable` process.");
        }

        using var stop = new GracefulStop(ct);
        var work = Directory.CreateTempSubdirectory("trainyard-durable-worker-").FullName;
        var stores = await DurableRun.OpenAsync(store, work, stop.Token);
        await using (var host = await DurableRun.StartHostAsync(stores, workers, noCache: false, work, stop.Token))
        {
            output.Info($"durable worker {Environment.ProcessId} on the {stores.Label}, {workers} activities at once; Ctrl+C or SIGTERM to stop " +
                "(its unfinished work is taken over by the hub's other workers, or by the next one started)");
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException) when (stop.Token.IsCancellationRequested)
            {
                // The normal way out: the host stops after the work items in progress.
            }

            output.Info("stopping: finishing the work items in progress ...");
        }

        output.Info("worker stopped");
        return CliApp.Ok;
    }

    /// <summary>`trainyard runs`: the hub's runs, newest first.</summary>
    public async Task<int> ListAsync(string? pipeline, string? status, int limit, CliOutput output, CancellationToken ct)
    {
        var runs = await Guard(() => Runs.ListAsync(new RunListQuery { Pipeline = pipeline, Status = status?.ToLowerInvariant(), Limit = Math.Min(limit, 1000) }, ct));
        if (output.Json)
        {
            output.WriteJson(runs.Select(r => new DurableRunItem(r.RunId, r.Pipeline, r.Version, r.Status, r.CreatedAt, r.LastUpdatedAt, r.Trigger?.Kind, r.Progress?.Total, r.Error)));
            return CliApp.Ok;
        }

        if (runs.Count == 0)
        {
            output.Info($"no runs in the task hub '{Blobs.Names.TaskHub}'; start one with `trainyard run FILE --engine durable --store {Store}`.");
            return CliApp.Ok;
        }

        var now = DateTimeOffset.UtcNow;
        output.Write(TextTable.Render(
            ["RUN", "PIPELINE", "STATUS", "STARTED", "DURATION", "TRIGGER"],
            runs.Select(r => new[]
            {
                r.RunId, r.Pipeline, r.Status,
                r.CreatedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                RunReport.FormatDuration((r.IsActive ? now : r.LastUpdatedAt) - r.CreatedAt), r.Trigger?.Kind ?? "",
            })));
        return CliApp.Ok;
    }

    /// <summary>`trainyard status`: a finished run's task table, or a running run's progress.</summary>
    public async Task<int> StatusAsync(string runId, CliOutput output, CancellationToken ct)
    {
        var run = await FindAsync(runId, ct);
        if (run.State is { } state)
        {
            RunCommands.PrintReport(output, state, includeLogHint: true);
            return CliApp.Ok;
        }

        if (output.Json)
        {
            output.WriteJson(run);
            return CliApp.Ok;
        }

        output.Write(ProgressText(run));
        return CliApp.Ok;
    }

    /// <summary>`trainyard logs`: the stored log of each ended attempt (dispatch ids are derived, as both engines derive them).</summary>
    public async Task<int> LogsAsync(string runId, string? task, int? attempt, CliOutput output, CancellationToken ct)
    {
        var run = await FindAsync(runId, ct);
        if (run.State is { } state)
        {
            return await TaskLogs.PrintAsync(Blobs.Artifacts, state, task, attempt, output, ct);
        }

        if (task is null)
        {
            output.Info($"run {run.RunId} is {run.Status}: name a task (`trainyard logs {run.RunId} STEP --store {Store}`) to read its ended attempts now; " +
                "every task's log is listed once the run has finished.");
            return CliApp.Ok;
        }

        // A running run: each ended attempt's log is stored under its dispatch id; read them in order until one is missing.
        int printed = 0;
        for (int n = attempt ?? 1; n <= (attempt ?? 100); n++)
        {
            await using var stream = await Blobs.Artifacts.OpenReadAsync(TaskLogs.LogPath(run.RunId, task, n), ct);
            if (stream is null)
            {
                break;
            }

            output.Write($"==> {task} (attempt {n.ToString(CultureInfo.InvariantCulture)}) <==\n");
            await TaskLogs.CopyAsync(stream, output, ct);
            printed++;
        }

        if (printed == 0)
        {
            output.Info($"task {task} of run {run.RunId} has no ended attempt yet (a log is stored when its attempt ends).");
        }

        return CliApp.Ok;
    }

    /// <summary>`trainyard cancel`: sends the cancel signal; the run's worker stops its tasks in flight.</summary>
    public async Task<int> CancelAsync(string runId, CliOutput output, CancellationToken ct)
    {
        var run = await FindAsync(runId, ct);
        if (!run.IsActive)
        {
            output.Info($"run {run.RunId} already finished: {run.Status}; nothing to cancel.");
            return CliApp.Ok;
        }

        await Guard(async () =>
        {
            await Runs.CancelAsync(run.RunId, "cancelled with `trainyard cancel`", ct);
            return true;
        });
        output.Info($"cancel of run {run.RunId} sent to the task hub; it takes effect when a worker runs the hub (`trainyard status {run.RunId} --store {Store}` shows when it has).");
        return CliApp.Ok;
    }

    /// <summary>`trainyard retry`: a new run reusing the succeeded tasks' outputs, started in the hub.</summary>
    public async Task<int> RetryAsync(string runId, CliOutput output, CancellationToken ct)
    {
        var run = await FindAsync(runId, ct);
        if (run.IsActive || run.Status == RunStatuses.Succeeded)
        {
            output.Error(run.IsActive
                ? $"run {run.RunId} is still {run.Status}; wait for it, or `trainyard cancel {run.RunId} --store {Store}` first."
                : $"run {run.RunId} succeeded; there is nothing to retry (start a new run with `trainyard run FILE --engine durable --store {Store}`).");
            return CliApp.UsageError;
        }

        var started = await Guard(() => Runs.RetryAsync(run.RunId, ct));
        output.Info($"run {started.RunId} {(started.Created ? "started" : "already exists")} as a retry of {run.RunId}, reusing the outputs of its succeeded tasks; " +
            $"a worker runs it (`trainyard worker --engine durable --store {Store}`); follow it with `trainyard status {started.RunId} --store {Store}`.");
        if (output.Json)
        {
            output.WriteJson(new { runId = started.RunId, retryOf = run.RunId, started = started.Created });
        }

        return CliApp.Ok;
    }

    /// <summary>`trainyard event`: raises a named event (e.g. approve) on a running run, once per event id.</summary>
    public async Task<int> RaiseAsync(string runId, string name, JsonElement payload, string eventId, CliOutput output, CancellationToken ct)
    {
        var run = await FindAsync(runId, ct);
        await Guard(async () =>
        {
            await Runs.RaiseEventAsync(run.RunId, name, payload, eventId, ct);
            return true;
        });
        output.Info($"event {name} ({eventId}) sent to run {runId}; a worker of the hub delivers it to the run.");
        return CliApp.Ok;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _client.DisposeAsync();

    private async Task<RunInfo> FindAsync(string runId, CancellationToken ct)
        => await Runs.GetAsync(runId, ct)
           ?? throw new CliInputException($"no run '{runId}' in the task hub '{Blobs.Names.TaskHub}'. List run ids with `trainyard runs --store {Store}`, " +
                                          "or check ;TaskHub= in --store if the run lives in another hub.");

    private async Task<T> Guard<T>(Func<Task<T>> action)
    {
        try
        {
            return await action();
        }
        catch (RunControlException e)
        {
            // The service's message names the API; the CLI names its own commands.
            throw new CliInputException(e.Code == "unknown_run"
                ? $"no such run in the task hub '{Blobs.Names.TaskHub}'; list run ids with `trainyard runs --store {Store}`."
                : $"{e.Message} ({e.Field}).");
        }
    }

    /// <summary>A run's task counts by status, e.g. "1 running, 4 succeeded".</summary>
    internal static string CountsText(RunProgress progress)
        => string.Join(", ", progress.Counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Value} {c.Key}"));

    private static string ProgressText(RunInfo run)
    {
        var text = new System.Text.StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"run {run.RunId}  pipeline {run.Pipeline}  {run.Status}  {RunReport.FormatDuration(DateTimeOffset.UtcNow - run.CreatedAt)}\n");
        if (run.Progress is { } p)
        {
            text.Append(CultureInfo.InvariantCulture, $"{p.Total} tasks: {CountsText(p)}\n");
            if (p.Running.Count > 0)
            {
                text.Append(CultureInfo.InvariantCulture, $"running: {string.Join(", ", p.Running.Take(20))}{(p.Running.Count > 20 ? ", ..." : "")}\n");
            }

            if (p.Waiting.Count > 0)
            {
                text.Append(CultureInfo.InvariantCulture, $"waiting for events: {string.Join(", ", p.Waiting)} (send one with `trainyard event {run.RunId} NAME --store ...`)\n");
            }

            foreach (var (key, error) in p.Failed)
            {
                text.Append(CultureInfo.InvariantCulture, $"failed: {key}: {error}\n");
            }
        }
        else
        {
            text.Append("no task has started yet: is a worker running the hub? (`trainyard worker --engine durable --store ...`)\n");
        }

        return text.ToString();
    }

    private sealed record DurableRunItem(string RunId, string Pipeline, string PipelineHash, string Status, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, string? Trigger, int? Tasks, string? Error);
}
