using Trainyard.Core.Engine;

namespace Trainyard.Execution.Contracts;

/// <summary>
/// Step cache hook, consulted by <see cref="AttemptRunner"/> when a work item has caching enabled.
/// None is registered by default.
/// </summary>
public interface ITaskCache
{
    /// <summary>A cached result for this work item (its cache key is the implementation's business), or null.</summary>
    Task<TaskResult?> TryGetAsync(TaskWorkItem work, CancellationToken cancellationToken);

    /// <summary>Remembers a successful result.</summary>
    Task StoreAsync(TaskWorkItem work, TaskResult result, CancellationToken cancellationToken);
}

/// <summary>Told when a run reaches a final state (after the commit that finished it).</summary>
public interface IRunNotifier
{
    /// <summary>Handles one notification; may be called more than once for the same run (at-least-once).</summary>
    Task NotifyAsync(NotifyRunFinished notification, CancellationToken cancellationToken);
}
