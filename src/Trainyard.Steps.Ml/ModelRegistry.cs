using System.Globalization;
using System.Text.Json;
using Trainyard.Core.Spec;
using Trainyard.Core.Text;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml;

/// <summary>
/// A model registry kept in the artifact store:
/// <c>models/&lt;name&gt;/&lt;version&gt;/version.json</c> (metrics, params, data hashes, lineage) beside the model files,
/// and <c>models/&lt;name&gt;/stages/&lt;stage&gt;.json</c> aliases. A version number is allocated by creating its
/// version.json with a create-only conditional write, so two registrations never get the same number and a version
/// is never rewritten; aliases move with ETag-conditional writes, so of two concurrent promotions one wins and the
/// other gets <see cref="ModelRegistryConflictException"/>.
/// </summary>
public sealed class ModelRegistry(IArtifactStore artifacts, TimeProvider? time = null)
{
    private const string Root = "models/";
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Stages an alias may name.</summary>
    public static IReadOnlyList<string> Stages { get; } = ["staging", "production"];

    /// <summary>Registers a new immutable version: copies the files in, records metadata and lineage. Idempotent per producing dispatch id.</summary>
    public async Task<ModelVersion> RegisterAsync(ModelRegistration registration, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(registration);
        ValidateName(registration.Name);
        var existing = await ListVersionsAsync(registration.Name, cancellationToken);
        if (registration.Producer is { } producer && existing.FirstOrDefault(v => v.Producer?.DispatchId == producer.DispatchId) is { } again)
        {
            return again;
        }

        var files = new List<ModelFile>();
        foreach (var (fileName, source) in registration.Files)
        {
            var info = await artifacts.GetInfoAsync(source, cancellationToken) ?? throw new ModelRegistryException(
                $"Cannot register model '{registration.Name}': file '{source}' does not exist in the artifact store. Pass an upstream step's output path.");
            files.Add(new ModelFile(fileName, "", info.Sha256, info.Size, source));
        }

        var version = existing.Count == 0 ? 1 : existing.Max(v => v.Version) + 1;
        for (var tries = 0; ; tries++)
        {
            var prefix = VersionPrefix(registration.Name, version);
            var record = new ModelVersion(registration.Name, version, _time.GetUtcNow(),
                [.. files.Select(f => f with { Path = prefix + f.Name })], registration.Metrics, registration.Params, registration.Data, registration.Producer)
            {
                Description = registration.Description,
            };
            try
            {
                // The create-only write is the allocation: a version.json that exists is never replaced.
                await artifacts.PutIfMatchAsync(prefix + "version.json", Json(record), null, cancellationToken);
            }
            catch (ConcurrencyException) when (tries < 100)
            {
                version++;
                continue;
            }

            foreach (var f in files)
            {
                await using var content = await artifacts.OpenReadAsync(f.Source!, cancellationToken)
                    ?? throw new ModelRegistryException($"File '{f.Source}' vanished while registering model '{registration.Name}' version {version}; register again.");
                await artifacts.PutAsync(prefix + f.Name, content, cancellationToken);
            }

            return record;
        }
    }

    /// <summary>Every version of a model, oldest first.</summary>
    public async Task<IReadOnlyList<ModelVersion>> ListVersionsAsync(string name, CancellationToken cancellationToken)
    {
        ValidateName(name);
        var versions = new List<ModelVersion>();
        await foreach (var a in artifacts.ListAsync($"{Root}{name}/", cancellationToken))
        {
            if (a.Path.EndsWith("/version.json", StringComparison.Ordinal) && await ReadAsync<ModelVersion>(a.Path, cancellationToken) is { } v)
            {
                versions.Add(v);
            }
        }

        return [.. versions.OrderBy(v => v.Version)];
    }

    /// <summary>Names of registered models.</summary>
    public async Task<IReadOnlyList<string>> ListModelsAsync(CancellationToken cancellationToken)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        await foreach (var a in artifacts.ListAsync(Root, cancellationToken))
        {
            var rest = a.Path[Root.Length..];
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            if (slash > 0)
            {
                names.Add(rest[..slash]);
            }
        }

