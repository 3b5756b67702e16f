using Trainyard.Compute.Batch;
using Trainyard.Core.Spec;
using Trainyard.Messaging.ServiceBus;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.FunctionApp;

/// <summary>The Azure services the engine uses beside storage: Azure Batch for `executor: batch` steps, Service Bus for drift signals.</summary>
internal static partial class AzureServices
{
    /// <summary>Topic the drift step sends to and OnDriftSignal listens on (infra creates it).</summary>
    public const string DriftTopic = "drift-signals";

    /// <summary>
    /// Adds the Batch executor to <paramref name="executors"/> when TRAINYARD_BATCH_ENDPOINT is set; otherwise returns
    /// the hint runs with Batch steps are refused with (the host starts either way, also with bad Batch settings).
    /// </summary>
    public static IReadOnlyDictionary<ExecutorKind, string> AddBatch(List<ITaskExecutor> executors, AppSettingsValues settings, ILoggerFactory loggers)
    {
        var batch = BatchSetup.TryFromSettings(settings.Lookup, loggers);
        if (batch.Executor is { } executor)
        {
            executors.Add(executor);
            return new Dictionary<ExecutorKind, string>();
        }

        if (settings.Lookup(AppSettings.BatchEndpoint) is not null)
        {
            LogBatchUnavailable(loggers.CreateLogger(typeof(AzureServices)), batch.Problem ?? "");
        }

        return new Dictionary<ExecutorKind, string> { [ExecutorKind.Batch] = batch.Problem ?? BatchSetup.NotConfiguredHint };
    }

    /// <summary>
    /// Registers the Service Bus signal sink (topic drift-signals, managed identity) as the drift step's
    /// <see cref="ISignalSink"/> when ServiceBusConnection__fullyQualifiedNamespace is set; otherwise the drift step
    /// keeps its artifact-store signal queue.
    /// </summary>
    public static void AddSignalSink(IServiceCollection services, AppSettingsValues settings)
    {
        if (settings.Lookup(AppSettings.ServiceBusNamespace) is not { } ns)
        {
            return;
        }

        var endpoint = ns.Contains("://", StringComparison.Ordinal) ? new Uri(ns) : new Uri("https://" + ns);
        services.AddSingleton<ISignalSink>(new ServiceBusSignalSink(ns, DriftTopic, AzureCredentials.For(endpoint, settings.Lookup(AppSettings.AzureClientId))));
    }

    [LoggerMessage(EventId = 7100, Level = LogLevel.Error, Message = "Azure Batch is off: {Problem}")]
    private static partial void LogBatchUnavailable(ILogger logger, string problem);
}
