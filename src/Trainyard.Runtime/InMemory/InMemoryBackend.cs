using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;
using Trainyard.Execution.Artifacts;

namespace Trainyard.Runtime.InMemory;

/// <summary>Everything in memory: for tests and benchmarks. State is lost with the process.</summary>
public sealed class InMemoryBackend : IBackend
{
    /// <summary>Creates an empty backend; <paramref name="time"/> drives queue delays and leases.</summary>
    public InMemoryBackend(TimeProvider? time = null)
    {
        Store = new InMemoryRunStore();
        Control = new InMemoryMessageQueue("control", time);
        Work = new InMemoryMessageQueue("work", time);
        Artifacts = new InMemoryArtifactStore(time);
    }

    /// <inheritdoc />
    public string Name => "memory";

    /// <inheritdoc />
    public IRunStore Store { get; }

    /// <inheritdoc />
    public IMessageQueue Control { get; }

    /// <inheritdoc />
    public IMessageQueue Work { get; }

    /// <inheritdoc />
    public IArtifactStore Artifacts { get; }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