        return [.. names];
    }

    /// <summary>One version, or null.</summary>
    public Task<ModelVersion?> GetVersionAsync(string name, int version, CancellationToken cancellationToken)
    {
        ValidateName(name);
        return ReadAsync<ModelVersion>(VersionPrefix(name, version) + "version.json", cancellationToken);
    }

    /// <summary>The alias of a stage with its ETag (null alias when the stage was never set).</summary>
    public async Task<(StageAlias? Alias, string? ETag)> GetStageAsync(string name, string stage, CancellationToken cancellationToken)
    {
        ValidateName(name);
        ValidateStage(stage);
        var path = StagePath(name, stage);
        var info = await artifacts.GetInfoAsync(path, cancellationToken);
        if (info is null)
        {
            return (null, null);
        }

        return (await ReadAsync<StageAlias>(path, cancellationToken), info.ETag);
    }

    /// <summary>The version a stage points at, or null.</summary>
    public async Task<ModelVersion?> GetStageVersionAsync(string name, string stage, CancellationToken cancellationToken)
    {
        var (alias, _) = await GetStageAsync(name, stage, cancellationToken);
        return alias is null ? null : await GetVersionAsync(name, alias.Version, cancellationToken);
    }

    /// <summary>
    /// Points a stage at a version. With <paramref name="expectedETag"/> the write succeeds only if the alias is
    /// unchanged since it was read; without it, the alias read here is the expectation. Throws
    /// <see cref="ModelRegistryConflictException"/> when another writer moved the alias first.
    /// </summary>
    public async Task<StageChange> PromoteAsync(string name, int version, string stage, string by, string? expectedETag, CancellationToken cancellationToken)
    {
        _ = await GetVersionAsync(name, version, cancellationToken) ?? throw new ModelRegistryException(
            $"Model '{name}' has no version {version}; `trainyard models show {name}` lists its versions.");
        var (current, etag) = await GetStageAsync(name, stage, cancellationToken);
        if (expectedETag is not null && expectedETag != etag)
        {
            throw Conflict(name, stage, current);
        }

        var history = current is null ? [] : current.History.Append(current.Version).ToList();
        var alias = new StageAlias(stage, version, history, _time.GetUtcNow(), by);
        await WriteAliasAsync(name, stage, alias, etag, current, cancellationToken);
        return new StageChange(name, stage, version, current?.Version);
    }

    /// <summary>Moves a stage back to the version it pointed at before the last promotion.</summary>
    public async Task<StageChange> RollbackAsync(string name, string stage, string by, string? expectedETag, CancellationToken cancellationToken)
    {
        var (current, etag) = await GetStageAsync(name, stage, cancellationToken);
        if (current is null || current.History.Count == 0)
        {
            throw new ModelRegistryException(
                $"Cannot roll back stage '{stage}' of model '{name}': it has no previous version. Promote a version explicitly instead.");
        }

        if (expectedETag is not null && expectedETag != etag)
        {
            throw Conflict(name, stage, current);
        }

        var previous = current.History[^1];
        var alias = new StageAlias(stage, previous, [.. current.History.Take(current.History.Count - 1)], _time.GetUtcNow(), by);
        await WriteAliasAsync(name, stage, alias, etag, current, cancellationToken);
        return new StageChange(name, stage, previous, current.Version);
    }

    private async Task WriteAliasAsync(string name, string stage, StageAlias alias, string? etag, StageAlias? current, CancellationToken cancellationToken)
    {
        try
        {
            await artifacts.PutIfMatchAsync(StagePath(name, stage), Json(alias), etag, cancellationToken);
        }
        catch (ConcurrencyException)
        {
            var (now, _) = await GetStageAsync(name, stage, cancellationToken);
            throw Conflict(name, stage, now ?? current);
        }
    }

    private static ModelRegistryConflictException Conflict(string name, string stage, StageAlias? now) => new(
        $"Stage '{stage}' of model '{name}' was changed by another writer (it now points at version {now?.Version.ToString(CultureInfo.InvariantCulture) ?? "none"}). " +
        "Nothing was changed; re-read the stage and retry if your change still applies.");

    /// <summary>Artifact folder of a version.</summary>
    public static string VersionPrefix(string name, int version) => $"{Root}{name}/{version.ToString(CultureInfo.InvariantCulture)}/";

    private static string StagePath(string name, string stage) => $"{Root}{name}/stages/{stage}.json";

    private static void ValidateName(string name)
    {
        if (PathRules.ModelNameProblem(name) is { } problem)
        {
            throw new ModelRegistryException($"Model name {Printable.Quote(name)} {problem}.");
        }
    }

    private static void ValidateStage(string stage)
    {
        if (!Stages.Contains(stage))
        {
            throw new ModelRegistryException($"Stage '{stage}' is unknown; use one of {string.Join(", ", Stages)}.");
        }
    }

    private async Task<T?> ReadAsync<T>(string path, CancellationToken cancellationToken)
        where T : class
    {
        await using var s = await artifacts.OpenReadAsync(path, cancellationToken);
        return s is null ? null : await JsonSerializer.DeserializeAsync<T>(s, MlJson.Compact, cancellationToken);
    }

    private static MemoryStream Json<T>(T value) => new(JsonSerializer.SerializeToUtf8Bytes(value, MlJson.Indented));
}

/// <summary>What to register.</summary>
public sealed record ModelRegistration(string Name)
{
    /// <summary>File name in the version folder -> source artifact path.</summary>
    public IReadOnlyDictionary<string, string> Files { get; init; } = new Dictionary<string, string>();

    /// <summary>Evaluation metrics.</summary>
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();

    /// <summary>Training parameters.</summary>
    public JsonElement? Params { get; init; }

    /// <summary>Datasets the model was trained on, with content hashes.</summary>
    public IReadOnlyList<LineageArtifact> Data { get; init; } = [];

    /// <summary>Producing task (lineage).</summary>
    public Producer? Producer { get; init; }

    /// <summary>Free text.</summary>
    public string? Description { get; init; }
}

/// <summary>An immutable registered model version.</summary>
public sealed record ModelVersion(
    string Name, int Version, DateTimeOffset CreatedAt, IReadOnlyList<ModelFile> Files, IReadOnlyDictionary<string, double> Metrics,
    JsonElement? Params, IReadOnlyList<LineageArtifact> Data, Producer? Producer)
{
    /// <summary>Free text.</summary>
    public string? Description { get; init; }
}

/// <summary>A file of a model version and where it was copied from.</summary>
public sealed record ModelFile(string Name, string Path, string Sha256, long Size, string? Source);

/// <summary>A stage alias: the version it points at and the versions it pointed at before (oldest first).</summary>
public sealed record StageAlias(string Stage, int Version, IReadOnlyList<int> History, DateTimeOffset UpdatedAt, string UpdatedBy);

/// <summary>The result of a promotion or rollback.</summary>
public sealed record StageChange(string Name, string Stage, int Version, int? Previous);

/// <summary>A registry operation cannot be done as asked.</summary>
public class ModelRegistryException(string message) : Exception(message);

/// <summary>A conditional registry write lost to a concurrent writer; nothing was changed.</summary>
public sealed class ModelRegistryConflictException(string message) : ModelRegistryException(message);
