using Trainyard.Testing;

namespace Trainyard.Storage.Azure.Tests;

/// <summary>One Azurite for the whole assembly.</summary>
[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "azurite";
}

/// <summary>A backend on a fresh task hub, deleted with everything in it on dispose.</summary>
internal sealed class TestHub : IAsyncDisposable
{
    private TestHub(AzureBackend backend, AzureBackendOptions options)
    {
        Backend = backend;
        Options = options;
    }

    public AzureBackend Backend { get; }

    public AzureBackendOptions Options { get; }

    public StorageRequestCounter Counter => Options.RequestCounter!;

    public static TestHub Create(AzuriteFixture azurite, Func<AzureBackendOptions, AzureBackendOptions>? configure = null)
    {
        azurite.EnsureAvailable();
        var options = AzureBackendOptions.FromConnectionString(azurite.ConnectionString, AzuriteFixture.NewTaskHub()) with
        {
            RequestCounter = new StorageRequestCounter(),
        };
        options = configure?.Invoke(options) ?? options;
        return new TestHub(new AzureBackend(options), options);
    }

    /// <summary>Another backend on the same task hub, as another process would have (no shared caches).</summary>
    public AzureBackend Another() => new(Options with { RequestCounter = new StorageRequestCounter() });

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Backend.DeleteTaskHubAsync(timeout.Token);
        await Backend.DisposeAsync();
    }
}
