using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Runtime.Contracts;
using Trainyard.Storage.Sqlite;

namespace Trainyard.Cli.Tests;

/// <summary>Reads a store left by `trainyard` child processes: snapshots, journals, and replay checks.</summary>
public sealed class StoreInspector : IAsyncDisposable
{
    private readonly IBackend _backend;

    private StoreInspector(IBackend backend) => _backend = backend;

    /// <summary>Opens the SQLite store in <paramref name="storeFolder"/> (the CLI's `--store`).</summary>
    public static StoreInspector Open(string storeFolder) => new(SqliteBackend.Open(Path.Combine(storeFolder, "trainyard.db")));

    /// <summary>All runs, newest first.</summary>
    public Task<IReadOnlyList<RunSummary>> RunsAsync() => _backend.Store.ListRunsAsync(new RunQuery { Limit = 10_000 }, CancellationToken.None);

    /// <summary>A run's stored snapshot.</summary>
    public async Task<RunState> SnapshotAsync(string runId)
    {
        var stored = await _backend.Store.LoadAsync(runId, CancellationToken.None) ?? throw new InvalidOperationException($"run {runId} is not in the store");
        return JsonSerializer.Deserialize<RunState>(stored.SnapshotJson, EngineJson.Options)!;
    }

    /// <summary>A run's journal as events.</summary>
    public async Task<IReadOnlyList<RunEvent>> JournalAsync(string runId)
    {
        var entries = await _backend.Store.ReadJournalAsync(runId, CancellationToken.None);
        return [.. entries.Select(e => JsonSerializer.Deserialize<RunEvent>(e.EventJson, EngineJson.Options)!)];
    }

    /// <summary>
    /// Replays the run's journal through the decider (against the pipeline version it started with) and asserts the
    /// result equals the stored snapshot, field for field (compared as JSON).
    /// </summary>
    public async Task AssertReplaysToSnapshotAsync(string runId)
    {
        var snapshot = await SnapshotAsync(runId);
        var version = await _backend.Store.GetPipelineAsync(snapshot.PipelineHash, CancellationToken.None)
            ?? throw new InvalidOperationException($"pipeline version {snapshot.PipelineHash} of run {runId} is not in the store");
        var spec = PipelineTexts.Parse(version);
        var replayed = JournalReplay.Replay(spec, await JournalAsync(runId));
        Assert.Equal(
            JsonSerializer.Serialize(snapshot, EngineJson.Options),
            JsonSerializer.Serialize(replayed, EngineJson.Options));
    }

    /// <summary>Replays every run in the store; returns how many.</summary>
    public async Task<int> AssertAllReplayAsync()
    {
        var runs = await RunsAsync();
        foreach (var run in runs)
        {
            await AssertReplaysToSnapshotAsync(run.RunId);
        }

        return runs.Count;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _backend.DisposeAsync();
}
