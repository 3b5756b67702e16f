namespace Trainyard.Execution.Contracts;

/// <summary>Pipeline versions, content-addressed: a run loads the exact version it started with.</summary>
public interface IPipelineStore
{
    /// <summary>Stores a pipeline version (idempotent by name + hash).</summary>
    Task SavePipelineAsync(PipelineVersion pipeline, CancellationToken cancellationToken);

    /// <summary>Gets a pipeline version by hash; null when unknown.</summary>
    Task<PipelineVersion?> GetPipelineAsync(string contentHash, CancellationToken cancellationToken);

    /// <summary>Lists pipeline versions (all names, or one), newest first.</summary>
    Task<IReadOnlyList<PipelineVersion>> ListPipelinesAsync(string? name, CancellationToken cancellationToken);
}

/// <summary>A stored pipeline version.</summary>
public sealed record PipelineVersion(string Name, string ContentHash, string SpecText, DateTimeOffset RegisteredAt)
{
    /// <summary>Where it came from (file path), for messages.</summary>
    public string? Source { get; init; }
}
