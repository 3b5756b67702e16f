using Trainyard.Runtime.Contracts;
using Trainyard.Testing;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Sqlite.Tests;

public sealed class SqliteConformanceTests : BackendConformanceTests, IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "trainyard-sqlite-tests", Guid.NewGuid().ToString("N"));

    protected override Task<IBackend> CreateBackendAsync()
        => Task.FromResult<IBackend>(SqliteBackend.Open(Path.Combine(_dir, "trainyard.db")));

    protected override Task<IBackend> ReopenAsync(IBackend backend)
        => Task.FromResult<IBackend>(SqliteBackend.Open(Path.Combine(_dir, "trainyard.db")));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
