using Trainyard.Runtime.Contracts;
using Trainyard.Testing;
using Trainyard.Execution.Contracts;

[assembly: TestFramework("Trainyard.Testing.AzuriteTestFramework", "Trainyard.Testing")]

namespace Trainyard.Storage.Azure.Tests;

/// <summary>The backend conformance suite on Azurite: a fresh task hub per test, deleted afterwards.</summary>
[NeedsAzurite]
[Collection(AzuriteCollection.Name)]
public sealed class AzureConformanceTests(AzuriteFixture azurite) : BackendConformanceTests, IAsyncLifetime
{
    private TestHub? _hub;

    // Azure queue visibility timeouts have whole-second resolution.
    protected override TimeSpan ShortLease => TimeSpan.FromSeconds(1);

    protected override TimeSpan WaitLimit => TimeSpan.FromSeconds(30);

    protected override Task<IBackend> CreateBackendAsync()
    {
        _hub = TestHub.Create(azurite);
        return Task.FromResult<IBackend>(_hub.Backend);
    }

    protected override Task<IBackend> ReopenAsync(IBackend backend) => Task.FromResult<IBackend>(_hub!.Another());

    async Task IAsyncLifetime.DisposeAsync()
    {
        await DisposeAsync();
        if (_hub is not null)
        {
            await _hub.DisposeAsync();
        }
    }
}
