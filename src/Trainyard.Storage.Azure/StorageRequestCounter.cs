using System.Collections.Concurrent;
using Azure.Core;
using Azure.Core.Pipeline;

namespace Trainyard.Storage.Azure;

/// <summary>
/// Counts storage requests by service and operation (e.g. "queue GET messages", "table POST $batch"). Plugged into
/// every client of a backend as a per-retry pipeline policy, so retries count too: requests are what Azurite's
/// single thread spends its time on and what a storage account bills.
/// </summary>
public sealed class StorageRequestCounter
{
    private readonly ConcurrentDictionary<string, long> _byOperation = new(StringComparer.Ordinal);
    private long _total;

    /// <summary>All requests counted so far.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <summary>Counts by "service METHOD operation".</summary>
    public IReadOnlyDictionary<string, long> ByOperation() => new SortedDictionary<string, long>(_byOperation, StringComparer.Ordinal);

    /// <summary>Counts by service (blob, queue, table).</summary>
    public IReadOnlyDictionary<string, long> ByService() =>
        _byOperation.GroupBy(p => p.Key[..p.Key.IndexOf(' ', StringComparison.Ordinal)])
            .ToDictionary(g => g.Key, g => g.Sum(p => p.Value), StringComparer.Ordinal);

    /// <summary>Sets every count to zero.</summary>
    public void Reset()
    {
        _byOperation.Clear();
        Interlocked.Exchange(ref _total, 0);
    }

    /// <summary>The policy for one service's clients.</summary>
    public HttpPipelinePolicy PolicyFor(string service) => new CountingPolicy(this, service);

    internal void Count(string service, Request request)
    {
        var key = $"{service} {request.Method} {Operation(service, request)}";
        _byOperation.AddOrUpdate(key, 1, (_, n) => n + 1);
        Interlocked.Increment(ref _total);
    }

    private static string Operation(string service, Request request)
    {
        var uri = request.Uri;
        var path = uri.Path;
        var query = uri.Query;
        if (service == "table")
        {
            if (path.EndsWith("$batch", StringComparison.Ordinal))
            {
                return "$batch";
            }

            if (path.EndsWith("Tables", StringComparison.Ordinal) || path.Contains("Tables(", StringComparison.Ordinal))
            {
                return "tables";
            }

            // GET on the table (or on a key with $filter) is a query; POST on the table inserts one entity.
            return request.Method == RequestMethod.Post ? "insert" : path.Contains('(', StringComparison.Ordinal) && request.Method != RequestMethod.Get ? "entity" : request.Method == RequestMethod.Get ? "query" : "entity";
        }

        if (service == "queue")
        {
            return path.Contains("/messages/", StringComparison.Ordinal) ? "message" : path.EndsWith("/messages", StringComparison.Ordinal) ? "messages" : "queue";
        }

        if (query.Contains("comp=list", StringComparison.Ordinal))
        {
            return "list";
        }

        return query.Contains("restype=container", StringComparison.Ordinal) ? "container" : "blob";
    }

    private sealed class CountingPolicy(StorageRequestCounter counter, string service) : HttpPipelineSynchronousPolicy
    {
        public override void OnSendingRequest(HttpMessage message) => counter.Count(service, message.Request);
    }
}
