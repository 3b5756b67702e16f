using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Azure;

/// <summary>
/// Run store on Table storage. One partition per run (PartitionKey = encoded run id) holding:
/// <list type="bullet">
/// <item>the snapshot row <c>s</c> (snapshot JSON, last journal sequence, listing fields) whose ETag is the run's ETag;</item>
/// <item>one journal row per commit, <c>j{firstSeq:D19}</c>, holding that commit's entries as a JSON array;</item>
/// <item>one outbox row per commit, <c>o{lastSeq:D19}-{hash}</c>, holding that commit's undelivered items.</item>
/// </list>
/// <para>
/// Why a commit always fits one entity-group transaction (100 operations, 4 MiB): it is at most three operations
/// (snapshot replace conditional on the ETag, journal row, outbox row) however many entries or items it carries, and
/// each of the three stays small because any JSON over <see cref="AzureBackendOptions.InlineValueLimit"/> (32 KiB) is
/// first written to a content-addressed blob and only referenced from the row. Those blobs are written before the
/// transaction and are invisible until the transaction that references them succeeds; a crash or an ETag conflict in
/// between leaves only unreferenced garbage under the run's blob prefix (deleted with the run), never a partial commit.
/// Nothing here relies on Azurite's missing one-partition check: every transaction touches the run's partition only.
/// </para>
/// The run listing lives in a separate index table (partition <c>run</c>, newest first), written after the commit when
/// a run is created or changes status; a crash in between is repaired on listing (rows of unfinished runs are checked
/// against their snapshot row).
/// </summary>
internal sealed class TableRunStore : IRunStore
{
    private const string SnapshotRow = "s";
    private const int MaxTransactionActions = 100;
    private const string IndexRunPartition = "run";
    private const string IndexPipelinePartition = "pipeline";
    private static readonly string[] TerminalStatuses = ["succeeded", "failed", "cancelled"];

    private readonly TableClient _runs;
    private readonly TableClient _index;
    private readonly TableClient _values;
    private readonly LargeValues _large;
    private readonly int _inlineLimit;
    private readonly Func<CancellationToken, Task> _ensure;

    // Per-process knowledge that saves requests; never trusted for correctness (ETags decide).
    private readonly ConcurrentDictionary<string, Seen> _seen = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _savedPipelines = new(StringComparer.Ordinal);

    public TableRunStore(AzureStorageClients clients, LargeValues large, int inlineLimit)
    {
        _runs = clients.Tables.GetTableClient(clients.Names.RunsTable);
        _index = clients.Tables.GetTableClient(clients.Names.IndexTable);
        _values = clients.Tables.GetTableClient(clients.Names.ValuesTable);
        _large = large;
        _inlineLimit = inlineLimit;
        _ensure = clients.EnsureCreatedAsync;
    }

    public async Task<StoredRun?> LoadAsync(string runId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        await _ensure(cancellationToken).ConfigureAwait(false);
        var pk = TableKeys.Encode(runId);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {pk} and (RowKey eq {SnapshotRow} or (RowKey ge {"o"} and RowKey lt {"p"}))");
        for (var attempt = 1; ; attempt++)
        {
            TableEntity? snapshot = null;
            var outboxRows = new List<TableEntity>();
            await foreach (var row in _runs.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                if (row.RowKey == SnapshotRow)
                {
                    snapshot = row;
                }
                else
                {
                    outboxRows.Add(row);
                }
            }

            if (snapshot is null)
            {
                _seen.TryRemove(runId, out _);
                return null;
            }

            try
            {
                var json = await _large.GetAsync(snapshot, "Snapshot", cancellationToken).ConfigureAwait(false);
                var outbox = new List<OutboxRow>();
                foreach (var row in outboxRows)
                {
                    outbox.Add(await ReadOutboxRowAsync(row, cancellationToken).ConfigureAwait(false));
                }

                var etag = snapshot.ETag.ToString();
                _seen[runId] = new Seen(etag, LargeValues.BlobName(snapshot, "Snapshot"), snapshot.GetString("Status"), outbox, KnowsOutbox: true);
                return new StoredRun(runId, json, etag, outbox.SelectMany(o => o.Items).ToList());
            }
            catch (LargeValueMissingException) when (attempt < 5)
            {
                // A newer commit replaced the snapshot (and deleted the old blob) between our query and download.
            }
        }
    }

