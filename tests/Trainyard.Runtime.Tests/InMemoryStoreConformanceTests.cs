using Trainyard.Runtime.InMemory;
using Trainyard.Testing;

namespace Trainyard.Runtime.Tests;

/// <summary>The store contracts (key-value, pipeline versions, artifacts) on the in-memory backend.</summary>
public sealed class InMemoryStoreConformanceTests : StoreConformanceTests
{
    protected override Task<ConformanceStores> CreateStoresAsync()
    {
        var backend = new InMemoryBackend();
        return Task.FromResult(new ConformanceStores(backend.Store, backend.Store, backend.Artifacts));
    }
}
