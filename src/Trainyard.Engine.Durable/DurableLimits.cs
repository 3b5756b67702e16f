using System.Globalization;
using Trainyard.Core.Engine;

namespace Trainyard.Engine.Durable;

/// <summary>The bounds that keep every instance's history small, whatever the size of a run.</summary>
public static class DurableLimits
{
    /// <summary>A round of more dispatches than this goes out in <see cref="DurableNames.RunTaskChunk"/> sub-orchestrations.</summary>
    public const int ChunkThreshold = 10;

    /// <summary>Most attempts in one <see cref="DurableNames.RunTaskChunk"/> of a run started with its hash only (the first release's runs, kept so their histories replay unchanged).</summary>
    public const int ChunkSize = 100;

    /// <summary>
    /// Most attempts in one <see cref="DurableNames.RunTaskChunk"/> of a run started with its spec text: fewer chunk
    /// instances for a large fan-out (each costs its own messages, rows and history writes), and a chunk's history
    /// (about 2 events per attempt) still stays under <see cref="HistoryBound"/>.
    /// </summary>
    public const int LargeChunkSize = 250;

    /// <summary>
    /// History events (estimated) after which a generation of RunPipeline sends no new work and continues as new once
    /// nothing is in flight.
    /// </summary>
    public const int HistoryBound = 800;

    /// <summary>Polls of one remote attempt per generation of <see cref="DurableNames.RunRemoteTask"/>.</summary>
    public const int PollsPerGeneration = 50;

    /// <summary>Poll delay when a pending report names none.</summary>
    public static readonly TimeSpan DefaultPollAfter = TimeSpan.FromSeconds(30);

    private const int MaxInstanceId = 100;

    /// <summary>
    /// Instance id of a sub-orchestration of a run: "{runId}:{kind}:{dispatchId}", with the run id replaced by a hash when
    /// that would pass the 100 characters Durable allows.
    /// </summary>
    public static string SubInstanceId(string runId, string kind, string dispatchId)
    {
        ArgumentNullException.ThrowIfNull(runId);
        var id = string.Create(CultureInfo.InvariantCulture, $"{runId}:{kind}:{dispatchId}");
        return id.Length <= MaxInstanceId ? id : string.Create(CultureInfo.InvariantCulture, $"{EngineIds.CommandId(runId, "instance", "run")}:{kind}:{dispatchId}");
    }
}
