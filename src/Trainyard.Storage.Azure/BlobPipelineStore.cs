using System.Globalization;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Azure;

/// <summary>
/// Pipeline versions, content-addressed: one immutable JSON blob per content hash (<c>{hash}.json</c>), created with
/// <c>If-None-Match: *</c> so the first save of a version wins and saving it again changes nothing. The blob's metadata
/// carries the pipeline name and registration time, written in the same request as the content, so a listing needs
/// one List Blobs call plus the downloads of the versions it returns. A run (orchestration) loads its version by hash.
/// </summary>
/// <param name="container">The container (created on first use).</param>
public sealed class BlobPipelineStore(BlobContainerClient container) : IPipelineStore
{
    private const string NameKey = "pipeline";
    private const string RegisteredKey = "registeredticks";
    private const int DownloadParallelism = 8;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly BlobContainerClient _container = container ?? throw new ArgumentNullException(nameof(container));
    private readonly Func<CancellationToken, Task> _ensure = ContainerGate.For(container);

    /// <inheritdoc />
    public async Task SavePipelineAsync(PipelineVersion pipeline, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentException.ThrowIfNullOrEmpty(pipeline.ContentHash, nameof(pipeline));
        await _ensure(cancellationToken).ConfigureAwait(false);
        var body = new StoredVersion(pipeline.Name, pipeline.ContentHash, pipeline.SpecText, pipeline.RegisteredAt, pipeline.Source);
        var options = new BlobUploadOptions
        {
            Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" },
            Metadata = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [NameKey] = BlobNames.Segment(pipeline.Name),
                [RegisteredKey] = pipeline.RegisteredAt.UtcTicks.ToString(CultureInfo.InvariantCulture),
            },
        };
        try
        {
            await Blob(pipeline.ContentHash).UploadAsync(BinaryData.FromObjectAsJson(body, Json), options, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            // This content hash is stored already: versions are immutable, the first save stands.
        }
    }

    /// <inheritdoc />
    public async Task<PipelineVersion?> GetPipelineAsync(string contentHash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(contentHash);
        await _ensure(cancellationToken).ConfigureAwait(false);
        return await ReadAsync(Blob(contentHash), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<PipelineVersion>> ListPipelinesAsync(string? name, CancellationToken cancellationToken)
    {
        await _ensure(cancellationToken).ConfigureAwait(false);
        var wanted = name is null ? null : BlobNames.Segment(name);
        var found = new List<(string Blob, string Name, long Ticks)>();
        await foreach (var item in _container.GetBlobsAsync(BlobTraits.Metadata, BlobStates.None, prefix: null, cancellationToken).ConfigureAwait(false))
        {
            if (item.Metadata.TryGetValue(NameKey, out var stored) && (wanted is null || stored == wanted)
                && item.Metadata.TryGetValue(RegisteredKey, out var ticks) && long.TryParse(ticks, NumberStyles.None, CultureInfo.InvariantCulture, out var t))
            {
                found.Add((item.Name, stored, t));
            }
        }

        var ordered = found.OrderByDescending(f => f.Ticks).ThenBy(f => f.Name, StringComparer.Ordinal).ThenBy(f => f.Blob, StringComparer.Ordinal).ToList();
        var versions = new PipelineVersion?[ordered.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, ordered.Count),
            new ParallelOptions { MaxDegreeOfParallelism = DownloadParallelism, CancellationToken = cancellationToken },
            async (i, ct) => versions[i] = await ReadAsync(_container.GetBlobClient(ordered[i].Blob), ct).ConfigureAwait(false)).ConfigureAwait(false);
        return [.. versions.OfType<PipelineVersion>()];
    }

    private BlobClient Blob(string contentHash) => _container.GetBlobClient(BlobNames.Segment(contentHash) + ".json");

    private static async Task<PipelineVersion?> ReadAsync(BlobClient blob, CancellationToken cancellationToken)
    {
        BinaryData content;
        try
        {
            content = (await blob.DownloadContentAsync(cancellationToken).ConfigureAwait(false)).Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }

        StoredVersion? stored;
        try
        {
            stored = content.ToObjectFromJson<StoredVersion>(Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Pipeline version blob '{blob.Name}' in container '{blob.BlobContainerName}' is not a stored pipeline version ({e.Message}); it was not written by Trainyard: delete it.", e);
        }

        if (stored is null || stored.Name is null || stored.ContentHash is null || stored.SpecText is null)
        {
            throw new InvalidDataException($"Pipeline version blob '{blob.Name}' in container '{blob.BlobContainerName}' lacks name, contentHash or specText; it was not written by Trainyard: delete it.");
        }

        return new PipelineVersion(stored.Name, stored.ContentHash, stored.SpecText, stored.RegisteredAt) { Source = stored.Source };
    }

    /// <summary>The JSON of a stored version.</summary>
    private sealed record StoredVersion(string Name, string ContentHash, string SpecText, DateTimeOffset RegisteredAt, string? Source);
}
