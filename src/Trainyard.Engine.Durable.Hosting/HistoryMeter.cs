using System.Collections.Concurrent;
using DurableTask.Core;
using DurableTask.Core.History;
using DurableTask.Core.Middleware;

namespace Trainyard.Engine.Durable.Hosting;

/// <summary>
/// The history length of every orchestration instance the host ran (largest per instance, over its generations): the
/// events in its runtime state after each episode, counted by the dispatcher's middleware, so the bound on history is
/// measured, not assumed.
/// </summary>
public sealed class HistoryMeter
{
    private readonly ConcurrentDictionary<string, InstanceHistory> _largest = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IReadOnlyList<HistoryEvent>> _events = new(StringComparer.Ordinal);

    /// <summary>
    /// Keep each instance's history events as of its last episode (for recording replay tests); off by default, since
    /// it holds every event in memory.
    /// </summary>
    public bool RecordEvents { get; set; }

    /// <summary>The history events recorded for an instance (its current generation), or null.</summary>
    public IReadOnlyList<HistoryEvent>? EventsOf(string instanceId) => _events.GetValueOrDefault(instanceId);

    /// <summary>Largest history per instance id.</summary>
    public IReadOnlyDictionary<string, InstanceHistory> Instances => _largest;

    /// <summary>The instance with the largest history, or null before any episode.</summary>
    public InstanceHistory? Largest => _largest.Values.OrderByDescending(h => h.Events).ThenBy(h => h.InstanceId, StringComparer.Ordinal).FirstOrDefault();

    /// <summary>Forgets everything measured.</summary>
    public void Reset()
    {
        _largest.Clear();
        _events.Clear();
    }

    internal async Task MiddlewareAsync(DispatchMiddlewareContext context, Func<Task> next)
    {
        await next().ConfigureAwait(false);
        var state = context.GetProperty<OrchestrationRuntimeState>();
        if (state?.OrchestrationInstance?.InstanceId is not { } id)
        {
            return;
        }

        // The state holds the past and this episode's new events; the actions it returned become one event each, and
        // the episode closes with OrchestratorCompleted.
        var actions = context.GetProperty<OrchestratorExecutionResult>()?.Actions?.Count() ?? 0;
        var measured = new InstanceHistory(id, state.Name ?? "", state.Events.Count + actions + 1);
        _largest.AddOrUpdate(id, measured, (_, old) => measured.Events > old.Events ? measured : old);
        if (RecordEvents)
        {
            _events[id] = [.. state.Events];
        }
    }
}

/// <summary>The largest history one instance reached.</summary>
public sealed record InstanceHistory(string InstanceId, string Name, int Events);
