using System.Globalization;

namespace Trainyard.Functions;

/// <summary>Who reads a setting.</summary>
public enum SettingReader
{
    /// <summary>Trainyard's code in the worker.</summary>
    App,

    /// <summary>The Functions host (bindings, Durable's task hub, telemetry); the worker never reads it.</summary>
    Host,

    /// <summary>Both the host (bindings, the Durable extension) and the worker.</summary>
    Both,
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
}

/// <summary>One app setting: its name, what it means, and the value used on a laptop.</summary>
/// <param name="Name">The setting (environment variable) name.</param>
/// <param name="Meaning">What it controls.</param>
/// <param name="LocalValue">The value in local.settings.sample.json ("" when unset locally).</param>
/// <param name="Reader">Who reads it.</param>
/// <param name="Place">Where it is set.</param>
public sealed record AppSetting(string Name, string Meaning, string LocalValue, SettingReader Reader, SettingPlace Place);

/// <summary>
/// Every app setting of the Function App, in documentation order: the one list local.settings.sample.json, the docs
/// tables and infra/app/function-app.bicep are checked against.
/// </summary>
public static class AppSettings
{
    /// <summary>Host storage (connection string form): only <c>UseDevelopmentStorage=true</c> is accepted (Azurite).</summary>
    public const string Storage = "AzureWebJobsStorage";

    /// <summary>Identity-based host storage: the account name.</summary>
    public const string StorageAccountName = "AzureWebJobsStorage__accountName";

    /// <summary>Identity-based host storage: credential kind.</summary>
    public const string StorageCredential = "AzureWebJobsStorage__credential";

    /// <summary>Identity-based host storage: client id of the user-assigned identity.</summary>
    public const string StorageClientId = "AzureWebJobsStorage__clientId";

    /// <summary>Durable task hub and prefix of Trainyard's containers.</summary>
    public const string TaskHub = "TRAINYARD_TASK_HUB";

    /// <summary>Container watched for new data blobs.</summary>
    public const string DataContainer = "TRAINYARD_DATA_CONTAINER";

    /// <summary>Scratch folder for task attempts.</summary>
    public const string WorkDir = "TRAINYARD_WORK_DIR";

    /// <summary>Days finished runs are kept in the task hub.</summary>
    public const string RetentionDays = "TRAINYARD_RETENTION_DAYS";

    /// <summary>Service Bus namespace of the drift-signals topic.</summary>
    public const string ServiceBusNamespace = "ServiceBusConnection__fullyQualifiedNamespace";

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

    /// <summary>Application Insights connection string (the host's telemetry).</summary>
    public const string AppInsightsConnectionString = "APPLICATIONINSIGHTS_CONNECTION_STRING";

    /// <summary>Application Insights Entra authentication of the host's telemetry.</summary>
    public const string AppInsightsAuthentication = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING";

    /// <summary>Worker runtime.</summary>
    public const string WorkerRuntime = "FUNCTIONS_WORKER_RUNTIME";

    /// <summary>Topic of drift signals on Service Bus (infra creates it).</summary>
    public const string DriftTopic = "drift-signals";

    /// <summary>Subscription of <see cref="DriftTopic"/> that DrainServiceBus reads (infra creates it).</summary>
    public const string DriftSubscriptionName = "trainyard";

    /// <summary>Every setting, in documentation order.</summary>
    public static IReadOnlyList<AppSetting> All { get; } =
    [
        new(Storage, "Host storage as a connection string: timers, blob and queue triggers, Durable's task hub, and Trainyard's blob containers (registry, trigger state, claims, artifacts). Only UseDevelopmentStorage=true (Azurite) is accepted; in Azure the identity-based AzureWebJobsStorage__* settings are used instead.", "UseDevelopmentStorage=true", SettingReader.Both, SettingPlace.LocalOnly),
        new(StorageAccountName, "Storage account reached with the app's managed identity (no keys): the host's triggers and Durable's task hub, and Trainyard's blob containers (artifacts, key-values, pipeline versions).", "", SettingReader.Both, SettingPlace.AzureOnly),
        new(StorageCredential, "managedidentity: the host's storage connection signs in with a managed identity.", "", SettingReader.Host, SettingPlace.AzureOnly),
        new(StorageClientId, "Client id of the user-assigned identity the host's storage connection signs in with.", "", SettingReader.Host, SettingPlace.AzureOnly),
        new(TaskHub, "Durable task hub name (host.json hubName) and prefix of Trainyard's blob containers; 3-24 lower-case letters and digits, starting with a letter.", "trainyard", SettingReader.Both, SettingPlace.Both),
        new(DataContainer, "Blob container whose new blobs OnBlobArrived receives (through Event Grid); pipelines' blob triggers match paths in it.", "data", SettingReader.Both, SettingPlace.Both),
        new(WorkDir, "Scratch folder for task attempts (empty: a folder under the system temp directory).", "", SettingReader.App, SettingPlace.Both),
        new(RetentionDays, "Days a finished run stays in the task hub before OnSchedule purges it (0: never).", "30", SettingReader.App, SettingPlace.Both),
        new(ServiceBusNamespace, "Fully qualified Service Bus namespace of the drift-signals topic (<name>.servicebus.windows.net), reached with the managed identity: DrainServiceBus reads subscription 'trainyard', the drift step sends there. Empty: no drain, and the drift step sends to the drift-signals Storage queue (OnDriftSignal).", "", SettingReader.App, SettingPlace.AzureOnly),
        new(AzureClientId, "Client id of the user-assigned managed identity DefaultAzureCredential signs in with (storage, Service Bus, Batch). Empty locally: developer credentials.", "", SettingReader.App, SettingPlace.AzureOnly),
        new(BatchEndpoint, "Azure Batch account endpoint (https://<account>.<region>.batch.azure.com). Empty: attempts of steps on executor batch fail, naming the step and this setting (see docs/batch.md).", "", SettingReader.App, SettingPlace.Both),
        new(BatchArtifactContainerUrl, "Artifact blob container URL Batch nodes read inputs from and write outputs to (required with the Batch endpoint).", "", SettingReader.App, SettingPlace.Both),
        new(BatchNodeIdentityId, "Resource id of the user-assigned identity attached to the Batch pools.", "", SettingReader.App, SettingPlace.Both),
        new(BatchDefaultPool, "Batch pool used when a step names none in resources.pool.", "", SettingReader.App, SettingPlace.Both),
        new(BatchPoolPrices, "Estimated USD per node-hour by pool, \"gpu=0.526;cpu=0.096\", for run cost reports.", "", SettingReader.App, SettingPlace.Both),
        new(AppInsightsConnectionString, "Application Insights connection string: where the host sends logs, traces and metrics. Unset locally: no telemetry.", "", SettingReader.Host, SettingPlace.AzureOnly),
        new(AppInsightsAuthentication, "ClientId=<identity client id>;Authorization=AAD: the host sends telemetry with the managed identity (local auth is off on the component).", "", SettingReader.Host, SettingPlace.AzureOnly),
        new(WorkerRuntime, "Worker runtime: dotnet-isolated. Flex Consumption sets it in the site config (functionAppConfig.runtime) instead.", "dotnet-isolated", SettingReader.Host, SettingPlace.LocalOnly),
    ];

