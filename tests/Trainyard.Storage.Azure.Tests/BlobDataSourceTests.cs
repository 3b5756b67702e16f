using System.Text;
using Azure.Storage.Blobs;
using Trainyard.Execution.Contracts;
using Trainyard.Testing;

namespace Trainyard.Storage.Azure.Tests;

/// <summary>BlobDataSource on Azurite: pinned by ETag, confined to the data container, precise errors.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class BlobDataSourceTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private readonly string _container = "data" + Guid.NewGuid().ToString("N")[..10];
    private BlobServiceClient _service = null!;

    public async Task InitializeAsync()
    {
        _service = new BlobServiceClient(azurite.ConnectionString);
        await _service.CreateBlobContainerAsync(_container);
        await _service.CreateBlobContainerAsync(_container + "x");
    }

    public async Task DisposeAsync()
    {
        await _service.DeleteBlobContainerAsync(_container);
        await _service.DeleteBlobContainerAsync(_container + "x");
    }

    [AzuriteFact]
    public async Task TheVersionTheTriggerSaw_IsRead_AndAChangedOrDeletedBlobFailsPrecisely()
    {
        var blob = _service.GetBlobContainerClient(_container).GetBlobClient("incoming/day 1.csv");
        var first = (await blob.UploadAsync(new BinaryData("a\n1\n"))).Value.ETag.ToString();
        var source = new BlobDataSource(_service, [_container]);
        var uri = blob.Uri.AbsoluteUri;

        Assert.True(source.Serves(uri));
        await using (var data = await source.OpenAsync(uri, first, CancellationToken.None))
        {
            Assert.Equal("a\n1\n", await new StreamReader(data.Content, Encoding.UTF8).ReadToEndAsync());
            Assert.Equal(4, data.Size);
            Assert.Equal(first, data.ETag);
        }

        // Triggers pass the ETag without its quotes (the Function App trims them): the same version.
        await using (var unquoted = await source.OpenAsync(uri, first.Trim('"'), CancellationToken.None))
        {
            Assert.Equal(first, unquoted.ETag);
        }

        await blob.UploadAsync(new BinaryData("a\n2\n"), overwrite: true);
        var changed = await Assert.ThrowsAsync<DataSourceException>(() => source.OpenAsync(uri, first, CancellationToken.None));
        Assert.Equal(DataSourceError.Changed, changed.Error);

        await blob.DeleteAsync();
        var gone = await Assert.ThrowsAsync<DataSourceException>(() => source.OpenAsync(uri, null, CancellationToken.None));
        Assert.Equal(DataSourceError.NotFound, gone.Error);
    }

    [AzuriteFact]
    public async Task BlobsOutsideTheDataContainer_AreRefused()
    {
        var other = _service.GetBlobContainerClient(_container + "x").GetBlobClient("secret.csv");
        await other.UploadAsync(new BinaryData("x"));
        var source = new BlobDataSource(_service, [_container]);

        var e = await Assert.ThrowsAsync<DataSourceException>(() => source.OpenAsync(other.Uri.AbsoluteUri, null, CancellationToken.None));

        Assert.Equal(DataSourceError.Refused, e.Error);
        Assert.False(source.Serves("https://elsewhere.blob.core.windows.net/" + _container + "/x.csv"));
    }
}
