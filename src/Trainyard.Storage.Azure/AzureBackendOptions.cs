using System.Text.RegularExpressions;
using Azure.Core;

namespace Trainyard.Storage.Azure;

/// <summary>
/// How to reach the storage account and which task hub to use. Either a connection string
/// (<c>UseDevelopmentStorage=true</c> for Azurite) or the three service URIs with a <see cref="TokenCredential"/>
/// (DefaultAzureCredential, i.e. managed identity in Azure): configuration only, no code change.
/// </summary>
public sealed partial record AzureBackendOptions
{
    /// <summary>Default task hub.</summary>
    public const string DefaultTaskHub = "trainyard";

    /// <summary>Connection string; null when the service URIs are used.</summary>
    public string? ConnectionString { get; init; }

    /// <summary>Blob service URI (identity-based access).</summary>
    public Uri? BlobServiceUri { get; init; }

    /// <summary>Queue service URI (identity-based access).</summary>
    public Uri? QueueServiceUri { get; init; }

    /// <summary>Table service URI (identity-based access).</summary>
    public Uri? TableServiceUri { get; init; }

    /// <summary>Credential for the service URIs; null means DefaultAzureCredential.</summary>
    public TokenCredential? Credential { get; init; }

    /// <summary>
    /// Prefix of every table, queue and container, so several installations can share one account:
    /// 3-24 characters, lowercase letters and digits, starting with a letter.
    /// </summary>
    public string TaskHub { get; init; } = DefaultTaskHub;

    /// <summary>Counts every storage request (bench, tests); null for none.</summary>
    public StorageRequestCounter? RequestCounter { get; init; }

    /// <summary>JSON values longer than this (UTF-8 bytes) go to a blob instead of a table property.</summary>
    public int InlineValueLimit { get; init; } = 32 * 1024;

    /// <summary>Options for a connection string.</summary>
    public static AzureBackendOptions FromConnectionString(string connectionString, string taskHub = DefaultTaskHub)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        return new AzureBackendOptions { ConnectionString = connectionString, TaskHub = taskHub };
    }

    /// <summary>
    /// Options for an account reached by identity. <paramref name="anyServiceUri"/> is the account's blob, queue or
    /// table endpoint (https://&lt;account&gt;.blob.core.windows.net/); the other two are derived from it.
    /// </summary>
    public static AzureBackendOptions FromAccountUri(Uri anyServiceUri, TokenCredential? credential = null, string taskHub = DefaultTaskHub)
    {
        ArgumentNullException.ThrowIfNull(anyServiceUri);
        var host = anyServiceUri.Host;
        var parts = host.Split('.', 3);
        if (!anyServiceUri.IsAbsoluteUri || anyServiceUri.Scheme != Uri.UriSchemeHttps || parts.Length != 3 || parts[1] is not ("blob" or "queue" or "table"))
        {
            throw new ArgumentException(
                $"'{anyServiceUri}' is not a storage service endpoint: use https://<account>.blob.core.windows.net/ (or .queue./.table.), " +
                "or a connection string such as UseDevelopmentStorage=true.", nameof(anyServiceUri));
        }

        Uri Service(string kind) => new($"https://{parts[0]}.{kind}.{parts[2]}/");
        return new AzureBackendOptions
        {
            BlobServiceUri = Service("blob"),
            QueueServiceUri = Service("queue"),
            TableServiceUri = Service("table"),
            Credential = credential,
            TaskHub = taskHub,
        };
    }

    /// <summary>
    /// Parses the text after <c>azure:</c> in a <c>--store</c> value: a connection string
    /// (<c>UseDevelopmentStorage=true</c>, <c>DefaultEndpointsProtocol=...</c>) or an account endpoint URI
    /// (<c>https://&lt;account&gt;.blob.core.windows.net</c>, reached with DefaultAzureCredential).
    /// An optional <c>;TaskHub=name</c> suffix picks the task hub.
    /// </summary>
    public static AzureBackendOptions Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var text = value.Trim();
        if (text.StartsWith("azure:", StringComparison.OrdinalIgnoreCase))
        {
            text = text["azure:".Length..];
        }

        var hub = DefaultTaskHub;
        var hubMatch = TaskHubSetting().Match(text);
        if (hubMatch.Success)
        {
            hub = hubMatch.Groups[1].Value;
            text = text.Remove(hubMatch.Index, hubMatch.Length).TrimEnd(';');
        }

        if (text.Length == 0)
        {
            throw new ArgumentException(
                "The Azure store is empty: use azure:UseDevelopmentStorage=true (Azurite) or azure:https://<account>.blob.core.windows.net (managed identity).",
                nameof(value));
        }

        var options = text.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
            ? FromAccountUri(new Uri(text.TrimEnd('/') + "/"), taskHub: hub)
            : FromConnectionString(text, hub);
        options.Validate();
        return options;
    }

    /// <summary>Checks the options; throws with what is wrong and how to fix it.</summary>
    public void Validate()
    {
        ValidateTaskHub(TaskHub);
        var uris = new[] { BlobServiceUri, QueueServiceUri, TableServiceUri };
        if (ConnectionString is null && uris.Any(u => u is null))
        {
            throw new ArgumentException(
                "Azure storage options need either ConnectionString (UseDevelopmentStorage=true for Azurite) or all of " +
                "BlobServiceUri, QueueServiceUri and TableServiceUri (identity-based access).");
        }

        if (ConnectionString is not null && uris.Any(u => u is not null))
        {
            throw new ArgumentException("Azure storage options set both ConnectionString and service URIs: keep one of them.");
        }

        if (InlineValueLimit is < 1024 or > 32 * 1024)
        {
            throw new ArgumentException($"InlineValueLimit {InlineValueLimit} is out of range: use 1024..32768 bytes (table string properties hold at most 64 KiB).");
        }
    }

    /// <summary>Throws unless <paramref name="taskHub"/> can prefix table, queue and container names.</summary>
    public static void ValidateTaskHub(string taskHub)
    {
        if (taskHub is null || !TaskHubPattern().IsMatch(taskHub))
        {
            throw new ArgumentException(
                $"Task hub '{taskHub}' is invalid: use 3-24 lowercase letters and digits starting with a letter (e.g. 'trainyard' or 'prod2'); " +
                "it prefixes table names, which allow no other characters.", nameof(taskHub));
        }
    }

    [GeneratedRegex("^[a-z][a-z0-9]{2,23}$", RegexOptions.CultureInvariant)]
    private static partial Regex TaskHubPattern();

    [GeneratedRegex(";?\\s*TaskHub=([^;]*)\\s*;?", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex TaskHubSetting();
}