    /// <summary>Reads and checks the settings the worker uses; throws <see cref="InvalidOperationException"/> naming the bad setting.</summary>
    public static AppSettingsValues Read(Func<string, string?> lookup)
    {
        ArgumentNullException.ThrowIfNull(lookup);
        string? Get(string name) => lookup(name) is { Length: > 0 } v ? v.Trim() : null;
        var connection = Get(Storage);
        var account = Get(StorageAccountName);
        if (connection is not null && !connection.Equals("UseDevelopmentStorage=true", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException(
                $"{Storage} holds a connection string other than UseDevelopmentStorage=true. Trainyard uses identity-based storage only: remove {Storage} and set {StorageAccountName} (+ {StorageCredential}=managedidentity, {StorageClientId}), or UseDevelopmentStorage=true for Azurite.");
        }

        if (connection is null && account is null)
        {
            throw new InvalidOperationException(
                $"No storage configured: set {StorageAccountName} (managed identity) in Azure, or {Storage}=UseDevelopmentStorage=true locally (Azurite).");
        }

        var hub = Get(TaskHub) ?? "trainyard";
        Trainyard.Storage.Azure.AzureStorageOptions.ValidateTaskHub(hub);
        var retention = Get(RetentionDays) ?? "30";
        if (!int.TryParse(retention, NumberStyles.None, CultureInfo.InvariantCulture, out var days))
        {
            throw new InvalidOperationException($"{RetentionDays} must be a whole number of days (0: keep finished runs forever), got '{retention}'.");
        }

        return new AppSettingsValues
        {
            DevelopmentStorage = connection is not null,
            StorageAccountName = account,
            ClientId = Get(AzureClientId) ?? Get(StorageClientId),
            TaskHub = hub,
            DataContainer = Get(DataContainer) ?? "data",
            WorkDir = Get(WorkDir) ?? Path.Combine(Path.GetTempPath(), "trainyard-work"),
            Retention = days == 0 ? null : TimeSpan.FromDays(days),
            ServiceBusNamespace = Get(ServiceBusNamespace),
            Lookup = Get,
        };
    }
}

/// <summary>The worker's settings as read at start-up.</summary>
public sealed record AppSettingsValues
{
    /// <summary>True when storage is Azurite (<c>UseDevelopmentStorage=true</c>).</summary>
    public bool DevelopmentStorage { get; init; }

    /// <summary>Identity-based storage account name.</summary>
    public string? StorageAccountName { get; init; }

    /// <summary>Client id of the user-assigned identity (null: DefaultAzureCredential's own choice).</summary>
    public string? ClientId { get; init; }

    /// <summary>Task hub.</summary>
    public string TaskHub { get; init; } = "trainyard";

    /// <summary>Watched data container.</summary>
    public string DataContainer { get; init; } = "data";

    /// <summary>Scratch folder.</summary>
    public string WorkDir { get; init; } = Path.GetTempPath();

    /// <summary>How long finished runs are kept (null: forever).</summary>
    public TimeSpan? Retention { get; init; }

    /// <summary>Service Bus namespace, when drift signals travel over Service Bus.</summary>
    public string? ServiceBusNamespace { get; init; }

    /// <summary>Reads any other setting (the Batch ones); null when unset.</summary>
    public Func<string, string?> Lookup { get; init; } = _ => null;
}
