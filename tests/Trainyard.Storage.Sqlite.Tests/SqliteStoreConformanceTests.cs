using Trainyard.Testing;

namespace Trainyard.Storage.Sqlite.Tests;

/// <summary>The store contracts (key-value, pipeline versions, artifacts) on the SQLite backend: a fresh database and artifact folder per test.</summary>
public sealed class SqliteStoreConformanceTests : StoreConformanceTests
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "trainyard-sqlite-tests", Guid.NewGuid().ToString("N"));
    private SqliteBackend? _backend;

    protected override Task<ConformanceStores> CreateStoresAsync()
    {
        _backend = SqliteBackend.Open(Path.Combine(_dir, "trainyard.db"));
        return Task.FromResult(new ConformanceStores(_backend.Store, _backend.Store, _backend.Artifacts));
    }

    protected override async Task DeleteStoresAsync()
    {
        if (_backend is not null)
        {
            await _backend.DisposeAsync();
        }

        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
