namespace Trainyard.FunctionApp;

/// <summary>Who reads a setting.</summary>
public enum SettingReader
{
    /// <summary>Trainyard's handler code.</summary>
    App,

    /// <summary>The Functions host (bindings, runtime selection); the handler never reads it.</summary>
    Host,
}

/// <summary>Where a setting is set.</summary>
public enum SettingPlace
{
    /// <summary>local.settings.json and Azure app settings.</summary>
    Both,

    /// <summary>Only in local.settings.json (Azure sets it otherwise, e.g. by the site config of a Flex Consumption app).</summary>
    LocalOnly,

    /// <summary>Only in Azure app settings (identity-based connections).</summary>
    AzureOnly,

    /// <summary>Set by the Functions host for the handler process; never configured.</summary>
    Provided,
}

/// <summary>One app setting: its name, what it means, and the value used on a laptop.</summary>
/// <param name="Name">The setting (environment variable) name.</param>
/// <param name="Meaning">What it controls.</param>
/// <param name="LocalValue">The value in local.settings.sample.json ("" when unset locally).</param>
/// <param name="Reader">Who reads it.</param>
/// <param name="Place">Where it is set.</param>
public sealed record AppSetting(string Name, string Meaning, string LocalValue, SettingReader Reader, SettingPlace Place);

/// <summary>
/// The one list of every setting the Function App reads (and the host settings it depends on). infra/*.bicep,
/// local.settings.sample.json and docs/function-app.md must agree with it; tests check that they do.
/// </summary>
public static class AppSettings
{
    /// <summary>Storage connection string (Azurite locally). Its presence selects the Azure Storage backend.</summary>
    public const string Storage = "AzureWebJobsStorage";

    /// <summary>Identity-based storage: account name.</summary>
    public const string StorageAccountName = "AzureWebJobsStorage__accountName";

    /// <summary>Identity-based storage: credential kind ("managedidentity").</summary>
    public const string StorageCredential = "AzureWebJobsStorage__credential";

    /// <summary>Identity-based storage: client id of the user-assigned identity.</summary>
    public const string StorageClientId = "AzureWebJobsStorage__clientId";

    /// <summary>Task hub: prefix of Trainyard's tables, queues and containers.</summary>
    public const string TaskHub = "TRAINYARD_TASK_HUB";

    /// <summary>Container watched for new data blobs.</summary>
    public const string DataContainer = "TRAINYARD_DATA_CONTAINER";

    /// <summary>Explicit store (same syntax as the CLI's --store); overrides the choice made from AzureWebJobsStorage.</summary>
    public const string Store = "TRAINYARD_STORE";

    /// <summary>Scratch folder for task attempts.</summary>
    public const string WorkDir = "TRAINYARD_WORK_DIR";

    /// <summary>Service Bus namespace of the drift-signals topic (identity-based connection "ServiceBusConnection").</summary>
    public const string ServiceBusNamespace = "ServiceBusConnection__fullyQualifiedNamespace";

    /// <summary>Identity-based Service Bus connection: credential kind ("managedidentity").</summary>
    public const string ServiceBusCredential = "ServiceBusConnection__credential";

    /// <summary>Identity-based Service Bus connection: client id of the user-assigned identity.</summary>
    public const string ServiceBusClientId = "ServiceBusConnection__clientId";

    /// <summary>Application Insights connection string (the host's telemetry).</summary>
    public const string AppInsightsConnectionString = "APPLICATIONINSIGHTS_CONNECTION_STRING";

    /// <summary>Application Insights Entra authentication of the host's telemetry.</summary>
    public const string AppInsightsAuthentication = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING";

    /// <summary>Client id of the user-assigned managed identity DefaultAzureCredential uses.</summary>
    public const string AzureClientId = "AZURE_CLIENT_ID";

    /// <summary>Batch account endpoint; unset turns Batch off.</summary>
    public const string BatchEndpoint = "TRAINYARD_BATCH_ENDPOINT";

    /// <summary>Artifact container URL Batch nodes read and write.</summary>
    public const string BatchArtifactContainerUrl = "TRAINYARD_BATCH_ARTIFACT_CONTAINER_URL";

    /// <summary>Resource id of the identity attached to Batch pools.</summary>
    public const string BatchNodeIdentityId = "TRAINYARD_BATCH_NODE_IDENTITY_ID";

    /// <summary>Pool used when a step names none.</summary>
    public const string BatchDefaultPool = "TRAINYARD_BATCH_DEFAULT_POOL";

    /// <summary>Estimated pool prices for run cost reports.</summary>
    public const string BatchPoolPrices = "TRAINYARD_BATCH_POOL_PRICES";

    /// <summary>Port the host tells the handler to listen on.</summary>
    public const string HandlerPort = "FUNCTIONS_CUSTOMHANDLER_PORT";

    /// <summary>Worker runtime; "custom" for a custom handler.</summary>
    public const string WorkerRuntime = "FUNCTIONS_WORKER_RUNTIME";

