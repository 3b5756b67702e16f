using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Trainyard.Execution.Contracts;
using Trainyard.Execution.Registry;

namespace Trainyard.Service;

/// <summary>
/// Builds the handlers of one invocation over the Durable client that invocation was given (the Function App's
/// DurableClient binding; the in-process host's client for `trainyard serve`). Registered once per host.
/// </summary>
public sealed class ServiceHandlers(PipelineRegistry registry, IKeyValueStore store, TriggerOptions options, TimeProvider time, ILoggerFactory loggers)
{
    /// <summary>Run control over <paramref name="client"/>.</summary>
    public IRunControl Runs(DurableTaskClient client) => new DurableRunControl(client, loggers.CreateLogger<DurableRunControl>());

    /// <summary>The trigger handlers, starting runs through <paramref name="client"/>.</summary>
    public TriggerService Triggers(DurableTaskClient client) => new(registry, store, Runs(client), options, time, loggers.CreateLogger<TriggerService>());

    /// <summary>The HTTP API handler over <paramref name="client"/>.</summary>
    public ApiHandler Api(DurableTaskClient client) => new(registry, Runs(client), time);
}
