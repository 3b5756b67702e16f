using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Execution.Registry;
using Trainyard.Runtime.InMemory;

namespace Trainyard.Service.Tests;

/// <summary>A clock tests move by hand.</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>
/// The service handlers as a host builds them: registry and trigger state in the in-memory run store, runs in the
/// shared Durable host, a hand-moved clock. Pipeline names carry a per-harness suffix so tests sharing the Durable host
/// never see each other's runs.
/// </summary>
internal sealed class ServiceHarness
{
    public ServiceHarness(DurableHost durable, TriggerOptions? options = null, DateTimeOffset? start = null)
    {
        Durable = durable;
        Clock = new ManualClock(start ?? DateTimeOffset.UtcNow);
        Store = new InMemoryRunStore();
        Registry = new PipelineRegistry(Store, Store, Clock);
        Options = options ?? new TriggerOptions { Retention = null };
        Handlers = new ServiceHandlers(Registry, Store, Options, Clock, NullLoggerFactory.Instance);
    }

    public string Suffix { get; } = Guid.NewGuid().ToString("N")[..8];

    public DurableHost Durable { get; }

    public ManualClock Clock { get; }

    public InMemoryRunStore Store { get; }

    public PipelineRegistry Registry { get; }

    public TriggerOptions Options { get; }

    public ServiceHandlers Handlers { get; }

    public TriggerService Triggers => Handlers.Triggers(Durable.Client);

    public ApiHandler Api => Handlers.Api(Durable.Client);

    /// <summary>The pipeline's unique name in this harness.</summary>
    public string Name(string pipeline) => $"{pipeline}-{Suffix}";

    /// <summary>Pushes a spec whose `name: X` becomes <see cref="Name"/>(X).</summary>
    public async Task<string> PushAsync(string yaml)
    {
        var first = yaml.Split('\n')[0];
        var name = first["name: ".Length..].Trim();
        var result = await Registry.RegisterAsync(yaml.Replace(first, "name: " + Name(name), StringComparison.Ordinal), "pipeline.yaml", CancellationToken.None);
        Assert.True(result.Ok, string.Join("\n", result.Diagnostics));
        return Name(name);
    }

    /// <summary>Runs of a pipeline (by its short name).</summary>
    public Task<IReadOnlyList<RunInfo>> RunsAsync(string pipeline) =>
        Durable.Runs.ListAsync(new RunListQuery { Pipeline = Name(pipeline) }, CancellationToken.None);
}
