using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Trainyard.Execution.Contracts;
using Trainyard.Testing;

namespace Trainyard.Storage.Azure.Tests;

/// <summary>What the blob stores add to the conformance suite: blob names and layout, limits, a second process, foreign blobs.</summary>
[NeedsAzurite]
[Collection(AzuriteCollection.Name)]
public sealed class BlobStoreTests(AzuriteFixture azurite) : IDisposable
{
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(60));

    private CancellationToken Ct => _timeout.Token;

    public void Dispose() => _timeout.Dispose();

    [Theory]
    [InlineData("scope", "key", "scope/key")]
    [InlineData("a/b", "../c", "a~2fb/~2e~2e~2fc")]
    [InlineData("", "", "~/~")]
    [InlineData("s", "ü ~", "s/~c3~bc~20~7e")]
    [InlineData("s", "Dispatch_ID-1", "s/Dispatch_ID-1")]
    public void KeyValueBlobName_EncodesEverythingButLettersDigitsDashAndUnderscore(string scope, string key, string expected) =>
        Assert.Equal(expected, BlobKeyValueStore.BlobName(scope, key));

    [Fact]
    public void KeyValueBlobName_OfALongKey_IsItsHash_AndStaysWithinTheServiceLimit()
    {
        var a = BlobKeyValueStore.BlobName(new string('s', 5000), new string('k', 5000));
        var b = BlobKeyValueStore.BlobName(new string('s', 5000), new string('k', 4999) + "j");

        Assert.StartsWith("~sha256~", a, StringComparison.Ordinal);
        Assert.Contains("/~sha256~", a, StringComparison.Ordinal);
        Assert.NotEqual(a, b);
        Assert.True(a.Length <= 1024, a);
        Assert.Equal("s/" + new string('k', BlobNames.MaxSegment), BlobKeyValueStore.BlobName("s", new string('k', BlobNames.MaxSegment)));
    }

    [AzuriteFact]
    public async Task KeyValue_IsOneBlobPerKey_UnderItsEncodedName_WithTheETagOfTheBlob()
    {
        await using var hub = TestHub.Create(azurite);
        var etag = await hub.Stores.Values.TryPutValueAsync("cache", "../../escape?x", "v", null, Ct);

        var container = hub.Service.GetBlobContainerClient(hub.Stores.Names.Values);
        var blobs = new List<BlobItem>();
        await foreach (var item in container.GetBlobsAsync(cancellationToken: Ct))
        {
            blobs.Add(item);
        }

        var blob = Assert.Single(blobs);
        Assert.Equal("cache/~2e~2e~2f~2e~2e~2fescape~3fx", blob.Name);
        // Listings carry the ETag without its quotes.
        Assert.Equal(etag!.Trim('"'), blob.Properties.ETag?.ToString().Trim('"'));
    }

    [AzuriteFact]
    public async Task KeyValue_TooLargeAValue_IsRefusedNamingTheLimit_AndNothingIsWritten()
    {
        await using var hub = TestHub.Create(azurite);
        var error = await Assert.ThrowsAsync<ArgumentException>(() => hub.Stores.Values.TryPutValueAsync("s", "k", new string('x', BlobKeyValueStore.MaxValueBytes + 1), null, Ct));

        Assert.Equal("value", error.ParamName);
        Assert.Contains("store large data as an artifact", error.Message, StringComparison.Ordinal);
        Assert.Null(await hub.Stores.Values.GetValueAsync("s", "k", Ct));
    }

    [AzuriteFact]
    public async Task AnotherProcess_SeesTheSameValuesETagsAndVersions()
    {
        await using var hub = TestHub.Create(azurite);
        var etag = await hub.Stores.Values.TryPutValueAsync("active-pipelines", "churn", "h1", null, Ct);
        var at = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        await hub.Stores.Pipelines.SavePipelineAsync(new PipelineVersion("churn", "h1", "name: churn\n", at), Ct);

        var other = new AzureBlobStores(new BlobServiceClient(azurite.ConnectionString), hub.Stores.Names.TaskHub);

        Assert.Equal(new KeyValueEntry("h1", etag!), await other.Values.GetValueAsync("active-pipelines", "churn", Ct));
        Assert.NotNull(await other.Values.TryPutValueAsync("active-pipelines", "churn", "h2", etag, Ct));
        Assert.Null(await hub.Stores.Values.TryPutValueAsync("active-pipelines", "churn", "h3", etag, Ct));
        Assert.Equal(at, (await other.Pipelines.GetPipelineAsync("h1", Ct))?.RegisteredAt);
    }

    [AzuriteFact]
    public async Task PipelineVersion_IsOneImmutableBlobNamedByItsHash()
    {
        await using var hub = TestHub.Create(azurite);
        await hub.Stores.Pipelines.SavePipelineAsync(new PipelineVersion("churn", "ab12", "name: churn\n", DateTimeOffset.UnixEpoch), Ct);
        var blob = hub.Service.GetBlobContainerClient(hub.Stores.Names.Pipelines).GetBlobClient("ab12.json");
        var before = (await blob.GetPropertiesAsync(cancellationToken: Ct)).Value;

        await hub.Stores.Pipelines.SavePipelineAsync(new PipelineVersion("churn", "ab12", "changed", DateTimeOffset.UnixEpoch.AddDays(1)), Ct);

        var after = (await blob.GetPropertiesAsync(cancellationToken: Ct)).Value;
        Assert.Equal(before.ETag, after.ETag);
        Assert.Equal("churn", after.Metadata["pipeline"]);
    }

    [AzuriteFact]
    public async Task PipelineBlob_NotWrittenByTrainyard_IsReportedWithWhatToDo()
    {
        await using var hub = TestHub.Create(azurite);
        await hub.Stores.EnsureCreatedAsync(Ct);
        await hub.Service.GetBlobContainerClient(hub.Stores.Names.Pipelines).UploadBlobAsync("beef.json", BinaryData.FromString("not json"), Ct);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => hub.Stores.Pipelines.GetPipelineAsync("beef", Ct));

        Assert.Contains("beef.json", error.Message, StringComparison.Ordinal);
        Assert.Contains("delete it", error.Message, StringComparison.Ordinal);
    }

    [AzuriteFact]
    public async Task DeleteAll_RemovesEveryContainerOfTheTaskHub_AndTheStoresRecreateThemOnUse()
    {
        var hub = TestHub.Create(azurite);
        await using (hub)
        {
            await hub.Stores.EnsureCreatedAsync(Ct);
            await hub.Stores.DeleteAllAsync(Ct);
            foreach (var name in hub.Stores.Names.All)
            {
                Assert.False((await hub.Service.GetBlobContainerClient(name).ExistsAsync(Ct)).Value, $"{name} still exists");
            }

            // A deleted container takes Azurite a moment to forget; the store creates it again on first use.
            Assert.NotNull(await RetryAsync(() => hub.Stores.Values.TryPutValueAsync("s", "k", "v", null, Ct)));
        }
    }

    [Fact]
    public async Task UnreachableAccount_FailsOnFirstUse_SayingWhatToCheck()
    {
        // Nothing listens on port 1; no retries, so the test does not wait out the SDK's backoff.
        var options = new BlobClientOptions { Retry = { MaxRetries = 0 } };
        var stores = new AzureBlobStores(new BlobServiceClient(new Uri("http://127.0.0.1:1/devstoreaccount1"), options), AzuriteFixture.NewTaskHub());

        var first = await Assert.ThrowsAsync<InvalidOperationException>(() => stores.Values.GetValueAsync("s", "k", Ct));
        Assert.Contains("unreachable", first.Message, StringComparison.Ordinal);
        Assert.Contains("http://127.0.0.1:1", first.Message, StringComparison.Ordinal);
        Assert.Contains("Storage Blob Data Contributor", first.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(() => stores.Pipelines.ListPipelinesAsync(null, Ct));
    }

    private async Task<T> RetryAsync<T>(Func<Task<T>> action)
    {
        while (true)
        {
            try
            {
                return await action();
            }
            catch (InvalidOperationException) when (!Ct.IsCancellationRequested)
            {
                await Task.Delay(200, Ct);
            }
        }
    }
}
