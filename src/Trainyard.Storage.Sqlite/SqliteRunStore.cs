using Microsoft.Data.Sqlite;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Sqlite;

/// <summary>Run store on SQLite: a commit is one transaction guarded by the run row's ETag.</summary>
internal sealed class SqliteRunStore(SqliteDatabase db) : IRunStore
{
    public Task<StoredRun?> LoadAsync(string runId, CancellationToken cancellationToken) => Task.FromResult(db.Run(d =>
    {
        string snapshot, etag;
        using (var r = d.Command("SELECT snapshot, etag FROM runs WHERE run_id = $id", ("$id", runId)).ExecuteReader())
        {
            if (!r.Read())
            {
                return null;
            }

            snapshot = r.GetString(0);
            etag = r.GetString(1);
        }

        var outbox = new List<OutboxItem>();
        using (var r = d.Command("SELECT id, target, body, visible_at FROM outbox WHERE run_id = $id ORDER BY ord", ("$id", runId)).ExecuteReader())
        {
            while (r.Read())
            {
                outbox.Add(new OutboxItem(r.GetString(0), (OutboxTarget)r.GetInt32(1), r.GetString(2), r.IsDBNull(3) ? null : FromTicks(r.GetInt64(3))));
            }
        }

        return (StoredRun?)new StoredRun(runId, snapshot, etag, outbox);
    }));

    public Task<string> CommitAsync(RunCommit commit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(commit);
        var etag = NewETag();
        return Task.FromResult(db.InTransaction(d =>
        {
            var s = commit.Summary;
            (string, object?)[] row =
            [
                ("$id", commit.RunId), ("$snapshot", commit.SnapshotJson), ("$etag", etag), ("$expected", commit.ExpectedETag),
                ("$pname", s.PipelineName), ("$phash", s.PipelineHash), ("$status", s.Status.ToLowerInvariant()),
                ("$created", s.CreatedAt.UtcTicks), ("$updated", s.UpdatedAt.UtcTicks), ("$finished", s.FinishedAt?.UtcTicks), ("$trigger", s.TriggerKind),
            ];
            if (commit.ExpectedETag is null)
            {
                if (d.Scalar("SELECT 1 FROM runs WHERE run_id = $id", ("$id", commit.RunId)) is not null)
                {
                    throw new ConcurrencyException($"Run '{commit.RunId}' already exists; load it instead of creating it.");
                }

                d.Exec("""
                    INSERT INTO runs (run_id, snapshot, etag, pipeline_name, pipeline_hash, status, created_at, updated_at, finished_at, trigger_kind)
                    VALUES ($id, $snapshot, $etag, $pname, $phash, $status, $created, $updated, $finished, $trigger)
                    """, row);
            }
            else if (d.Exec("""
                    UPDATE runs SET snapshot = $snapshot, etag = $etag, pipeline_name = $pname, pipeline_hash = $phash, status = $status,
                        created_at = $created, updated_at = $updated, finished_at = $finished, trigger_kind = $trigger
                    WHERE run_id = $id AND etag = $expected
                    """, row) == 0)
            {
                throw new ConcurrencyException($"Run '{commit.RunId}' changed or does not exist (expected ETag {commit.ExpectedETag}); reload and apply again.");
            }

            foreach (var e in commit.NewEntries)
            {
                d.Exec("INSERT INTO journal (run_id, seq, type, event, at) VALUES ($id, $seq, $type, $event, $at)",
                    ("$id", commit.RunId), ("$seq", e.Sequence), ("$type", e.Type), ("$event", e.EventJson), ("$at", e.At.UtcTicks));
            }

            foreach (var id in commit.Delivered)
            {
                d.Exec("DELETE FROM outbox WHERE run_id = $run AND id = $id", ("$run", commit.RunId), ("$id", id));
            }

            foreach (var o in commit.Outbox)
            {
                d.Exec("INSERT OR REPLACE INTO outbox (run_id, id, target, body, visible_at) VALUES ($id, $oid, $target, $body, $visible)",
                    ("$id", commit.RunId), ("$oid", o.Id), ("$target", (int)o.Target), ("$body", o.Body), ("$visible", o.VisibleAt?.UtcTicks));
            }

            return etag;
        }));
    }

