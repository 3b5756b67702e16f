using System.Collections.Concurrent;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Runtime;
using Trainyard.Runtime.Contracts;

namespace Trainyard.Dashboard;

/// <summary>Reads runs and the pipeline versions they ran from an embedded store, for the dashboard and `trainyard stats`.</summary>
public sealed class RunCatalog(RunEngine engine)
{
    /// <summary>Most runs one health computation reads.</summary>
    public const int MaxRuns = 10_000;

    private readonly ConcurrentDictionary<string, PipelineSpec?> _specs = new(StringComparer.Ordinal);

    /// <summary>The engine (store, queues, artifacts).</summary>
    public RunEngine Engine => engine;

    /// <summary>A stored pipeline version, parsed; null when it is not stored or no longer parses.</summary>
    public async Task<PipelineSpec?> SpecAsync(string hash, CancellationToken cancellationToken)
    {
        if (_specs.TryGetValue(hash, out var known))
        {
            return known;
        }

        PipelineSpec? spec;
        try
        {
            spec = await engine.GetPipelineSpecAsync(hash, cancellationToken).ConfigureAwait(false);
        }
        catch (RunRequestException)
        {
            spec = null;
        }

        return _specs.GetOrAdd(hash, spec);
    }

    /// <summary>Health of <paramref name="pipeline"/> over its runs started since <paramref name="since"/>.</summary>
    public async Task<PipelineHealth> HealthAsync(string pipeline, DateTimeOffset since, CancellationToken cancellationToken)
    {
        var summaries = await engine.Backend.Store.ListRunsAsync(new RunQuery { PipelineName = pipeline, Limit = MaxRuns }, cancellationToken).ConfigureAwait(false);
        var runs = new List<RunState>();
        foreach (var s in summaries.Where(s => s.CreatedAt >= since))
        {
            if (await engine.GetRunAsync(s.RunId, cancellationToken).ConfigureAwait(false) is { } run)
            {
                runs.Add(run);
                await SpecAsync(run.PipelineHash, cancellationToken).ConfigureAwait(false);
            }
        }

        return PipelineStats.Compute(pipeline, runs, h => _specs.GetValueOrDefault(h), since);
    }
}
