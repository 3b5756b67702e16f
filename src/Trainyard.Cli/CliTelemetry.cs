using System.CommandLine;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Trainyard.Execution.Telemetry;

namespace Trainyard.Cli;

/// <summary>
/// OpenTelemetry for the CLI (docs/observability.md): spans and metrics of the "Trainyard" source and meter go to the
/// console with `--trace console`, and to an OTLP collector when OTEL_EXPORTER_OTLP_ENDPOINT is set (the exporter reads
/// the standard OTEL_EXPORTER_OTLP_* variables itself). Nothing is exported otherwise.
/// </summary>
internal static class CliTelemetry
{
    /// <summary>The standard variable that switches the OTLP exporter on.</summary>
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>`--trace`, on every command.</summary>
    public static Option<string?> TraceOption { get; } = CreateOption();

    /// <summary>Starts the exporters asked for; disposing flushes and stops them.</summary>
    public static IDisposable? Start(string? mode)
    {
        var console = string.Equals(mode, "console", StringComparison.Ordinal);
        var otlp = Environment.GetEnvironmentVariable(OtlpEndpointVariable) is { Length: > 0 };
        if (!console && !otlp)
        {
            return null;
        }

        var resource = ResourceBuilder.CreateDefault().AddService("trainyard-cli", serviceVersion: typeof(CliTelemetry).Assembly.GetName().Version?.ToString());
        var tracing = Sdk.CreateTracerProviderBuilder().SetResourceBuilder(resource).AddSource(TrainyardTelemetry.Name);
        var metrics = Sdk.CreateMeterProviderBuilder().SetResourceBuilder(resource).AddMeter(TrainyardTelemetry.Name);
        if (console)
        {
            tracing.AddConsoleExporter();
            metrics.AddConsoleExporter();
        }

        if (otlp)
        {
            tracing.AddOtlpExporter();
            metrics.AddOtlpExporter();
        }

        return new Providers(tracing.Build(), metrics.Build());
    }

    private static Option<string?> CreateOption()
    {
        var option = new Option<string?>("--trace")
        {
            Description = "Export OpenTelemetry spans and metrics: `console` prints them to stdout. OTLP export is on whenever OTEL_EXPORTER_OTLP_ENDPOINT is set.",
            Recursive = true,
        };
        option.AcceptOnlyFromAmong("console");
        return option;
    }

    private sealed class Providers(TracerProvider? tracer, MeterProvider? meter) : IDisposable
    {
        public void Dispose()
        {
            // Dispose flushes: the run's last spans and the final metric totals are exported before the process ends.
            tracer?.Dispose();
            meter?.Dispose();
        }
    }
}
