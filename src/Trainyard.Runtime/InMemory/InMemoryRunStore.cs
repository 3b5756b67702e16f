using System.Globalization;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.Runtime.InMemory;

/// <summary>An in-memory run store with the same ETag, outbox and key-value semantics as the durable stores.</summary>
public sealed class InMemoryRunStore : IRunStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, RunRecord> _runs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PipelineVersion> _pipelines = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Scope, string Key), KeyValueEntry> _values = [];
    private long _etag;

    /// <inheritdoc />
    public Task<StoredRun?> LoadAsync(string runId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_runs.TryGetValue(runId, out var r)
                ? new StoredRun(runId, r.Snapshot, r.ETag, [.. r.Outbox.Values])
                : null);
        }
    }

    /// <inheritdoc />
    public Task<string> CommitAsync(RunCommit commit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(commit);
        lock (_gate)
        {
            _runs.TryGetValue(commit.RunId, out var r);
            if (r?.ETag != commit.ExpectedETag)
            {
                throw new ConcurrencyException(r is null
                    ? $"Run '{commit.RunId}' does not exist (expected ETag {commit.ExpectedETag}); reload before committing."
                    : commit.ExpectedETag is null
                        ? $"Run '{commit.RunId}' already exists; load it instead of creating it."
                        : $"Run '{commit.RunId}' changed (expected ETag {commit.ExpectedETag}, found {r.ETag}); reload and apply again.");
            }

            r ??= new RunRecord();
            r.ETag = (++_etag).ToString(CultureInfo.InvariantCulture);
            r.Snapshot = commit.SnapshotJson;
            r.Journal.AddRange(commit.NewEntries);
            foreach (var id in commit.Delivered)
            {
                r.Outbox.Remove(id);
            }

            foreach (var o in commit.Outbox)
            {
                r.Outbox[o.Id] = o;
            }

            r.Summary = commit.Summary;
            _runs[commit.RunId] = r;
            return Task.FromResult(r.ETag);
        }
    }

    /// <inheritdoc />
    public Task MarkDeliveredAsync(string runId, IReadOnlyList<string> outboxIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(outboxIds);
        lock (_gate)
        {
            if (_runs.TryGetValue(runId, out var r))
            {
                foreach (var id in outboxIds)
                {
                    r.Outbox.Remove(id);
                }
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<JournalEntry>> ReadJournalAsync(string runId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<JournalEntry>>(_runs.TryGetValue(runId, out var r) ? [.. r.Journal] : []);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<RunSummary>> ListRunsAsync(RunQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<RunSummary>>([.. _runs.Values
                .Select(r => r.Summary!)
                .Where(s => query.PipelineName is null || s.PipelineName == query.PipelineName)
                .Where(s => query.Status is null || string.Equals(s.Status, query.Status, StringComparison.OrdinalIgnoreCase))
                .Where(s => query.OlderThan is null || (s.FinishedAt ?? s.UpdatedAt) < query.OlderThan)
                .OrderByDescending(s => s.CreatedAt).ThenByDescending(s => s.RunId, StringComparer.Ordinal)
                .Take(query.Limit)]);
        }
    }

    /// <inheritdoc />
    public Task DeleteRunAsync(string runId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _runs.Remove(runId);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task SavePipelineAsync(PipelineVersion pipeline, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        lock (_gate)
        {
            _pipelines.TryAdd(pipeline.ContentHash, pipeline);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<PipelineVersion?> GetPipelineAsync(string contentHash, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_pipelines.GetValueOrDefault(contentHash));
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<PipelineVersion>> ListPipelinesAsync(string? name, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<PipelineVersion>>([.. _pipelines.Values
                .Where(p => name is null || p.Name == name)
                .OrderByDescending(p => p.RegisteredAt)]);
        }
    }

    /// <inheritdoc />
    public Task<KeyValueEntry?> GetValueAsync(string scope, string key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_values.GetValueOrDefault((scope, key)));
        }
    }

    /// <inheritdoc />
    public Task<string?> TryPutValueAsync(string scope, string key, string value, string? expectedETag, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var current = _values.GetValueOrDefault((scope, key));
            if (current?.ETag != expectedETag)
            {
                return Task.FromResult<string?>(null);
            }

            var etag = (++_etag).ToString(CultureInfo.InvariantCulture);
            _values[(scope, key)] = new KeyValueEntry(value, etag);
            return Task.FromResult<string?>(etag);
        }
    }

    /// <inheritdoc />
    public Task DeleteValuesAsync(string scope, IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        lock (_gate)
        {
            foreach (var key in keys)
            {
                _values.Remove((scope, key));
            }
        }

        return Task.CompletedTask;
    }

    private sealed class RunRecord
    {
        public string ETag { get; set; } = "";

        public string Snapshot { get; set; } = "";

        public List<JournalEntry> Journal { get; } = [];

        // Insertion-ordered: delivery keeps the order commands were decided in.
        public Dictionary<string, OutboxItem> Outbox { get; } = new(StringComparer.Ordinal);

        public RunSummary? Summary { get; set; }
    }
}
