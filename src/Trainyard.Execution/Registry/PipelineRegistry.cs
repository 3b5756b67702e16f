using System.Collections.Concurrent;
using Trainyard.Core.Spec;
using Trainyard.Core.Validation;
using Trainyard.Execution.Contracts;

namespace Trainyard.Execution.Registry;

/// <summary>The result of registering a spec.</summary>
public sealed record RegisterResult(PipelineVersion? Version, bool Created, IReadOnlyList<Diagnostic> Diagnostics)
{
    /// <summary>True when the spec was valid (new or already registered).</summary>
    public bool Ok => Version is not null;

    /// <summary>True when this push changed which version of the pipeline is active.</summary>
    public bool Activated { get; init; }
}

/// <summary>
/// The pipeline registry: validated specs stored in a pipeline store, versioned by content hash. Registering (a push)
/// makes that version the active one of its name, held by a pointer in the store; hosts read it on every use, so a
/// push takes effect without redeploying, and pushing an older version again rolls back to it. Versions stored only
/// because a run used them (`trainyard run FILE`) are kept for replay but never become active: running a file by
/// hand does not switch its triggers on.
/// </summary>
public sealed class PipelineRegistry
{
    /// <summary>Largest spec text accepted.</summary>
    public const int MaxSpecBytes = 256 * 1024;

    /// <summary>Key-value scope of the active-version pointers (key: pipeline name, value: content hash).</summary>
    public const string ActiveScope = "active-pipelines";

    private readonly IPipelineStore _store;
    private readonly IKeyValueStore _pointers;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, PipelineSpec> _parsed = new(StringComparer.Ordinal);

    /// <summary>Creates a registry over a pipeline store and the key-value store that holds the active-version pointers.</summary>
    public PipelineRegistry(IPipelineStore store, IKeyValueStore pointers, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(pointers);
        _store = store;
        _pointers = pointers;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Validates and stores a spec. An invalid spec is refused with every issue and nothing is stored.</summary>
    public async Task<RegisterResult> RegisterAsync(string text, string source, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (System.Text.Encoding.UTF8.GetByteCount(text) > MaxSpecBytes)
        {
            return new RegisterResult(null, false, [new Diagnostic(Severity.Error, DiagnosticCodes.Limit, source, 1, 1, null, "", $"the spec is larger than {MaxSpecBytes / 1024} KiB", "split the pipeline, or move data out of the spec")]);
        }

        var result = PipelineLoader.Load(text, source);
        if (!result.Succeeded)
        {
            return new RegisterResult(null, false, result.Diagnostics);
        }

        var spec = result.Spec!;
        var existing = await _store.GetPipelineAsync(spec.ContentHash, cancellationToken);
        if (existing is not null && existing.Name == spec.Name)
        {
            return new RegisterResult(existing, false, result.Diagnostics) { Activated = await ActivateAsync(existing, cancellationToken) };
        }

        var version = new PipelineVersion(spec.Name, spec.ContentHash, text, _time.GetUtcNow()) { Source = source };
        await _store.SavePipelineAsync(version, cancellationToken);
        _parsed[spec.ContentHash] = spec;
        return new RegisterResult(version, true, result.Diagnostics) { Activated = await ActivateAsync(version, cancellationToken) };
    }

    /// <summary>Points the name's active version at <paramref name="version"/>; false when it already was.</summary>
    private async Task<bool> ActivateAsync(PipelineVersion version, CancellationToken cancellationToken)
    {
        // Read-modify-write on the pointer's ETag: concurrent pushes of one name end with one of them active, never a torn value.
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var current = await _pointers.GetValueAsync(ActiveScope, version.Name, cancellationToken);
            if (current?.Value == version.ContentHash)
            {
                return false;
            }

            if (await _pointers.TryPutValueAsync(ActiveScope, version.Name, version.ContentHash, current?.ETag, cancellationToken) is not null)
            {
                return true;
            }
        }

        throw new ConcurrencyException($"pipeline '{version.Name}': the active version kept changing under concurrent pushes; push again.");
    }

    /// <summary>Versions of one pipeline (or all), newest first.</summary>
    public Task<IReadOnlyList<PipelineVersion>> VersionsAsync(string? name, CancellationToken cancellationToken) =>
        _store.ListPipelinesAsync(name, cancellationToken);

    /// <summary>The active (last pushed) version of a pipeline, or null when no version of that name was pushed.</summary>
    public async Task<PipelineVersion?> ActiveVersionAsync(string name, CancellationToken cancellationToken) =>
        await ActiveHashAsync(name, cancellationToken) is { } hash && await _store.GetPipelineAsync(hash, cancellationToken) is { } version && version.Name == name ? version : null;

    /// <summary>The content hash of the active version of a pipeline, or null when no version of that name was pushed.</summary>
    public async Task<string?> ActiveHashAsync(string name, CancellationToken cancellationToken) =>
        (await _pointers.GetValueAsync(ActiveScope, name, cancellationToken))?.Value;

    /// <summary>A version by name and hash (a unique hash prefix of at least 8 characters also works); null when unknown.</summary>
    public async Task<PipelineVersion?> FindAsync(string name, string hashOrPrefix, CancellationToken cancellationToken)
    {
        var versions = await _store.ListPipelinesAsync(name, cancellationToken);
        var hits = versions.Where(v => v.Name == name && (v.ContentHash == hashOrPrefix || (hashOrPrefix.Length >= 8 && v.ContentHash.StartsWith(hashOrPrefix, StringComparison.Ordinal)))).ToList();
        return hits.Count == 1 ? hits[0] : null;
    }

    /// <summary>The active version of every pushed pipeline, with its parsed spec.</summary>
    public async Task<IReadOnlyList<(PipelineVersion Version, PipelineSpec Spec)>> ActiveAsync(CancellationToken cancellationToken)
    {
        var all = await _store.ListPipelinesAsync(null, cancellationToken);
        var result = new List<(PipelineVersion, PipelineSpec)>();
        foreach (var group in all.GroupBy(v => v.Name, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var hash = await ActiveHashAsync(group.Key, cancellationToken);
            if (hash is not null && group.FirstOrDefault(v => v.ContentHash == hash) is { } active && Spec(active) is { } spec)
            {
                result.Add((active, spec));
            }
        }

        return result;
    }

    /// <summary>The parsed spec of a stored version (cached by hash); null if it no longer parses.</summary>
    public PipelineSpec? Spec(PipelineVersion version)
    {
        ArgumentNullException.ThrowIfNull(version);
        if (_parsed.TryGetValue(version.ContentHash, out var cached))
        {
            return cached;
        }

        var result = PipelineLoader.Load(version.SpecText, version.Source ?? version.Name);
        if (!result.Succeeded)
        {
            return null;
        }

        _parsed[version.ContentHash] = result.Spec!;
        return result.Spec;
    }
}
