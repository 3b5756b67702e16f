using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Azure;

/// <summary>
/// Datasets that land in the data container(s) of a storage account, addressed by the blob's URL (what a blob trigger
/// reports). Only the named containers are served; a version is pinned by ETag (If-Match), and the read stream fails if
/// the blob is modified while it is read. Identity-based in Azure (the client carries the managed identity).
/// </summary>
public sealed class BlobDataSource : IDataSource
{
    private readonly BlobServiceClient _service;
    private readonly HashSet<string> _containers;
    private readonly string _prefix;

    /// <summary>Creates a source over <paramref name="service"/> serving the blobs of <paramref name="containers"/>.</summary>
    public BlobDataSource(BlobServiceClient service, IEnumerable<string> containers)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(containers);
        _service = service;
        _containers = new HashSet<string>(containers, StringComparer.Ordinal);
        _prefix = service.Uri.AbsoluteUri.TrimEnd('/') + "/";
    }

    /// <inheritdoc />
    public bool Serves(string uri) => uri is not null && uri.StartsWith(_prefix, StringComparison.OrdinalIgnoreCase);

    /// <inheritdoc />
    public async Task<DataObject> OpenAsync(string uri, string? expectedETag, CancellationToken cancellationToken)
    {
        var (container, name) = Parse(uri);
        var blob = _service.GetBlobContainerClient(container).GetBlobClient(name);
        // Triggers report ETags without quotes (the Function App trims them); the header wants the quoted form.
        var conditions = expectedETag is null ? null : new BlobRequestConditions { IfMatch = new ETag(expectedETag.StartsWith('"') ? expectedETag : $"\"{expectedETag}\"") };
        try
        {
            var props = (await blob.GetPropertiesAsync(conditions, cancellationToken).ConfigureAwait(false)).Value;
            // Pinned to the version just read: the stream fails instead of mixing two versions of the blob.
            var stream = await blob.OpenReadAsync(new BlobOpenReadOptions(allowModifications: false)
            {
                Conditions = new BlobRequestConditions { IfMatch = props.ETag },
            }, cancellationToken).ConfigureAwait(false);
            return new DataObject(stream, uri, props.ETag.ToString(), props.ContentLength);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new DataSourceException(DataSourceError.NotFound, $"{uri}: the blob does not exist (deleted since the trigger saw it?)");
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            throw new DataSourceException(DataSourceError.Changed, $"{uri}: the blob changed since the run was started for version {expectedETag}; the upload that changed it starts its own run");
        }
    }

    private (string Container, string Name) Parse(string uri)
    {
        if (!Serves(uri))
        {
            throw new DataSourceException(DataSourceError.Refused, $"{uri}: not a blob of this storage account ({_prefix})");
        }

        var rest = uri[_prefix.Length..].Split('?', '#')[0];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var container = slash > 0 ? rest[..slash] : "";
        var name = slash > 0 ? Uri.UnescapeDataString(rest[(slash + 1)..]) : "";
        if (!_containers.Contains(container) || name.Length == 0)
        {
            throw new DataSourceException(DataSourceError.Refused,
                $"{uri}: only blobs in the data container{(_containers.Count == 1 ? "" : "s")} ({string.Join(", ", _containers)}) can be ingested");
        }

        return (container, name);
    }
}
