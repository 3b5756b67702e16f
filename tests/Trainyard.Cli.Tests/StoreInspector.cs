using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Runtime.Contracts;
using Trainyard.Storage.Sqlite;
using Trainyard.Execution.Contracts;

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

    /// <summary>Paths of the artifacts under <paramref name="prefix"/>.</summary>
    public async Task<IReadOnlyList<string>> ArtifactPathsAsync(string prefix)
    {
        var paths = new List<string>();
        await foreach (var a in _backend.Artifacts.ListAsync(prefix, CancellationToken.None))
        {
            paths.Add(a.Path);
        }

        return paths;
    }

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
        var spec = PipelineLoader.LoadOrThrow(version.SpecText, version.Source ?? version.Name);
        var replayed = JournalReplay.Replay(spec, await JournalAsync(runId));
        var differences = new List<string>();
        Compare(JsonSerializer.SerializeToElement(snapshot, EngineJson.Options), JsonSerializer.SerializeToElement(replayed, EngineJson.Options), "$", differences);
        Assert.True(differences.Count == 0, $"run {runId}: the replayed journal differs from the stored snapshot at:\n{string.Join('\n', differences.Take(20))}");
    }

    /// <summary>Collects the JSON paths where two documents differ (stored value first, replayed second).</summary>
    private static void Compare(JsonElement stored, JsonElement replayed, string path, List<string> differences)
    {
        if (stored.ValueKind != replayed.ValueKind)
        {
            differences.Add($"{path}: stored {stored.GetRawText()} / replayed {replayed.GetRawText()}");
            return;
        }

        switch (stored.ValueKind)
        {
            case JsonValueKind.Object:
                var names = stored.EnumerateObject().Select(p => p.Name).Union(replayed.EnumerateObject().Select(p => p.Name)).ToList();
                foreach (var name in names)
                {
                    var inStored = stored.TryGetProperty(name, out var a);
                    var inReplayed = replayed.TryGetProperty(name, out var b);
                    if (inStored && inReplayed)
                    {
                        Compare(a, b, $"{path}.{name}", differences);
                    }
                    else
                    {
                        differences.Add($"{path}.{name}: only in the {(inStored ? "stored snapshot" : "replay")}");
                    }
                }

                break;
            case JsonValueKind.Array:
                var left = stored.EnumerateArray().ToList();
                var right = replayed.EnumerateArray().ToList();
                if (left.Count != right.Count)
                {
                    differences.Add($"{path}: {left.Count} items stored / {right.Count} replayed");
                    return;
                }

                for (var i = 0; i < left.Count; i++)
                {
                    Compare(left[i], right[i], $"{path}[{i}]", differences);
                }

                break;
            default:
                if (stored.GetRawText() != replayed.GetRawText())
                {
                    differences.Add($"{path}: stored {stored.GetRawText()} / replayed {replayed.GetRawText()}");
                }

                break;
        }
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
