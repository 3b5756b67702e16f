using Azure;
using Trainyard.Engine.Durable.Hosting;
using Trainyard.Storage.Azure;

namespace Trainyard.Cli;

/// <summary>
/// `--store azure:...`: Trainyard's blob containers in Azure Storage (pipeline versions and active-version pointers, the
/// model registry, lineage, artifacts), the ones the Function App reads, and the Durable task hub beside them: the run
/// commands work on its orchestrations (<see cref="DurableCommands"/>); commands of the embedded store only refuse it with
/// <see cref="RunsAreDurable"/>.
/// </summary>
internal static class AzureStore
{
    /// <summary>The prefix that selects Azure Storage.</summary>
    public const string Prefix = "azure:";

    /// <summary>What `--store` accepts for Azure, for option descriptions.</summary>
    public const string Syntax = "azure:UseDevelopmentStorage=true (Azurite) or azure:https://<account>.blob.core.windows.net[;TaskHub=name] (managed identity / az login)";

    /// <summary>True for an `azure:` store value.</summary>
    public static bool IsAzure(string store) => store.TrimStart().StartsWith(Prefix, StringComparison.OrdinalIgnoreCase);

    /// <summary>Opens the blob stores of an `azure:` store value; null for anything else (a folder).</summary>
    public static AzureBlobStores? TryOpen(string store)
    {
        if (!IsAzure(store))
        {
            return null;
        }

        try
        {
            return new AzureBlobStores(AzureStorageOptions.Parse(store));
        }
        catch (ArgumentException e)
        {
            // The message never repeats a key or SAS (AzureStorageOptions.Parse leaves them out); neither do we.
            var message = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            throw new CliInputException($"--store: {message}");
        }
    }

    /// <summary>
    /// Creates (or finds) the task hub's containers first, so a failed sign-in or a missing role is one usage error. An
    /// account that does not answer at all keeps its network exception inside, for the caller to report as unreachable.
    /// </summary>
    public static async Task EnsureReachableAsync(AzureBlobStores stores, CancellationToken cancellationToken)
    {
        try
        {
            await stores.EnsureCreatedAsync(cancellationToken);
        }
        catch (InvalidOperationException e) when (e.InnerException is not RequestFailedException { Status: 0 })
        {
            throw new CliInputException($"--store: {e.Message}");
        }
    }

    /// <summary>
    /// The Durable task hub of an `azure:` store value: Azurite with UseDevelopmentStorage=true, or an account's blob
    /// endpoint reached with DefaultAzureCredential (managed identity / az login), the hub named by ;TaskHub= (as the
    /// blob containers are).
    /// </summary>
    public static AzureStorageStore TaskHub(string store, AzureBlobStores stores)
    {
        var options = AzureStorageOptions.Parse(store);
        return options.UseDevelopmentStorage
            ? DurableStore.AzureStorage(AzureStorageOptions.DevelopmentStorage, stores.Names.TaskHub)
            : DurableStore.AzureStorageAccount(options.BlobServiceUri!.Host.Split('.')[0], options.Credential ?? new Azure.Identity.DefaultAzureCredential(), stores.Names.TaskHub);
    }

    /// <summary>Refuses an account URL where this machine's Azurite queues and containers are meant (serve's triggers, signal drift).</summary>
    public static void RequireDevelopmentStorage(string store, string what)
    {
        if (!AzureStorageOptions.Parse(store).UseDevelopmentStorage)
        {
            throw new CliInputException($"--store {store}: {what} works on Azurite (azure:UseDevelopmentStorage=true); in Azure, the Function App's triggers read the account's queues and containers.");
        }
    }

    /// <summary>The error of the commands that work on the embedded store only (stats) given an Azure store.</summary>
    public static CliInputException RunsAreDurable() => new(
        "--store azure:... is a durable task hub, which this command does not read: it works on the embedded engine's store (a folder, default .trainyard/). " +
        "For runs in a task hub use `trainyard runs`, `status`, `logs`, `cancel`, `retry` and `event` with the same --store; in Azure, the Function App's HTTP API " +
        "(POST api/pipelines/{name}/runs, api/runs) serves the same runs. `--store azure:...` also serves `trainyard pipelines`, `trainyard models` and `trainyard lineage`.");
}
