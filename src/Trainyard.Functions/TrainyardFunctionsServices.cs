using Azure.Core;
using Azure.Core.Serialization;
using Azure.Identity;
using Azure.Messaging.ServiceBus;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Trainyard.Compute.Batch;
using Trainyard.Compute.Local;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Engine.Durable;
using Trainyard.Execution;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Caching;
using Trainyard.Execution.Contracts;
using Trainyard.Execution.Data;
using Trainyard.Execution.Registry;
using Trainyard.Messaging.ServiceBus;
using Trainyard.Notifications;
using Trainyard.Service;
using Trainyard.Steps.Ml;
using Trainyard.Storage.Azure;

namespace Trainyard.Functions;

/// <summary>The Function App's one DI extension: settings, identity-based clients, stores, activities and handlers.</summary>
public static class TrainyardFunctionsServices
{
    /// <summary>How long the RunFinished activity waits for a run's `notify:` deliveries (retries included).</summary>
    public static readonly TimeSpan WebhookDeliveryWait = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Registers everything the functions use, from app settings read through <paramref name="setting"/>. Storage is
    /// Azurite (<c>UseDevelopmentStorage=true</c>) or an account reached with DefaultAzureCredential; nothing else.
    /// Payloads (orchestration inputs, outputs, activity arguments) use <see cref="EngineJson.Options"/>.
    /// </summary>
    public static IServiceCollection AddTrainyardFunctions(this IServiceCollection services, Func<string, string?> setting)
    {
        ArgumentNullException.ThrowIfNull(services);
        var settings = AppSettings.Read(setting);
        services.AddSingleton(settings);
        services.Configure<WorkerOptions>(o => o.Serializer = new JsonObjectSerializer(EngineJson.Options));
        services.AddSingleton(TimeProvider.System);

        TokenCredential credential = new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = settings.ClientId });
        var blobs = settings.DevelopmentStorage
            ? new BlobServiceClient(AzureStorageOptions.DevelopmentStorage)
            : new BlobServiceClient(new Uri($"https://{settings.StorageAccountName}.blob.core.windows.net/"), credential);

        // Pipeline versions, trigger state, dispatch claims and artifacts: Trainyard's blob containers of the task hub.
        // Run state is Durable's own (its task hub's queues, tables and blobs in the same account).
        var stores = new AzureBlobStores(blobs, settings.TaskHub);
        services.AddSingleton(stores);
        services.AddSingleton<IPipelineStore>(stores.Pipelines);
        services.AddSingleton<IKeyValueStore>(stores.Values);
        services.AddSingleton(stores.Artifacts);
        services.AddSingleton(sp => new PipelineRegistry(stores.Pipelines, stores.Values, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new TriggerOptions { Retention = settings.Retention, Webhooks = sp.GetRequiredService<WebhookSender>() });
        services.AddSingleton<ServiceHandlers>();

        // The drift step's signals go to the Service Bus topic when one is configured, else to the drift-signals
        // Storage queue; either way a trigger of this app reads them back (DrainServiceBus or OnDriftSignal).
        ServiceBusClient? bus = null;
        if (settings.ServiceBusNamespace is { } ns)
        {
            bus = new ServiceBusClient(ns, credential);
            services.AddSingleton(bus);
            services.AddSingleton<ISignalSink>(new ServiceBusSignalSink(bus.CreateSender(AppSettings.DriftTopic)));
        }
        else
        {
            var queue = settings.DevelopmentStorage
                ? new QueueClient(AzureStorageOptions.DevelopmentStorage, FunctionNames.DriftQueue, QueueSignalSink.ClientOptions())
                : new QueueClient(new Uri($"https://{settings.StorageAccountName}.queue.core.windows.net/{FunctionNames.DriftQueue}"), credential, QueueSignalSink.ClientOptions());
            services.AddSingleton<ISignalSink>(new QueueSignalSink(queue));
        }

        services.AddSingleton(sp => new DriftSubscription(bus is null
            ? null
            : new ServiceBusDrain(
                bus.CreateReceiver(AppSettings.DriftTopic, AppSettings.DriftSubscriptionName, new ServiceBusReceiverOptions { ReceiveMode = ServiceBusReceiveMode.PeekLock }),
                sp.GetRequiredService<ILogger<ServiceBusDrain>>())));

        services.AddSingleton<IDurableActivities>(sp =>
        {
            var loggers = sp.GetRequiredService<ILoggerFactory>();
            var time = sp.GetRequiredService<TimeProvider>();
            var steps = new BuiltinStepRegistry([.. BuiltinStepRegistry.Standard, .. MlSteps.All]);
            var stepServices = new StepServices().Add<IDataSource>(new DataSources([new BlobDataSource(blobs, [settings.DataContainer])]));
            if (sp.GetService<ISignalSink>() is { } sink)
            {
                stepServices.Add(sink);
            }

            var batch = BatchSetup.TryFromSettings(settings.Lookup, loggers);
            List<ITaskExecutor> executors = [new LocalProcessExecutor(), new BuiltinExecutor(steps, stepServices, time)];
            if (batch.Executor is { } executor)
            {
                executors.Add(executor);
            }

            var runner = new AttemptRunner(new AttemptRunnerOptions
            {
                Artifacts = stores.Artifacts,
                Claims = stores.Values,
                Executors = executors,
                MissingExecutorHints = batch.Problem is { } problem ? new Dictionary<ExecutorKind, string> { [ExecutorKind.Batch] = problem } : new Dictionary<ExecutorKind, string>(),
                TaskCache = new StepCache(stores.Values, stores.Artifacts, steps.Catalog, time),
                Time = time,
                WorkRoot = settings.WorkDir,
                LoggerFactory = loggers,
            });
            var webhooks = sp.GetRequiredService<WebhookSender>();
            return new DurableActivities(runner, stores.Pipelines, steps.Catalog)
            {
                OnRunFinished = (spec, run, _) => WebhookNotifier.DeliverAsync(webhooks, spec, run, WebhookDeliveryWait),
            };
        });

        // `notify:` webhooks; a `secretFrom` names an app setting (a Key Vault reference in Azure).
        services.AddSingleton(sp => new WebhookSender(new WebhookSenderOptions { Settings = settings.Lookup, LoggerFactory = sp.GetRequiredService<ILoggerFactory>() }));
        return services;
    }
}
