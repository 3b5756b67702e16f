using Trainyard.Runtime.Contracts;
using Trainyard.Runtime.InMemory;
using Trainyard.Storage.Azure;
using Trainyard.Execution.Contracts;

namespace Trainyard.FunctionApp;

/// <summary>
/// Picks the backend from app settings: TRAINYARD_STORE when set (CLI --store syntax); else Azure Storage when
/// AzureWebJobsStorage (connection string) or AzureWebJobsStorage__accountName (managed identity) is set; else SQLite.
/// </summary>
internal static class BackendSelector
{
    /// <summary>SQLite file used when nothing else is configured.</summary>
    public const string DefaultSqlitePath = ".trainyard/trainyard.db";

    /// <summary>Describes the choice without opening anything (for the start-up log line; no secrets).</summary>
    public static string Describe(AppSettingsValues settings) => settings switch
    {
        { Store: { } s } => s.StartsWith("azure:", StringComparison.OrdinalIgnoreCase) ? "azure (TRAINYARD_STORE)" : s,
        { StorageConnection: not null } => $"azure (AzureWebJobsStorage, task hub {settings.TaskHub})",
        { StorageAccountName: { } a } => $"azure (account {a} by managed identity, task hub {settings.TaskHub})",
        _ => "sqlite:" + DefaultSqlitePath,
    };

    /// <summary>Opens the backend.</summary>
    public static IBackend Create(AppSettingsValues settings, TimeProvider time)
    {
        if (settings.Store is { } store)
        {
            return FromStore(store, settings, time);
        }

        if (settings.StorageConnection is { } connection)
        {
            return new AzureBackend(AzureBackendOptions.FromConnectionString(connection, settings.TaskHub), time);
        }

        if (settings.StorageAccountName is { } account)
        {
            // A null credential means DefaultAzureCredential, which picks the user-assigned identity from AZURE_CLIENT_ID.
            var options = AzureBackendOptions.FromAccountUri(new Uri($"https://{account}.blob.core.windows.net/"), null, settings.TaskHub);
            return new AzureBackend(options, time);
        }

        return Sqlite(DefaultSqlitePath, time);
    }

    private static IBackend FromStore(string store, AppSettingsValues settings, TimeProvider time)
    {
        if (store.Equals("memory", StringComparison.OrdinalIgnoreCase))
        {
            return new InMemoryBackend(time);
        }

        if (store.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase))
        {
            return Sqlite(store["sqlite:".Length..], time);
        }

        if (store.StartsWith("azure:", StringComparison.OrdinalIgnoreCase))
        {
            var options = AzureBackendOptions.Parse(store);
            return new AzureBackend(options.TaskHub == AzureBackendOptions.DefaultTaskHub ? options with { TaskHub = settings.TaskHub } : options, time);
        }

        throw new InvalidOperationException($"App setting {AppSettings.Store}='{store}' is not a store: use sqlite:PATH, azure:UseDevelopmentStorage=true, azure:https://<account>.blob.core.windows.net or memory.");
    }

    private static IBackend Sqlite(string path, TimeProvider time)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        return Trainyard.Storage.Sqlite.SqliteBackend.Open(full, null, time);
    }
}
