using Azure.Storage.Blobs;
using Trainyard.Testing;

namespace Trainyard.Storage.Azure.Tests;

/// <summary>One Azurite for the whole assembly.</summary>
[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "azurite";
}

/// <summary>The blob stores on a fresh task hub (unique container names), deleted with everything in them on dispose.</summary>
internal sealed class TestHub : IAsyncDisposable
{
    private TestHub(AzureBlobStores stores, BlobServiceClient service)
    {
        Stores = stores;
        Service = service;
    }

    public AzureBlobStores Stores { get; }

    /// <summary>The account's blob service, for looking under the stores.</summary>
    public BlobServiceClient Service { get; }

    public static TestHub Create(AzuriteFixture azurite)
    {
        azurite.EnsureAvailable();
        // The fixture's connection string (UseDevelopmentStorage=true, or a private Azurite's endpoints): the stores take
        // any BlobServiceClient; only the CLI's --store parsing is limited to identity and UseDevelopmentStorage=true.
        var service = new BlobServiceClient(azurite.ConnectionString);
        return new TestHub(new AzureBlobStores(service, AzuriteFixture.NewTaskHub()), service);
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Stores.DeleteAllAsync(timeout.Token);
    }
}
