using Trainyard.Runtime.Contracts;
using Trainyard.Runtime.InMemory;
using Trainyard.Testing;
using Trainyard.Execution.Contracts;

namespace Trainyard.Runtime.Tests;

public sealed class InMemoryConformanceTests : BackendConformanceTests
{
    protected override Task<IBackend> CreateBackendAsync() => Task.FromResult<IBackend>(new InMemoryBackend());
}
