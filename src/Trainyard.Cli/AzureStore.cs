using Trainyard.Runtime.Contracts;
using Trainyard.Storage.Azure;
using Trainyard.Execution.Contracts;

namespace Trainyard.Cli;

/// <summary>`--store azure:...`: the Azure Storage backend (Azurite locally, managed identity in Azure).</summary>
internal static class AzureStore
{
    /// <summary>Deliveries after which a message is quarantined (the Functions host's maxDequeueCount default).</summary>
    public const int MaxDequeueCount = 5;

    /// <summary>The prefix that selects Azure Storage.</summary>
    public const string Prefix = "azure:";

    /// <summary>Opens the Azure backend for an `azure:` store value; null for anything else (a folder).</summary>
    public static AzureBackend? TryOpen(string store)
    {
        if (!store.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        try
        {
            return new AzureBackend(AzureBackendOptions.Parse(store));
        }
        catch (ArgumentException e)
        {
            throw new CliInputException($"--store {store}: {e.Message}");
        }
    }

    /// <summary>The Azure backend of an opened store, or a clear error for commands that need one.</summary>
    public static IPoisonQueues PoisonQueues(IBackend backend, string store) =>
        backend as IPoisonQueues ?? throw new CliInputException(
            $"the store '{store}' keeps no poison queues; poison queues exist on Azure Storage: pass --store azure:UseDevelopmentStorage=true (Azurite) or azure:https://<account>.blob.core.windows.net.");
}
