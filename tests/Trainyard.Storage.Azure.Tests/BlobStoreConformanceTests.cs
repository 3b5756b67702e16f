using Trainyard.Testing;

[assembly: TestFramework("Trainyard.Testing.AzuriteTestFramework", "Trainyard.Testing")]

namespace Trainyard.Storage.Azure.Tests;

/// <summary>The store conformance suite on the blob stores (Azurite): fresh containers per test, deleted afterwards.</summary>
[NeedsAzurite]
[Collection(AzuriteCollection.Name)]
public sealed class BlobStoreConformanceTests(AzuriteFixture azurite) : StoreConformanceTests
{
    private TestHub? _hub;

    protected override Task<ConformanceStores> CreateStoresAsync()
    {
        _hub = TestHub.Create(azurite);
        return Task.FromResult(new ConformanceStores(_hub.Stores.Values, _hub.Stores.Pipelines, _hub.Stores.Artifacts));
    }

    protected override async Task DeleteStoresAsync()
    {
        if (_hub is not null)
        {
            await _hub.DisposeAsync();
        }
    }
}