    public async Task<string> CommitAsync(RunCommit commit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(commit);
        ArgumentException.ThrowIfNullOrEmpty(commit.RunId);
        if (commit.ExpectedETag is { } expected && !IsTableETag(expected))
        {
            throw new ConcurrencyException($"Run '{commit.RunId}' cannot have ETag '{expected}' (not a table ETag): load the run and commit with the ETag it returns.");
        }

        await _ensure(cancellationToken).ConfigureAwait(false);
        var runId = commit.RunId;
        var pk = TableKeys.Encode(runId);
        var scope = BlobScope(runId);
        var lastSeq = commit.NewEntries.Count > 0 ? commit.NewEntries[^1].Sequence : (long?)null;

        var snapshot = new TableEntity(pk, SnapshotRow);
        await _large.SetAsync(snapshot, "Snapshot", commit.SnapshotJson, scope + "/s", cancellationToken).ConfigureAwait(false);
        WriteSummary(snapshot, commit.Summary);
        var seen = _seen.TryGetValue(runId, out var s) && s.ETag == commit.ExpectedETag ? s : null;

        var actions = new List<TableTransactionAction>(3)
        {
            commit.ExpectedETag is null
                ? new TableTransactionAction(TableTransactionActionType.Add, snapshot)
                : new TableTransactionAction(TableTransactionActionType.UpdateReplace, snapshot, new ETag(commit.ExpectedETag)),
        };

        if (commit.NewEntries.Count > 0)
        {
            var journal = new TableEntity(pk, TableKeys.Sequence('j', commit.NewEntries[0].Sequence)) { ["Count"] = commit.NewEntries.Count };
            var entries = JsonSerializer.Serialize(commit.NewEntries.Select(e => new JournalDto(e.Sequence, e.Type, e.EventJson, e.At)), StoreJson.Options);
            await _large.SetAsync(journal, "Entries", entries, scope + "/j", cancellationToken).ConfigureAwait(false);
            actions.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, journal));
        }

        OutboxRow? outboxRow = null;
        if (commit.Outbox.Count > 0)
        {
            // Unique per commit even when a commit appends no entry: the hash covers the (unique) command ids.
            var idHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', commit.Outbox.Select(o => o.Id)))))[..12];
            var row = new TableEntity(pk, TableKeys.Sequence('o', lastSeq ?? 0) + "-" + idHash) { ["Count"] = commit.Outbox.Count };
            var items = JsonSerializer.Serialize(commit.Outbox.Select(OutboxDto.From), StoreJson.Options);
            await _large.SetAsync(row, "Items", items, scope + "/o", cancellationToken).ConfigureAwait(false);
            actions.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, row));
            outboxRow = new OutboxRow(row.RowKey, LargeValues.BlobName(row, "Items"), commit.Outbox);
        }

        var (keptRows, removedBlobs, deliverLater) = await PlanRemovalsAsync(commit, pk, seen, actions, cancellationToken).ConfigureAwait(false);
        Response<IReadOnlyList<Response>> response;
        try
        {
            response = await _runs.SubmitTransactionAsync(actions, cancellationToken).ConfigureAwait(false);
        }
        catch (TableTransactionFailedException e) when (e.FailedTransactionActionIndex is null or 0 && e.Status is 404 or 409 or 412
            || e.FailedTransactionActionIndex > 0 && e.Status == 404)
        {
            // Index > 0 with 404: an outbox row this commit removes was removed by another process meanwhile; the
            // transaction changed nothing, and the caller reloads (which re-reads the outbox) and commits again.
            _seen.TryRemove(runId, out _);
            var ours = LargeValues.BlobName(snapshot, "Snapshot");
            if (ours is not null && ours != seen?.SnapshotBlob)
            {
                await _large.DeleteAsync(ours, cancellationToken).ConfigureAwait(false);
            }

            throw new ConcurrencyException(commit.ExpectedETag is null
                ? $"Run '{runId}' already exists: load it and apply the event to its current state."
                : $"Run '{runId}' changed since it was loaded (ETag {commit.ExpectedETag} is stale): load it again and re-apply the event.");
        }

        var etag = response.Value[0].Headers.ETag?.ToString()
            ?? throw new InvalidOperationException($"The table service returned no ETag for run '{runId}''s snapshot: the storage endpoint does not behave like Azure Table storage.");
        var newBlob = LargeValues.BlobName(snapshot, "Snapshot");
        var outbox = keptRows;
        if (outboxRow is not null)
        {
            outbox.Add(outboxRow);
        }

        foreach (var blob in removedBlobs)
        {
            await _large.DeleteAsync(blob, cancellationToken).ConfigureAwait(false);
        }

        _seen[runId] = new Seen(etag, newBlob, commit.Summary.Status, outbox, KnowsOutbox: seen is not null || commit.ExpectedETag is null);
        if (seen?.SnapshotBlob is { } oldBlob && oldBlob != newBlob)
        {
            // Superseded snapshots would otherwise pile up for long runs; a reader still holding the old row retries.
            await _large.DeleteAsync(oldBlob, cancellationToken).ConfigureAwait(false);
        }

        if (commit.ExpectedETag is null || seen is null || !string.Equals(seen.Status, commit.Summary.Status, StringComparison.Ordinal))
        {
            await WriteIndexAsync(commit.Summary, cancellationToken).ConfigureAwait(false);
        }

        if (deliverLater.Count > 0)
        {
            // Outbox rows this process has not read (or too many for one transaction): removing delivered items after
            // the commit is safe, a crash in between only re-sends commands whose receivers de-duplicate.
            await MarkDeliveredAsync(runId, deliverLater, cancellationToken).ConfigureAwait(false);
        }

        return etag;
    }

    /// <summary>
    /// Adds to <paramref name="actions"/> the removal of the outbox items in <see cref="RunCommit.Delivered"/> that this
    /// process knows the rows of: a row whose items are all delivered is deleted, a partly delivered row is rewritten
    /// with what is left. Returns the outbox rows left, the blobs of deleted rows, and
    /// the ids to remove after the commit (rows not known here, or the transaction is full).
    /// </summary>
    private async Task<(List<OutboxRow> Kept, List<string> RemovedBlobs, List<string> Later)> PlanRemovalsAsync(
        RunCommit commit, string pk, Seen? seen, List<TableTransactionAction> actions, CancellationToken cancellationToken)
    {
        var scope = BlobScope(commit.RunId) + "/o";
        var kept = seen?.Outbox.ToList() ?? [];
        if (commit.Delivered.Count == 0)
        {
            return (kept, [], []);
        }

        if (seen is not { KnowsOutbox: true })
        {
            return (kept, [], [.. commit.Delivered]);
        }

        var delivered = commit.Delivered.ToHashSet(StringComparer.Ordinal);
        var removed = new List<string>();
        var later = new List<string>();
        kept.Clear();
        foreach (var row in seen.Outbox)
        {
            var remaining = row.Items.Where(i => !delivered.Contains(i.Id)).ToList();
            if (remaining.Count == row.Items.Count)
            {
                kept.Add(row);
                continue;
            }

            if (actions.Count >= MaxTransactionActions)
            {
                later.AddRange(row.Items.Where(i => delivered.Contains(i.Id)).Select(i => i.Id));
                kept.Add(row);
                continue;
            }

            if (remaining.Count == 0)
            {
                actions.Add(new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(pk, row.RowKey), ETag.All));
                if (row.Blob is not null)
                {
                    removed.Add(row.Blob);
                }

                continue;
            }

            // Partly delivered: rewrite the row with what is left (a large rest goes to a new content-addressed blob,
            // invisible until this transaction references it). Replace drops the old blob reference; the old blob
            // goes after the commit.
            var entity = new TableEntity(pk, row.RowKey) { ["Count"] = remaining.Count };
            await _large.SetAsync(entity, "Items", JsonSerializer.Serialize(remaining.Select(OutboxDto.From), StoreJson.Options), scope, cancellationToken).ConfigureAwait(false);
            actions.Add(new TableTransactionAction(TableTransactionActionType.UpdateReplace, entity, ETag.All));
            var blob = LargeValues.BlobName(entity, "Items");
            if (row.Blob is not null && row.Blob != blob)
            {
                removed.Add(row.Blob);
            }

            kept.Add(row with { Items = remaining, Blob = blob });
        }

        return (kept, removed, later);
    }

    public async Task MarkDeliveredAsync(string runId, IReadOnlyList<string> outboxIds, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        ArgumentNullException.ThrowIfNull(outboxIds);
        if (outboxIds.Count == 0)
        {
            return;
        }

        await _ensure(cancellationToken).ConfigureAwait(false);
        var ids = outboxIds.ToHashSet(StringComparer.Ordinal);
        var pk = TableKeys.Encode(runId);
        var rows = _seen.TryGetValue(runId, out var seen) && seen.KnowsOutbox && ids.All(id => seen.Outbox.Any(r => r.Items.Any(i => i.Id == id)))
            ? seen.Outbox
            : await QueryOutboxAsync(pk, cancellationToken).ConfigureAwait(false);

        var remainingRows = new List<OutboxRow>();
        foreach (var row in rows)
        {
            var remaining = row.Items.Where(i => !ids.Contains(i.Id)).ToList();
            if (remaining.Count == row.Items.Count)
            {
                remainingRows.Add(row);
                continue;
            }

            if (remaining.Count == 0)
            {
                await DeleteRowAsync(_runs, pk, row.RowKey, cancellationToken).ConfigureAwait(false);
                if (row.Blob is not null)
                {
                    await _large.DeleteAsync(row.Blob, cancellationToken).ConfigureAwait(false);
                }

                continue;
            }

            // Partly delivered: rewrite the row with what is left (replace drops the old inline value or blob reference).
            var entity = new TableEntity(pk, row.RowKey) { ["Count"] = remaining.Count };
            var items = JsonSerializer.Serialize(remaining.Select(OutboxDto.From), StoreJson.Options);
            await _large.SetAsync(entity, "Items", items, BlobScope(runId) + "/o", cancellationToken).ConfigureAwait(false);

            try
            {
                await _runs.UpdateEntityAsync(entity, ETag.All, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
                remainingRows.Add(row with { Items = remaining, Blob = LargeValues.BlobName(entity, "Items") });
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                // Delivered and removed by another process meanwhile.
            }
        }

        if (seen is not null)
        {
            _seen.TryUpdate(runId, seen with { Outbox = remainingRows }, seen);
        }
    }

    public async Task<IReadOnlyList<JournalEntry>> ReadJournalAsync(string runId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        await _ensure(cancellationToken).ConfigureAwait(false);
        var pk = TableKeys.Encode(runId);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {pk} and RowKey ge {"j"} and RowKey lt {"k"}");
        var entries = new List<JournalEntry>();
        await foreach (var row in _runs.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            var json = await _large.GetAsync(row, "Entries", cancellationToken).ConfigureAwait(false);
            foreach (var dto in JsonSerializer.Deserialize<List<JournalDto>>(json, StoreJson.Options) ?? [])
            {
                entries.Add(new JournalEntry(dto.Seq, dto.Type, dto.Event, dto.At));
            }
        }

        return entries;
    }

    public async Task<IReadOnlyList<RunSummary>> ListRunsAsync(RunQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        await _ensure(cancellationToken).ConfigureAwait(false);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {IndexRunPartition}");
        if (query.PipelineName is { } pipeline)
        {
            filter += " and " + TableClient.CreateQueryFilter($"Pipeline eq {pipeline}");
        }

        if (query.Status is { } status)
        {
            // Rows of unfinished runs may be stale (crash between commit and index write): fetch them too and check.
            var unfinished = string.Join(" and ", TerminalStatuses.Select(t => TableClient.CreateQueryFilter($"StatusKey ne {t}")));
            filter += " and (" + TableClient.CreateQueryFilter($"StatusKey eq {status.ToLowerInvariant()}") + " or (" + unfinished + "))";
        }

        var result = new List<RunSummary>();
        await foreach (var row in _index.QueryAsync<TableEntity>(filter, maxPerPage: Math.Clamp(query.Limit * 2, 10, 1000), cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            var summary = ReadSummary(row);
            if (!TerminalStatuses.Contains(summary.Status, StringComparer.OrdinalIgnoreCase))
            {
                var fresh = await RepairIndexAsync(row, summary, cancellationToken).ConfigureAwait(false);
                if (fresh is null)
                {
                    continue;
                }

                summary = fresh;
            }

            if (Matches(query, summary))
            {
                result.Add(summary);
                if (result.Count >= query.Limit)
                {
                    break;
                }
            }
        }

        return result;
    }

    public async Task DeleteRunAsync(string runId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        await _ensure(cancellationToken).ConfigureAwait(false);
        var pk = TableKeys.Encode(runId);
        _seen.TryRemove(runId, out _);

        // Snapshot row first: from then on the run is gone for every reader; the rest is cleanup a retry can finish.
        var snapshot = await _runs.GetEntityIfExistsAsync<TableEntity>(pk, SnapshotRow, cancellationToken: cancellationToken).ConfigureAwait(false);
        await DeleteRowAsync(_runs, pk, SnapshotRow, cancellationToken).ConfigureAwait(false);

        var keys = new List<string>();
        await foreach (var row in _runs.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {pk}"), select: ["RowKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            keys.Add(row.RowKey);
        }

        foreach (var chunk in keys.Chunk(100))
        {
            try
            {
                await _runs.SubmitTransactionAsync(chunk.Select(k => new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(pk, k), ETag.All)), cancellationToken).ConfigureAwait(false);
            }
            catch (TableTransactionFailedException e) when (e.Status == 404)
            {
                // Someone else deleted part of it meanwhile: finish row by row.
                foreach (var key in chunk)
                {
                    await DeleteRowAsync(_runs, pk, key, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        await _large.DeletePrefixAsync(BlobScope(runId) + "/", cancellationToken).ConfigureAwait(false);

        if (snapshot.HasValue && snapshot.Value is { } s && Time(s, "CreatedAt") is { } created)
        {
            await DeleteRowAsync(_index, IndexRunPartition, TableKeys.NewestFirst(created, runId), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var filter = TableClient.CreateQueryFilter($"PartitionKey eq {IndexRunPartition} and RunId eq {runId}");
            await foreach (var row in _index.QueryAsync<TableEntity>(filter, select: ["RowKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                await DeleteRowAsync(_index, IndexRunPartition, row.RowKey, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async Task SavePipelineAsync(PipelineVersion pipeline, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        if (_savedPipelines.ContainsKey(pipeline.ContentHash))
        {
            // Versions are immutable and never deleted: one write per process and version is enough.
            return;
        }

        await _ensure(cancellationToken).ConfigureAwait(false);
        var entity = new TableEntity(IndexPipelinePartition, TableKeys.Encode(pipeline.ContentHash))
        {
            ["Name"] = pipeline.Name,
            ["Hash"] = pipeline.ContentHash,
            ["RegisteredAt"] = Time(pipeline.RegisteredAt),
        };
        if (pipeline.Source is { } source)
        {
            entity["Source"] = source;
        }

        await _large.SetAsync(entity, "Spec", pipeline.SpecText, "pipelines", cancellationToken).ConfigureAwait(false);
        try
        {
            await _index.AddEntityAsync(entity, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            // Same content hash: already stored, nothing to do.
        }

        _savedPipelines.TryAdd(pipeline.ContentHash, 0);
    }

    public async Task<PipelineVersion?> GetPipelineAsync(string contentHash, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(contentHash);
        await _ensure(cancellationToken).ConfigureAwait(false);
        var row = await _index.GetEntityIfExistsAsync<TableEntity>(IndexPipelinePartition, TableKeys.Encode(contentHash), cancellationToken: cancellationToken).ConfigureAwait(false);
        return row.HasValue && row.Value is { } e ? await ReadPipelineAsync(e, cancellationToken).ConfigureAwait(false) : null;
    }

    public async Task<IReadOnlyList<PipelineVersion>> ListPipelinesAsync(string? name, CancellationToken cancellationToken)
    {
        await _ensure(cancellationToken).ConfigureAwait(false);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {IndexPipelinePartition}");
        if (name is not null)
        {
            filter += " and " + TableClient.CreateQueryFilter($"Name eq {name}");
        }

        var result = new List<PipelineVersion>();
        await foreach (var row in _index.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            result.Add(await ReadPipelineAsync(row, cancellationToken).ConfigureAwait(false));
        }

        return result.OrderByDescending(p => p.RegisteredAt).ThenBy(p => p.Name, StringComparer.Ordinal).ToList();
    }

    public async Task<KeyValueEntry?> GetValueAsync(string scope, string key, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(scope);
        ArgumentException.ThrowIfNullOrEmpty(key);
        await _ensure(cancellationToken).ConfigureAwait(false);
        var row = await _values.GetEntityIfExistsAsync<TableEntity>(TableKeys.Encode(scope), TableKeys.Encode(key), cancellationToken: cancellationToken).ConfigureAwait(false);
        return row.HasValue && row.Value is { } e ? new KeyValueEntry(e.GetString("Value") ?? "", e.ETag.ToString()) : null;
    }

    public async Task<string?> TryPutValueAsync(string scope, string key, string value, string? expectedETag, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(scope);
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        if (Encoding.UTF8.GetByteCount(value) > _inlineLimit)
        {
            throw new ArgumentException(
                $"Value '{scope}/{key}' is {Encoding.UTF8.GetByteCount(value)} bytes; keyed values hold at most {_inlineLimit}: store large data as an artifact and keep its path here.",
                nameof(value));
        }

        if (expectedETag is not null && !IsTableETag(expectedETag))
        {
            return null;
        }

        await _ensure(cancellationToken).ConfigureAwait(false);
        var entity = new TableEntity(TableKeys.Encode(scope), TableKeys.Encode(key)) { ["Value"] = value, ["Scope"] = scope, ["Key"] = key };
        try
        {
            var response = expectedETag is null
                ? await _values.AddEntityAsync(entity, cancellationToken).ConfigureAwait(false)
                : await _values.UpdateEntityAsync(entity, new ETag(expectedETag), TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
            return response.Headers.ETag?.ToString();
        }
        catch (RequestFailedException e) when (e.Status is 404 or 409 or 412)
        {
            return null;
        }
    }

    /// <summary>
    /// Whether a string can be an ETag the table service issued (W/"datetime'...'"). Any other value cannot match a
    /// stored row, and the service rejects it as malformed (400) rather than as a failed condition (412).
    /// </summary>
    private static bool IsTableETag(string etag) => etag.StartsWith("W/\"", StringComparison.Ordinal) && etag.EndsWith('"');

    /// <summary>Blob prefix of a run's large values (DeleteRunAsync removes it).</summary>
    private static string BlobScope(string runId) => "runs/" + TableKeys.Encode(runId);

    private static void WriteSummary(TableEntity e, RunSummary s)
    {
        // Times as round-trip text: exact (offset and ticks kept), and only compared in memory.
        e["RunId"] = s.RunId;
        e["Pipeline"] = s.PipelineName;
        e["PipelineHash"] = s.PipelineHash;
        e["Status"] = s.Status;
        e["StatusKey"] = s.Status.ToLowerInvariant();
        e["CreatedAt"] = Time(s.CreatedAt);
        e["UpdatedAt"] = Time(s.UpdatedAt);
        if (s.FinishedAt is { } finished)
        {
            e["FinishedAt"] = Time(finished);
        }

        if (s.TriggerKind is { } trigger)
        {
            e["TriggerKind"] = trigger;
        }
    }

    private static RunSummary ReadSummary(TableEntity e) =>
        new(e.GetString("RunId") ?? "", e.GetString("Pipeline") ?? "", e.GetString("PipelineHash") ?? "", e.GetString("Status") ?? "",
            Time(e, "CreatedAt") ?? default, Time(e, "UpdatedAt") ?? default)
        {
            FinishedAt = Time(e, "FinishedAt"),
            TriggerKind = e.GetString("TriggerKind"),
        };

    private static string Time(DateTimeOffset at) => at.ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset? Time(TableEntity e, string property) =>
        e.GetString(property) is { } text ? DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind) : null;

    private static bool Matches(RunQuery q, RunSummary s) =>
        (q.PipelineName is null || s.PipelineName == q.PipelineName)
        && (q.Status is null || string.Equals(s.Status, q.Status, StringComparison.OrdinalIgnoreCase))
        && (q.OlderThan is null || (s.FinishedAt ?? s.UpdatedAt) < q.OlderThan);

    private async Task WriteIndexAsync(RunSummary summary, CancellationToken cancellationToken)
    {
        var row = new TableEntity(IndexRunPartition, TableKeys.NewestFirst(summary.CreatedAt, summary.RunId));
        WriteSummary(row, summary);
        await _index.UpsertEntityAsync(row, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Checks an unfinished index row against the run's snapshot row; fixes it; null when the run is gone.</summary>
    private async Task<RunSummary?> RepairIndexAsync(TableEntity indexRow, RunSummary indexed, CancellationToken cancellationToken)
    {
        var pk = TableKeys.Encode(indexed.RunId);
        var select = new[] { "RunId", "Pipeline", "PipelineHash", "Status", "StatusKey", "CreatedAt", "UpdatedAt", "FinishedAt", "TriggerKind" };
        var snapshot = await _runs.GetEntityIfExistsAsync<TableEntity>(pk, SnapshotRow, select, cancellationToken).ConfigureAwait(false);
        if (!snapshot.HasValue || snapshot.Value is null)
        {
            return null;
        }

        var actual = ReadSummary(snapshot.Value);
        if (actual != indexed)
        {
            var row = new TableEntity(indexRow.PartitionKey, indexRow.RowKey);
            WriteSummary(row, actual);
            await _index.UpsertEntityAsync(row, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
        }

        return actual;
    }

    private async Task<PipelineVersion> ReadPipelineAsync(TableEntity e, CancellationToken cancellationToken) =>
        new(e.GetString("Name") ?? "", e.GetString("Hash") ?? "", await _large.GetAsync(e, "Spec", cancellationToken).ConfigureAwait(false),
            Time(e, "RegisteredAt") ?? default)
        {
            Source = e.GetString("Source"),
        };

    private async Task<List<OutboxRow>> QueryOutboxAsync(string pk, CancellationToken cancellationToken)
    {
        var rows = new List<OutboxRow>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {pk} and RowKey ge {"o"} and RowKey lt {"p"}");
        await foreach (var row in _runs.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            rows.Add(await ReadOutboxRowAsync(row, cancellationToken).ConfigureAwait(false));
        }

        return rows;
    }

    private async Task<OutboxRow> ReadOutboxRowAsync(TableEntity row, CancellationToken cancellationToken)
    {
        var json = await _large.GetAsync(row, "Items", cancellationToken).ConfigureAwait(false);
        var items = (JsonSerializer.Deserialize<List<OutboxDto>>(json, StoreJson.Options) ?? []).Select(d => d.ToItem()).ToList();
        return new OutboxRow(row.RowKey, LargeValues.BlobName(row, "Items"), items);
    }

    public async Task DeleteValuesAsync(string scope, IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(scope);
        ArgumentNullException.ThrowIfNull(keys);
        await _ensure(cancellationToken).ConfigureAwait(false);
        var pk = TableKeys.Encode(scope);
        foreach (var chunk in keys.Distinct(StringComparer.Ordinal).Chunk(MaxTransactionActions))
        {
            try
            {
                // One scope is one partition: up to 100 deletes per request.
                await _values.SubmitTransactionAsync(
                    chunk.Select(k => new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(pk, TableKeys.Encode(k)), ETag.All)),
                    cancellationToken).ConfigureAwait(false);
            }
            catch (TableTransactionFailedException e) when (e.Status == 404)
            {
                // Some were gone already (a transaction fails as a whole): delete the rest one by one.
                foreach (var key in chunk)
                {
                    await DeleteRowAsync(_values, pk, TableKeys.Encode(key), cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }

    private static async Task DeleteRowAsync(TableClient table, string pk, string rk, CancellationToken cancellationToken)
    {
        try
        {
            await table.DeleteEntityAsync(pk, rk, ETag.All, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            // Already gone: deletes are idempotent.
        }
    }

    /// <summary>What this process last saw of a run; <paramref name="KnowsOutbox"/>: Outbox lists every outbox row (after a load or a create).</summary>
    private sealed record Seen(string ETag, string? SnapshotBlob, string? Status, IReadOnlyList<OutboxRow> Outbox, bool KnowsOutbox);

    private sealed record OutboxRow(string RowKey, string? Blob, IReadOnlyList<OutboxItem> Items);

    private sealed record JournalDto(long Seq, string Type, string Event, DateTimeOffset At);

    private sealed record OutboxDto(string Id, OutboxTarget Target, string Body, DateTimeOffset? VisibleAt)
    {
        public static OutboxDto From(OutboxItem i) => new(i.Id, i.Target, i.Body, i.VisibleAt);

        public OutboxItem ToItem() => new(Id, Target, Body, VisibleAt);
    }
}
