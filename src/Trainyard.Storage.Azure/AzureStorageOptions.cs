using System.Text.RegularExpressions;
using Azure.Core;
using Azure.Identity;
using Azure.Storage.Blobs;

namespace Trainyard.Storage.Azure;

/// <summary>
/// Which storage account holds Trainyard's blob containers, and under which prefix. Two identities only: an account's
/// blob endpoint reached with a <see cref="TokenCredential"/> (DefaultAzureCredential: managed identity in Azure, your
/// sign-in on a workstation), or Azurite through <c>UseDevelopmentStorage=true</c>. Keys, SAS tokens and other
/// connection strings are refused, so none can end up in scripts, settings or shell history.
/// </summary>
public sealed partial record AzureStorageOptions
{
    /// <summary>Default prefix of the containers (the Function App's default task hub).</summary>
    public const string DefaultTaskHub = "trainyard";

    /// <summary>The only connection string accepted: Azurite on 127.0.0.1:10000.</summary>
    public const string DevelopmentStorage = "UseDevelopmentStorage=true";

    /// <summary>The account's blob endpoint (https://&lt;account&gt;.blob.core.windows.net/); null for Azurite.</summary>
    public Uri? BlobServiceUri { get; init; }

    /// <summary>Credential for <see cref="BlobServiceUri"/>; null means DefaultAzureCredential.</summary>
    public TokenCredential? Credential { get; init; }

    /// <summary>True for Azurite (<see cref="DevelopmentStorage"/>).</summary>
    public bool UseDevelopmentStorage { get; init; }

    /// <summary>
    /// Prefix of every container, so several installations can share an account (the Durable task hub name by
    /// convention): 3-24 lowercase letters and digits, starting with a letter.
    /// </summary>
    public string TaskHub { get; init; } = DefaultTaskHub;

    /// <summary>Azurite on the default ports.</summary>
    public static AzureStorageOptions ForDevelopmentStorage(string taskHub = DefaultTaskHub) =>
        new() { UseDevelopmentStorage = true, TaskHub = taskHub };

    /// <summary>An account reached by identity; <paramref name="blobServiceUri"/> is its blob endpoint.</summary>
    public static AzureStorageOptions ForAccount(Uri blobServiceUri, TokenCredential? credential = null, string taskHub = DefaultTaskHub)
    {
        ArgumentNullException.ThrowIfNull(blobServiceUri);
        var parts = blobServiceUri.IsAbsoluteUri ? blobServiceUri.Host.Split('.', 3) : [];
        if (!blobServiceUri.IsAbsoluteUri || blobServiceUri.Scheme != Uri.UriSchemeHttps || parts.Length != 3 || parts[1] != "blob"
            || blobServiceUri.AbsolutePath.Trim('/').Length != 0 || blobServiceUri.Query.Length != 0)
        {
            throw new ArgumentException(
                $"'{(blobServiceUri.IsAbsoluteUri ? blobServiceUri.GetLeftPart(UriPartial.Path) : blobServiceUri.OriginalString)}' is not a storage account's blob endpoint: use https://<account>.blob.core.windows.net (reached with managed identity), " +
                $"or {DevelopmentStorage} for Azurite.", nameof(blobServiceUri));
        }

        return new AzureStorageOptions { BlobServiceUri = new Uri($"https://{blobServiceUri.Host}/"), Credential = credential, TaskHub = taskHub };
    }

    /// <summary>
    /// Parses a <c>--store</c> value for Azure: <c>azure:UseDevelopmentStorage=true</c> (Azurite) or
    /// <c>azure:https://&lt;account&gt;.blob.core.windows.net</c> (DefaultAzureCredential), optionally followed by
    /// <c>;TaskHub=name</c>. The <c>azure:</c> prefix is optional.
    /// </summary>
    public static AzureStorageOptions Parse(string value)
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
            hub = hubMatch.Groups[1].Value.Trim();
            text = text.Remove(hubMatch.Index, hubMatch.Length);
        }

        text = text.Trim().Trim(';').Trim();
        AzureStorageOptions options;
        if (Secret().IsMatch(text))
        {
            // Never echo the text: it carries a key or a SAS.
            throw Unusable("keys, SAS tokens and connection strings are not accepted (identity-based access only)");
        }

        if (text.Equals(DevelopmentStorage, StringComparison.OrdinalIgnoreCase))
        {
            options = ForDevelopmentStorage(hub);
        }
        else if (text.StartsWith("https://", StringComparison.OrdinalIgnoreCase) && Uri.TryCreate(text, UriKind.Absolute, out var uri))
        {
            options = ForAccount(uri, taskHub: hub);
        }
        else
        {
            throw Unusable(text.Length == 0 ? "it names no account" : $"'{text}' is neither {DevelopmentStorage} nor an https blob endpoint");
        }

        options.Validate();
        return options;
    }

    private static ArgumentException Unusable(string why) => new(
        $"The Azure store is unusable: {why}. Use azure:{DevelopmentStorage} (Azurite) or azure:https://<account>.blob.core.windows.net " +
        "(managed identity / your az login), optionally followed by ;TaskHub=<name>.", "value");

    /// <summary>Checks the options; throws with what is wrong and how to fix it.</summary>
    public void Validate()
    {
        ValidateTaskHub(TaskHub);
        if (UseDevelopmentStorage == (BlobServiceUri is not null))
        {
            throw new ArgumentException(
                $"Azure storage options need exactly one of BlobServiceUri (https://<account>.blob.core.windows.net, identity-based access) " +
                $"and UseDevelopmentStorage ({DevelopmentStorage}, Azurite).");
        }

        if (UseDevelopmentStorage && Credential is not null)
        {
            throw new ArgumentException("Azure storage options set a Credential for Azurite (UseDevelopmentStorage): Azurite takes its own development account; drop the credential.");
        }
    }

    /// <summary>Throws unless <paramref name="taskHub"/> can prefix container names.</summary>
    public static void ValidateTaskHub(string taskHub)
    {
        if (taskHub is null || !TaskHubPattern().IsMatch(taskHub))
        {
            throw new ArgumentException(
                $"Task hub '{taskHub}' is invalid: use 3-24 lowercase letters and digits starting with a letter (e.g. 'trainyard' or 'prod2'); " +
                "it prefixes the container names.", nameof(taskHub));
        }
    }

    /// <summary>
    /// The blob service client these options describe. People wait on these calls (the CLI), so an endpoint that does
    /// not answer fails within seconds (two quick retries, a 10 s network timeout) instead of the SDK's default half
    /// minute of retries.
    /// </summary>
    internal BlobServiceClient CreateServiceClient()
    {
        Validate();
        var options = new BlobClientOptions();
        options.Retry.MaxRetries = 2;
        options.Retry.Delay = TimeSpan.FromMilliseconds(400);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(2);
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(10);
        return UseDevelopmentStorage
            ? new BlobServiceClient(DevelopmentStorage, options)
            : new BlobServiceClient(BlobServiceUri, Credential ?? new DefaultAzureCredential(), options);
    }

    [GeneratedRegex("^[a-z][a-z0-9]{2,23}$", RegexOptions.CultureInvariant)]
    private static partial Regex TaskHubPattern();

    [GeneratedRegex(";?\\s*TaskHub=([^;]*)\\s*;?", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex TaskHubSetting();

    [GeneratedRegex("AccountKey=|SharedAccessSignature=|sig=|AccountName=|DefaultEndpointsProtocol=", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Secret();
}
