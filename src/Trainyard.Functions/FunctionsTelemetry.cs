using Azure.Core;
using Azure.Identity;
using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.Azure.Functions.Worker.OpenTelemetry;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Trainyard.Execution.Telemetry;

namespace Trainyard.Functions;

/// <summary>
/// OpenTelemetry of the worker (docs/observability.md): the "Trainyard" source and meter plus the Functions worker's
/// own instrumentation, exported to Azure Monitor when APPLICATIONINSIGHTS_CONNECTION_STRING is set (Entra
/// authentication when APPLICATIONINSIGHTS_AUTHENTICATION_STRING says Authorization=AAD) and over OTLP when
/// OTEL_EXPORTER_OTLP_ENDPOINT is set.
/// </summary>
internal static class FunctionsTelemetry
{
    public static IServiceCollection AddTrainyardTelemetry(this IServiceCollection services, Func<string, string?> settings)
    {
        var connection = settings(AppSettings.AppInsightsConnectionString);
        var otlp = settings("OTEL_EXPORTER_OTLP_ENDPOINT");
        if (string.IsNullOrWhiteSpace(connection) && string.IsNullOrWhiteSpace(otlp))
        {
            return services;
        }

        var credential = Credential(settings(AppSettings.AppInsightsAuthentication));
        var telemetry = services.AddOpenTelemetry().UseFunctionsWorkerDefaults()
            .WithTracing(t =>
            {
                t.AddSource(TrainyardTelemetry.Name);
                if (!string.IsNullOrWhiteSpace(connection))
                {
                    t.AddAzureMonitorTraceExporter(o => { o.ConnectionString = connection; o.Credential = credential; });
                }
            })
            .WithMetrics(m =>
            {
                m.AddMeter(TrainyardTelemetry.Name);
                if (!string.IsNullOrWhiteSpace(connection))
                {
                    m.AddAzureMonitorMetricExporter(o => { o.ConnectionString = connection; o.Credential = credential; });
                }
            });
        if (!string.IsNullOrWhiteSpace(otlp))
        {
            telemetry.UseOtlpExporter();
        }

        return services;
    }

    // "Authorization=AAD" (system identity) or "Authorization=AAD;ClientId=<id>" (a user-assigned identity).
    private static TokenCredential? Credential(string? authentication)
    {
        if (string.IsNullOrWhiteSpace(authentication))
        {
            return null;
        }

        var parts = authentication.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1], StringComparer.OrdinalIgnoreCase);
        if (!parts.TryGetValue("Authorization", out var kind) || !kind.Equals("AAD", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        return parts.TryGetValue("ClientId", out var clientId) && clientId.Length > 0
            ? new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId))
            : new ManagedIdentityCredential(ManagedIdentityId.SystemAssigned);
    }
}