    public Task MarkDeliveredAsync(string runId, IReadOnlyList<string> outboxIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(outboxIds);
        if (outboxIds.Count == 0)
        {
            return Task.CompletedTask;
        }

        db.InTransaction(d =>
        {
            foreach (var id in outboxIds)
            {
                d.Exec("DELETE FROM outbox WHERE run_id = $run AND id = $id", ("$run", runId), ("$id", id));
            }

            return 0;
        });
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<JournalEntry>> ReadJournalAsync(string runId, CancellationToken cancellationToken) => Task.FromResult(db.Run(d =>
    {
        var list = new List<JournalEntry>();
        using var r = d.Command("SELECT seq, type, event, at FROM journal WHERE run_id = $id ORDER BY seq", ("$id", runId)).ExecuteReader();
        while (r.Read())
        {
            list.Add(new JournalEntry(r.GetInt64(0), r.GetString(1), r.GetString(2), FromTicks(r.GetInt64(3))));
        }

        return (IReadOnlyList<JournalEntry>)list;
    }));

    public Task<IReadOnlyList<RunSummary>> ListRunsAsync(RunQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        return Task.FromResult(db.Run(d =>
        {
            var list = new List<RunSummary>();
            using var r = d.Command("""
                SELECT run_id, pipeline_name, pipeline_hash, status, created_at, updated_at, finished_at, trigger_kind FROM runs
                WHERE ($name IS NULL OR pipeline_name = $name)
                  AND ($status IS NULL OR status = $status)
                  AND ($older IS NULL OR COALESCE(finished_at, updated_at) < $older)
                ORDER BY created_at DESC, run_id DESC LIMIT $limit
                """,
                ("$name", query.PipelineName), ("$status", query.Status?.ToLowerInvariant()), ("$older", query.OlderThan?.UtcTicks), ("$limit", query.Limit)).ExecuteReader();
            while (r.Read())
            {
                list.Add(new RunSummary(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), FromTicks(r.GetInt64(4)), FromTicks(r.GetInt64(5)))
                {
                    FinishedAt = r.IsDBNull(6) ? null : FromTicks(r.GetInt64(6)),
                    TriggerKind = r.IsDBNull(7) ? null : r.GetString(7),
                });
            }

            return (IReadOnlyList<RunSummary>)list;
        }));
    }

    public Task DeleteRunAsync(string runId, CancellationToken cancellationToken)
    {
        db.InTransaction(d =>
        {
            d.Exec("DELETE FROM journal WHERE run_id = $id", ("$id", runId));
            d.Exec("DELETE FROM outbox WHERE run_id = $id", ("$id", runId));
            return d.Exec("DELETE FROM runs WHERE run_id = $id", ("$id", runId));
        });
        return Task.CompletedTask;
    }

    public Task SavePipelineAsync(PipelineVersion pipeline, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        db.Run(d => d.Exec("INSERT OR IGNORE INTO pipelines (hash, name, spec, registered_at, source) VALUES ($hash, $name, $spec, $at, $source)",
            ("$hash", pipeline.ContentHash), ("$name", pipeline.Name), ("$spec", pipeline.SpecText), ("$at", pipeline.RegisteredAt.UtcTicks), ("$source", pipeline.Source)));
        return Task.CompletedTask;
    }

    public Task<PipelineVersion?> GetPipelineAsync(string contentHash, CancellationToken cancellationToken) => Task.FromResult(db.Run(d =>
    {
        using var r = d.Command("SELECT name, hash, spec, registered_at, source FROM pipelines WHERE hash = $hash", ("$hash", contentHash)).ExecuteReader();
        return r.Read() ? ReadPipeline(r) : null;
    }));

    public Task<IReadOnlyList<PipelineVersion>> ListPipelinesAsync(string? name, CancellationToken cancellationToken) => Task.FromResult(db.Run(d =>
    {
        var list = new List<PipelineVersion>();
        using var r = d.Command("SELECT name, hash, spec, registered_at, source FROM pipelines WHERE ($name IS NULL OR name = $name) ORDER BY registered_at DESC", ("$name", name)).ExecuteReader();
        while (r.Read())
        {
            list.Add(ReadPipeline(r));
        }

        return (IReadOnlyList<PipelineVersion>)list;
    }));

    public Task<KeyValueEntry?> GetValueAsync(string scope, string key, CancellationToken cancellationToken) => Task.FromResult(db.Run(d =>
    {
        using var r = d.Command("SELECT value, etag FROM kv WHERE scope = $scope AND key = $key", ("$scope", scope), ("$key", key)).ExecuteReader();
        return r.Read() ? new KeyValueEntry(r.GetString(0), r.GetString(1)) : null;
    }));

    public Task<string?> TryPutValueAsync(string scope, string key, string value, string? expectedETag, CancellationToken cancellationToken)
    {
        var etag = NewETag();
        return Task.FromResult(db.Run(d =>
        {
            var changed = expectedETag is null
                ? d.Exec("INSERT OR IGNORE INTO kv (scope, key, value, etag) VALUES ($scope, $key, $value, $etag)",
                    ("$scope", scope), ("$key", key), ("$value", value), ("$etag", etag))
                : d.Exec("UPDATE kv SET value = $value, etag = $etag WHERE scope = $scope AND key = $key AND etag = $expected",
                    ("$scope", scope), ("$key", key), ("$value", value), ("$etag", etag), ("$expected", expectedETag));
            return changed == 1 ? etag : null;
        }));
    }

    public Task DeleteValuesAsync(string scope, IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Count == 0)
        {
            return Task.CompletedTask;
        }

        db.InTransaction(d =>
        {
            foreach (var key in keys)
            {
                d.Exec("DELETE FROM kv WHERE scope = $scope AND key = $key", ("$scope", scope), ("$key", key));
            }

            return 0;
        });
        return Task.CompletedTask;
    }

    private static PipelineVersion ReadPipeline(SqliteDataReader r)
        => new(r.GetString(0), r.GetString(1), r.GetString(2), FromTicks(r.GetInt64(3))) { Source = r.IsDBNull(4) ? null : r.GetString(4) };

    internal static DateTimeOffset FromTicks(long ticks) => new(ticks, TimeSpan.Zero);

    internal static string NewETag() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
}
