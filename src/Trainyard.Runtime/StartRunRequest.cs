using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution;
using Trainyard.Execution.Contracts;

namespace Trainyard.Runtime;

/// <summary>What <see cref="RunEngine.StartRunAsync"/> needs.</summary>
public sealed record StartRunRequest
{
    /// <summary>The validated pipeline (from PipelineLoader).</summary>
    public required PipelineSpec Spec { get; init; }

    /// <summary>The pipeline's source text, stored as the pipeline version (its SHA-256 is the version when the spec has none).</summary>
    public required string SpecText { get; init; }

    /// <summary>Given params; missing ones take the spec's defaults. Use <see cref="ParamResolver.ParseAssignments"/> for `k=v` text.</summary>
    public IReadOnlyDictionary<string, JsonElement> Params { get; init; } = new Dictionary<string, JsonElement>();

    /// <summary>Run id; null for a new generated id. Deterministic ids make starts idempotent (same id: existing run).</summary>
    public string? RunId { get; init; }

    /// <summary>What started it.</summary>
    public TriggerInfo Trigger { get; init; } = new("manual");
}
