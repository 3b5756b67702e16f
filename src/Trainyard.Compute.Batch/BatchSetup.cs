using Azure.Core;
using Azure.Identity;
using Microsoft.Extensions.Logging;

namespace Trainyard.Compute.Batch;

/// <summary>Builds the Batch executor from app settings (Function App) or environment variables (CLI).</summary>
public static class BatchSetup
{
    /// <summary>Client id of the user-assigned managed identity DefaultAzureCredential signs in with.</summary>
    public const string ClientIdSetting = "AZURE_CLIENT_ID";

    /// <summary>What to do when a step needs Batch and <see cref="BatchOptions.SettingNames.Endpoint"/> is not set.</summary>
    public const string NotConfiguredHint =
        "set " + BatchOptions.SettingNames.Endpoint + " (https://<account>.<region>.batch.azure.com) and " + BatchOptions.SettingNames.ArtifactContainerUrl +
        " to run `executor: batch` steps on Azure Batch, or change the step's executor to local";

    /// <summary>
    /// The executor, or null when <see cref="BatchOptions.SettingNames.Endpoint"/> is not set (Batch off).
    /// Throws <see cref="FormatException"/> or <see cref="InvalidOperationException"/> naming the bad setting.
    /// </summary>
    public static BatchExecutor? FromSettings(Func<string, string?> setting, ILoggerFactory? loggers = null)
    {
        ArgumentNullException.ThrowIfNull(setting);
        var options = BatchOptions.FromSettings(setting);
        if (options is null)
        {
            return null;
        }

        var client = new BatchClient(options.AccountEndpoint, AzureCredentials.For(options.AccountEndpoint, setting(ClientIdSetting)), options.Client);
        return new BatchExecutor(options, client, loggers?.CreateLogger<BatchExecutor>());
    }

    /// <summary>
    /// Like <see cref="FromSettings"/>, but bad settings do not throw (a host must start anyway): the executor, or null
    /// with the reason and what to do, for runs with Batch steps to be refused with.
    /// </summary>
    public static BatchAvailability TryFromSettings(Func<string, string?> setting, ILoggerFactory? loggers = null)
    {
        try
        {
            var executor = FromSettings(setting, loggers);
            return new BatchAvailability(executor, executor is null ? NotConfiguredHint : null);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or ArgumentException)
        {
            return new BatchAvailability(null, "the Batch settings are invalid (" + e.Message.TrimEnd('.') + ")");
        }
    }
}

/// <summary>The Batch executor when Batch is configured, else why not and what to do.</summary>
/// <param name="Executor">The executor, or null.</param>
/// <param name="Problem">Why there is none and what to do (null when there is one).</param>
public sealed record BatchAvailability(BatchExecutor? Executor, string? Problem);

/// <summary>Which credential Trainyard's REST clients (Batch, Service Bus send) sign in with.</summary>
public static class AzureCredentials
{
    /// <summary>
    /// DefaultAzureCredential (managed identity <paramref name="managedIdentityClientId"/> in Azure, developer sign-in on
    /// a laptop); for an endpoint on this machine (127.0.0.1, localhost: an emulator or test double, never Azure) a
    /// placeholder token instead, as Azurite's well-known development account is for storage.
    /// </summary>
    public static TokenCredential For(Uri endpoint, string? managedIdentityClientId)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint.IsLoopback)
        {
            return new LocalEmulatorCredential();
        }

        return new DefaultAzureCredential(new DefaultAzureCredentialOptions
        {
            ManagedIdentityClientId = string.IsNullOrWhiteSpace(managedIdentityClientId) ? null : managedIdentityClientId,
        });
    }

    /// <summary>A fixed placeholder token for emulators on 127.0.0.1; it grants nothing anywhere else.</summary>
    private sealed class LocalEmulatorCredential : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            new("local-emulator", DateTimeOffset.UtcNow.AddHours(1));

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }
}
