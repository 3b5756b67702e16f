using Trainyard.Execution;
using Trainyard.Execution.Contracts;

namespace Trainyard.Runtime.Contracts;

/// <summary>A storage backend: run store, the two queues and artifacts, sharing one task hub.</summary>
public interface IBackend : IAsyncDisposable
{
    /// <summary>Backend name for display ("memory", "sqlite", "azure").</summary>
    string Name { get; }

    /// <summary>Run store.</summary>
    IRunStore Store { get; }

    /// <summary>Control queue: run events and timers.</summary>
    IMessageQueue Control { get; }

    /// <summary>Work queue: task attempts.</summary>
    IMessageQueue Work { get; }

    /// <summary>Artifacts.</summary>
    IArtifactStore Artifacts { get; }
}
