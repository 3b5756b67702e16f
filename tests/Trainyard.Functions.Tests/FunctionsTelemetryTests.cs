using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using Trainyard.Execution.Telemetry;

namespace Trainyard.Functions.Tests;

/// <summary>The worker's OpenTelemetry wiring: on only when a destination is configured, and then it listens to "Trainyard".</summary>
public sealed class FunctionsTelemetryTests
{
    [Fact]
    public void WithoutADestination_NothingIsRegistered()
    {
        using var services = new ServiceCollection().AddTrainyardTelemetry(_ => null).BuildServiceProvider();

        Assert.Null(services.GetService<TracerProvider>());
    }

    [Fact]
    public void WithAnOtlpEndpoint_TheTrainyardSourceIsExported()
    {
        using var services = new ServiceCollection().AddLogging()
            .AddTrainyardTelemetry(name => name == "OTEL_EXPORTER_OTLP_ENDPOINT" ? "http://127.0.0.1:4317" : null)
            .BuildServiceProvider();

        Assert.NotNull(services.GetService<TracerProvider>());
        Assert.True(TrainyardTelemetry.Source.HasListeners());
    }
}
