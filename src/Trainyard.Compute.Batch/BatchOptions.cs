using Azure.Core;

namespace Trainyard.Compute.Batch;

/// <summary>Where and how Trainyard runs `executor: batch` steps on Azure Batch.</summary>
public sealed record BatchOptions
{
    /// <summary>Batch account endpoint, e.g. https://myaccount.westeurope.batch.azure.com.</summary>
    public required Uri AccountEndpoint { get; init; }

    /// <summary>
    /// Blob container holding Trainyard artifacts (no SAS: nodes reach it through <see cref="NodeIdentityResourceId"/>),
    /// e.g. https://mystorage.blob.core.windows.net/artifacts.
    /// </summary>
    public required Uri ArtifactContainerUrl { get; init; }

    /// <summary>Prefix put before an artifact path to form its blob name ("" when the container holds artifacts at its root).</summary>
    public string ArtifactBlobPrefix { get; init; } = "";

    /// <summary>
    /// Resource id of the user-assigned managed identity attached to the pools; it reads inputs and writes outputs.
    /// Null leaves identityReference out (only for containers that allow anonymous access, e.g. tests).
    /// </summary>
    public string? NodeIdentityResourceId { get; init; }

    /// <summary>Pool used when a step names none in `resources.pool`.</summary>
    public string? DefaultPoolId { get; init; }

    /// <summary>Estimated price per node-hour, by pool id (case-insensitive), in USD; pools not listed cost 0.</summary>
    public IReadOnlyDictionary<string, double> PoolPricesUsdPerNodeHour { get; init; } = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Delay before the first status poll.</summary>
    public TimeSpan PollInitialDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Longest delay between status polls.</summary>
    public TimeSpan PollMaxDelay { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>At most this many bytes of stdout.txt / stderr.txt (their ends) are copied into the step log.</summary>
    public int MaxLogBytes { get; init; } = 64 * 1024;

    /// <summary>Prefix of Batch job ids, so Trainyard's jobs are easy to tell apart in a shared account.</summary>
    public string JobIdPrefix { get; init; } = "ty";

    /// <summary>Pipeline options (retries, transport, api-version) for the REST client.</summary>
    public BatchClientOptions Client { get; init; } = new();

    /// <summary>
    /// Reads the options from app settings (see AppSettings in the Function App): TRAINYARD_BATCH_ENDPOINT,
    /// TRAINYARD_BATCH_ARTIFACT_CONTAINER_URL, TRAINYARD_BATCH_NODE_IDENTITY_ID, TRAINYARD_BATCH_DEFAULT_POOL,
    /// TRAINYARD_BATCH_POOL_PRICES ("gpu=0.526;cpu=0.096"). Returns null when TRAINYARD_BATCH_ENDPOINT is not set (Batch off).
    /// </summary>
    public static BatchOptions? FromSettings(Func<string, string?> setting)
    {
        ArgumentNullException.ThrowIfNull(setting);
        var endpoint = setting(SettingNames.Endpoint);
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            return null;
        }

        var container = setting(SettingNames.ArtifactContainerUrl);
        if (string.IsNullOrWhiteSpace(container))
        {
            throw new InvalidOperationException(
                $"App setting {SettingNames.Endpoint} is set but {SettingNames.ArtifactContainerUrl} is not: set it to the artifact blob container URL (https://<account>.blob.core.windows.net/<container>) so Batch nodes can read inputs and write outputs.");
        }

        return new BatchOptions
        {
            AccountEndpoint = ParseUri(SettingNames.Endpoint, endpoint),
            ArtifactContainerUrl = ParseUri(SettingNames.ArtifactContainerUrl, container),
            NodeIdentityResourceId = NullIfEmpty(setting(SettingNames.NodeIdentityId)),
            DefaultPoolId = NullIfEmpty(setting(SettingNames.DefaultPool)),
            PoolPricesUsdPerNodeHour = ParsePrices(setting(SettingNames.PoolPrices)),
        };
    }

    /// <summary>Parses a price table written as "pool=price;pool=price" (USD per node-hour).</summary>
    public static IReadOnlyDictionary<string, double> ParsePrices(string? text)
    {
        var prices = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);
        if (string.IsNullOrWhiteSpace(text))
        {
            return prices;
        }

        foreach (var part in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !double.TryParse(part[(eq + 1)..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var price) || price < 0)
            {
                throw new FormatException(
                    $"App setting {SettingNames.PoolPrices}: '{part}' is not 'pool=price'. Write e.g. 'gpu=0.526;cpu=0.096' (USD per node-hour, '.' as decimal point).");
            }

            prices[part[..eq].Trim()] = price;
        }

        return prices;
    }

    private static Uri ParseUri(string name, string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri)
            ? uri
            : throw new FormatException($"App setting {name} is '{value}', which is not an absolute URL: set it to an https:// address.");

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    /// <summary>The app-setting names <see cref="FromSettings"/> reads.</summary>
    public static class SettingNames
    {
        /// <summary>Batch account endpoint.</summary>
        public const string Endpoint = "TRAINYARD_BATCH_ENDPOINT";

        /// <summary>Artifact blob container URL.</summary>
        public const string ArtifactContainerUrl = "TRAINYARD_BATCH_ARTIFACT_CONTAINER_URL";

        /// <summary>Resource id of the pools' user-assigned identity.</summary>
        public const string NodeIdentityId = "TRAINYARD_BATCH_NODE_IDENTITY_ID";

        /// <summary>Default pool id.</summary>
        public const string DefaultPool = "TRAINYARD_BATCH_DEFAULT_POOL";

        /// <summary>Price table "pool=usdPerNodeHour;...".</summary>
        public const string PoolPrices = "TRAINYARD_BATCH_POOL_PRICES";

        /// <summary>Every name above.</summary>
        public static IReadOnlyList<string> All { get; } = [Endpoint, ArtifactContainerUrl, NodeIdentityId, DefaultPool, PoolPrices];
    }
}

/// <summary>Azure.Core pipeline options for <see cref="BatchClient"/>: transient errors (408, 429, 500, 502, 503, 504, timeouts) retry with exponential backoff.</summary>
public sealed class BatchClientOptions : ClientOptions
{
    /// <summary>Batch data-plane REST api-version.</summary>
    public string ApiVersion { get; set; } = "2025-06-01";

    /// <summary>Creates options with Trainyard's retry defaults.</summary>
    public BatchClientOptions()
    {
        Retry.Mode = RetryMode.Exponential;
        Retry.MaxRetries = 5;
        Retry.Delay = TimeSpan.FromSeconds(1);
        Retry.MaxDelay = TimeSpan.FromSeconds(30);
        Retry.NetworkTimeout = TimeSpan.FromSeconds(60);
    }
}
