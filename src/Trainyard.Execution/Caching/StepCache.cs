using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trainyard.Core.Engine;
using Trainyard.Core.Steps;
using Trainyard.Execution.Artifacts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Execution.Caching;

/// <summary>
/// The step cache (KFP-style). Key = SHA-256 over the step's resolved definition (built-in name + version, or argv,
/// image and env; resolved `with`; foreach item) and the content hashes of every artifact it references: any input
/// value naming an existing artifact and, for commands, the upstream artifacts staged for them. So changing one byte of an input
/// changes the key. The index lives in the run store's key-value table (scope `cache`); a hit reuses the stored
/// result (outputs and artifact references) if it is younger than the step's `cache.maxAge` and every artifact it
/// references still exists with the same hash.
/// </summary>
public sealed class StepCache(IKeyValueStore store, IArtifactStore artifacts, StepCatalog? catalog = null, TimeProvider? time = null) : ITaskCache
{
    /// <summary>Key-value scope of the index.</summary>
    public const string Scope = "cache";

    /// <summary>Key-value scope mapping a dispatch id to the cache key its result was stored under.</summary>
    public const string DispatchScope = "cache-dispatch";

    private readonly StepCatalog _catalog = catalog ?? StandardSteps.Catalog;
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>False to bypass lookups (`--no-cache`): every step runs, and fresh results still refresh the index.</summary>
    public bool ReadEnabled { get; init; } = true;

    /// <inheritdoc />
    public async Task<TaskResult?> TryGetAsync(TaskWorkItem work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (!ReadEnabled)
        {
            return null;
        }

        var key = await ComputeKeyAsync(work, cancellationToken).ConfigureAwait(false);
        var entry = await store.GetValueAsync(Scope, key, cancellationToken).ConfigureAwait(false);
        if (entry is null || JsonSerializer.Deserialize<CacheEntry>(entry.Value, EngineJson.Options) is not { } cached)
        {
            return null;
        }

        if (work.Cache?.MaxAge is { } maxAge && _time.GetUtcNow() - cached.StoredAt > maxAge)
        {
            return null;
        }

        foreach (var a in cached.Result.Artifacts)
        {
            var info = await artifacts.GetInfoAsync(a.Path, cancellationToken).ConfigureAwait(false);
            if (info is null || info.Sha256 != a.Sha256)
            {
                return null;
            }
        }

        return cached.Result with { Cached = true, CacheKey = key };
    }

    /// <inheritdoc />
    public async Task StoreAsync(TaskWorkItem work, TaskResult result, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        ArgumentNullException.ThrowIfNull(result);
        var key = await ComputeKeyAsync(work, cancellationToken).ConfigureAwait(false);
        var entry = new CacheEntry(result with { Cached = false, CacheKey = key }, _time.GetUtcNow(), work.RunId, work.TaskKey, work.DispatchId);
        var text = JsonSerializer.Serialize(entry, EngineJson.Options);
        // Newest result wins; a lost race means another worker stored an equally valid result for the same key.
        for (var i = 0; i < 3; i++)
        {
            var current = await store.GetValueAsync(Scope, key, cancellationToken).ConfigureAwait(false);
            if (await store.TryPutValueAsync(Scope, key, text, current?.ETag, cancellationToken).ConfigureAwait(false) is not null)
            {
                break;
            }
        }

        // Lineage asks "which cache key produced this attempt's artifacts?" by dispatch id; written once, never changed.
        await store.TryPutValueAsync(DispatchScope, work.DispatchId, key, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The cache key recorded for a dispatch id (an attempt whose result was stored), or null.</summary>
    public static async Task<string?> KeyOfDispatchAsync(IKeyValueStore store, string dispatchId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        return (await store.GetValueAsync(DispatchScope, dispatchId, cancellationToken).ConfigureAwait(false))?.Value;
    }

    /// <summary>The cache key of a work item (lower-case hex SHA-256).</summary>
    public async Task<string> ComputeKeyAsync(TaskWorkItem work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        var definition = new JsonObject
        {
            ["v"] = 1,
            ["executor"] = work.Executor.ToString(),
            ["uses"] = work.Uses,
            ["version"] = work.Uses is null ? null : _catalog.Find(work.Uses)?.Version,
            ["command"] = work.Command is null ? null : new JsonArray([.. work.Command.Select(c => (JsonNode?)JsonValue.Create(c))]),
            ["image"] = work.Image,
            ["env"] = Canonical(JsonSerializer.SerializeToNode(work.Env)),
            ["with"] = Canonical(JsonSerializer.SerializeToNode(work.Inputs)),
            ["item"] = work.Item is { } item ? Canonical(JsonNode.Parse(item.GetRawText())) : null,
        };

        var referenced = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var s in Strings(work))
        {
            if (referenced.ContainsKey(s) || !LooksLikePath(s))
            {
                continue;
            }

            if (await artifacts.GetInfoAsync(s, cancellationToken).ConfigureAwait(false) is { } info)
            {
                referenced[s] = info.Sha256;
            }
        }

        // Commands get every upstream artifact staged, so all of them count; built-in steps read only what their
        // inputs name (already hashed above), so an unrelated upstream output (a gate report) does not bust the key.
        foreach (var a in work.Uses is null ? work.UpstreamArtifacts.Values.SelectMany(v => v) : [])
        {
            referenced[a.Path] = a.Sha256;
        }

        definition["artifacts"] = new JsonObject([.. referenced.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))]);
        var bytes = Encoding.UTF8.GetBytes(definition.ToJsonString());
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }

    private static bool LooksLikePath(string s)
    {
        if (s.Length is 0 or > 1024 || !s.Contains('/', StringComparison.Ordinal) || s.Any(char.IsWhiteSpace))
        {
            return false;
        }

        try
        {
            ArtifactPath.Validate(s);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static IEnumerable<string> Strings(TaskWorkItem work)
    {
        IEnumerable<JsonElement> roots = [.. work.Inputs.Values, .. work.Item is { } i ? [i] : Array.Empty<JsonElement>()];
        foreach (var s in roots.SelectMany(Walk))
        {
            yield return s;
        }

        foreach (var c in work.Command ?? [])
        {
            yield return c;
        }

        foreach (var e in work.Env.Values)
        {
            yield return e;
        }
    }

    private static IEnumerable<string> Walk(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => [e.GetString()!],
        JsonValueKind.Array => e.EnumerateArray().SelectMany(Walk),
        JsonValueKind.Object => e.EnumerateObject().SelectMany(p => Walk(p.Value)),
        _ => [],
    };

    // Objects with sorted keys so the same values always give the same text (and key).
    private static JsonNode? Canonical(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Canonical(p.Value?.DeepClone())))),
        JsonArray a => new JsonArray([.. a.Select(x => Canonical(x?.DeepClone()))]),
        _ => node?.DeepClone(),
    };

    private sealed record CacheEntry(TaskResult Result, DateTimeOffset StoredAt, string RunId, string TaskKey, string DispatchId);
}
