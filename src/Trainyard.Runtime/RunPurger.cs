using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.Runtime;

/// <summary>What to purge.</summary>
public sealed record PurgeOptions
{
    /// <summary>Only runs finished before this instant.</summary>
    public required DateTimeOffset FinishedBefore { get; init; }

    /// <summary>Only runs with this final status (succeeded, failed, cancelled); null: all three.</summary>
    public string? Status { get; init; }

    /// <summary>Runs deleted per batch.</summary>
    public int BatchSize { get; init; } = 50;

    /// <summary>Pause between batches, so live runs keep their share of the store.</summary>
    public TimeSpan Pause { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>List what would go, delete nothing.</summary>
    public bool DryRun { get; init; }
}

/// <summary>Progress of a purge: one report per run.</summary>
public sealed record PurgeProgress(string RunId, string Status, int Artifacts, int RunsDone);

/// <summary>
/// Retention: deletes finished runs (snapshot, journal, outbox, listing) and their artifacts under `runs/{id}/`, never
/// anything else (registered models live under `models/`). Bounded batches with a pause between them; resumable,
/// because a run is deleted artifacts first and listing last, each step idempotent, so a purge stopped at any point
/// finds the rest again next time. Running runs are never touched.
/// </summary>
public static class RunPurger
{
    /// <summary>Final statuses a purge may delete.</summary>
    public static readonly IReadOnlyList<string> FinishedStatuses = ["succeeded", "failed", "cancelled"];

    /// <summary>Purges; returns how many runs were deleted (or, in a dry run, would be).</summary>
    public static async Task<int> PurgeAsync(IBackend backend, PurgeOptions options, IProgress<PurgeProgress>? progress, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1, nameof(options));
        if (options.Status is { } s && !FinishedStatuses.Contains(s, StringComparer.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"Status '{s}' is not a final status: purge deletes finished runs only ({string.Join(", ", FinishedStatuses)}).", nameof(options));
        }

        var done = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var status in options.Status is null ? FinishedStatuses : [options.Status.ToLowerInvariant()])
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                // A dry run deletes nothing, so it lists everything at once instead of batch after batch.
                var batch = (await backend.Store.ListRunsAsync(new RunQuery { Status = status, OlderThan = options.FinishedBefore, Limit = options.DryRun ? int.MaxValue : options.BatchSize }, cancellationToken).ConfigureAwait(false))
                    .Where(r => r.FinishedAt is not null && seen.Add(r.RunId))
                    .ToList();
                if (batch.Count == 0)
                {
                    break;
                }

                foreach (var run in batch)
                {
                    var artifacts = await DeleteRunAsync(backend, run.RunId, options.DryRun, cancellationToken).ConfigureAwait(false);
                    // Counted outside the ?. call: with no progress sink the whole argument list would be skipped.
                    done++;
                    progress?.Report(new PurgeProgress(run.RunId, run.Status, artifacts, done));
                }

                await Task.Delay(options.Pause, time, cancellationToken).ConfigureAwait(false);
            }
        }

        return done;
    }

    private static async Task<int> DeleteRunAsync(IBackend backend, string runId, bool dryRun, CancellationToken cancellationToken)
    {
        var paths = new List<string>();
        await foreach (var a in backend.Artifacts.ListAsync($"runs/{runId}/", cancellationToken).ConfigureAwait(false))
        {
            paths.Add(a.Path);
        }

        if (dryRun)
        {
            return paths.Count;
        }

        foreach (var path in paths)
        {
            await backend.Artifacts.DeleteAsync(path, cancellationToken).ConfigureAwait(false);
        }

        // The dispatch records (claims, cancel flags, "done" marks) live as long as the journal that names them.
        var dispatches = (await backend.Store.ReadJournalAsync(runId, cancellationToken).ConfigureAwait(false))
            .Where(e => e.Type == nameof(TaskDispatched))
            .Select(e => JsonSerializer.Deserialize<RunEvent>(e.EventJson, EngineJson.Options))
            .OfType<TaskDispatched>()
            .Select(d => d.DispatchId)
            .ToList();
        await backend.Store.DeleteValuesAsync(DispatchClaims.Scope, dispatches, cancellationToken).ConfigureAwait(false);
        await backend.Store.DeleteRunAsync(runId, cancellationToken).ConfigureAwait(false);
        return paths.Count;
    }
}