    /// <summary>Every setting, in documentation order.</summary>
    public static IReadOnlyList<AppSetting> All { get; } =
    [
        new(Storage, "Storage for the host (timers, queue and blob triggers) and Trainyard's run store, queues and artifacts. A connection string; set it to use the Azure Storage backend. In Azure use the identity-based AzureWebJobsStorage__* settings instead.", "UseDevelopmentStorage=true", SettingReader.App, SettingPlace.LocalOnly),
        new(StorageAccountName, "Storage account name for identity-based access (managed identity, no keys). Selects the Azure Storage backend.", "", SettingReader.App, SettingPlace.AzureOnly),
        new(StorageCredential, "Set to managedidentity for identity-based storage access.", "", SettingReader.App, SettingPlace.AzureOnly),
        new(StorageClientId, "Client id of the user-assigned identity used for storage.", "", SettingReader.App, SettingPlace.AzureOnly),
        new(TaskHub, "Task hub: prefix of Trainyard's tables, queues ({hub}-control, {hub}-work) and containers; 3-24 lower-case letters and digits.", "trainyard", SettingReader.App, SettingPlace.Both),
        new(DataContainer, "Blob container watched by OnBlobArrived (pipelines' blob triggers name containers; this is the one the host watches).", "data", SettingReader.App, SettingPlace.Both),
        new(Store, "Overrides the backend choice, same syntax as the CLI's --store (sqlite:PATH, azure:CONNECTION-OR-URL, memory). Empty: Azure Storage when AzureWebJobsStorage is set, else SQLite at .trainyard/trainyard.db.", "", SettingReader.App, SettingPlace.LocalOnly),
        new(WorkDir, "Scratch folder for task attempts (empty: a folder under the system temp directory).", "", SettingReader.App, SettingPlace.Both),
        new(ServiceBusNamespace, "Fully qualified Service Bus namespace of the drift-signals topic (<name>.servicebus.windows.net), reached by managed identity: the host's OnDriftSignal trigger reads the topic, and the drift step sends its signals there (else to the local signal queue). Unused by `trainyard serve`, which reads drift signals from a local queue.", "", SettingReader.App, SettingPlace.AzureOnly),
        new(ServiceBusCredential, "Set to managedidentity: the host's Service Bus trigger signs in with a managed identity.", "", SettingReader.Host, SettingPlace.AzureOnly),
        new(ServiceBusClientId, "Client id of the user-assigned identity the host's Service Bus trigger signs in with.", "", SettingReader.Host, SettingPlace.AzureOnly),
        new(AzureClientId, "Client id of the user-assigned managed identity DefaultAzureCredential signs in with (Batch, Service Bus send). Empty locally: developer credentials.", "", SettingReader.App, SettingPlace.AzureOnly),
        new(BatchEndpoint, "Azure Batch account endpoint (https://<account>.<region>.batch.azure.com). Empty: runs with a step on executor batch are refused at start, naming the step and this setting (see docs/batch.md).", "", SettingReader.App, SettingPlace.Both),
        new(BatchArtifactContainerUrl, "Artifact blob container URL Batch nodes read inputs from and write outputs to (required with the Batch endpoint).", "", SettingReader.App, SettingPlace.Both),
        new(BatchNodeIdentityId, "Resource id of the user-assigned identity attached to the Batch pools.", "", SettingReader.App, SettingPlace.Both),
        new(BatchDefaultPool, "Batch pool used when a step names none in resources.pool.", "", SettingReader.App, SettingPlace.Both),
        new(BatchPoolPrices, "Estimated USD per node-hour by pool, \"gpu=0.526;cpu=0.096\", for run cost reports.", "", SettingReader.App, SettingPlace.Both),
        new(AppInsightsConnectionString, "Application Insights connection string: where the host sends logs, traces and metrics. Unset locally: no telemetry.", "", SettingReader.Host, SettingPlace.AzureOnly),
        new(AppInsightsAuthentication, "ClientId=<identity client id>;Authorization=AAD: the host sends telemetry with the managed identity (local auth is off on the component).", "", SettingReader.Host, SettingPlace.AzureOnly),
        new(WorkerRuntime, "Worker runtime of the app: custom (a custom handler). Flex Consumption sets it in the site config instead.", "custom", SettingReader.Host, SettingPlace.LocalOnly),
        new(HandlerPort, "Port the host tells the handler to listen on (127.0.0.1 only). Set by the host and by `trainyard serve`.", "", SettingReader.App, SettingPlace.Provided),
    ];

    /// <summary>Reads the settings the app uses from a lookup (environment variables by default).</summary>
    public static AppSettingsValues Read(Func<string, string?>? lookup = null)
    {
        lookup ??= Environment.GetEnvironmentVariable;
        string? Get(string name) => lookup(name) is { Length: > 0 } v ? v.Trim() : null;
        return new AppSettingsValues
        {
            StorageConnection = Get(Storage),
            StorageAccountName = Get(StorageAccountName),
            StorageClientId = Get(StorageClientId),
            TaskHub = Get(TaskHub) ?? "trainyard",
            DataContainer = Get(DataContainer) ?? "data",
            Store = Get(Store),
            WorkDir = Get(WorkDir) ?? Path.Combine(Path.GetTempPath(), "trainyard-work"),
            Port = int.TryParse(Get(HandlerPort), out var port) ? port : 7071,
            Lookup = name => Get(name),
        };
    }
}

/// <summary>The settings as read at start-up.</summary>
public sealed record AppSettingsValues
{
    /// <summary>AzureWebJobsStorage connection string, if set.</summary>
    public string? StorageConnection { get; init; }

    /// <summary>Identity-based storage account name, if set.</summary>
    public string? StorageAccountName { get; init; }

    /// <summary>Identity-based storage client id, if set.</summary>
    public string? StorageClientId { get; init; }

    /// <summary>Task hub.</summary>
    public string TaskHub { get; init; } = "trainyard";

    /// <summary>Watched data container.</summary>
    public string DataContainer { get; init; } = "data";

    /// <summary>Explicit store, if set.</summary>
    public string? Store { get; init; }

    /// <summary>Scratch folder.</summary>
    public string WorkDir { get; init; } = Path.GetTempPath();

    /// <summary>Listening port.</summary>
    public int Port { get; init; } = 7071;

    /// <summary>Reads any other setting (e.g. the Batch ones); null when unset.</summary>
    public Func<string, string?> Lookup { get; init; } = _ => null;
}
