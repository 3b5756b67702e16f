using System.Text;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Trainyard.Runtime.Contracts;
using Trainyard.Testing;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Azure.Tests;

[NeedsAzurite]
[Collection(AzuriteCollection.Name)]
public sealed class RunStoreTests(AzuriteFixture azurite)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);

    private static CancellationToken Timeout => new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token;

    internal static RunSummary Summary(string runId, string status = "running", string pipeline = "p", DateTimeOffset? created = null) =>
        new(runId, pipeline, "h1", status, created ?? T0, (created ?? T0).AddMinutes(1));

    internal static RunCommit Commit(string runId, string? etag, string snapshot, long firstSeq, int entries, int outbox, string status = "running", DateTimeOffset? created = null) => new()
    {
        RunId = runId,
        ExpectedETag = etag,
        SnapshotJson = snapshot,
        NewEntries = Enumerable.Range(0, entries).Select(i => new JournalEntry(firstSeq + i, "TaskDispatched", $"{{\"n\":{firstSeq + i}}}", T0.AddSeconds(firstSeq + i))).ToList(),
        Outbox = Enumerable.Range(0, outbox).Select(i => new OutboxItem($"{runId}-cmd-{firstSeq}-{i}", i % 2 == 0 ? OutboxTarget.Work : OutboxTarget.Control, $"{{\"task\":{i}}}", i == 0 ? T0 : null)).ToList(),
        Summary = Summary(runId, status, created: created),
    };

    [AzuriteFact]
    public async Task Commit_ThenLoad_ReturnsSnapshotETagAndOutbox()
    {
        await using var hub = TestHub.Create(azurite);
        var store = hub.Backend.Store;
        var etag = await store.CommitAsync(Commit("r1", null, "{\"v\":1}", 1, 2, 2), Timeout);

        var run = await store.LoadAsync("r1", Timeout);

        Assert.NotNull(run);
        Assert.Equal("{\"v\":1}", run.SnapshotJson);
        Assert.Equal(etag, run.ETag);
        Assert.Equal(["r1-cmd-1-0", "r1-cmd-1-1"], run.PendingOutbox.Select(o => o.Id));
        Assert.Equal(OutboxTarget.Work, run.PendingOutbox[0].Target);
        Assert.Equal(T0, run.PendingOutbox[0].VisibleAt);
        Assert.Null(run.PendingOutbox[1].VisibleAt);
        Assert.Null(await store.LoadAsync("missing", Timeout));
    }

    [AzuriteFact]
    public async Task Commit_WithStaleETag_ThrowsAndChangesNothing()
    {
        await using var hub = TestHub.Create(azurite);
        var store = hub.Backend.Store;
        var first = await store.CommitAsync(Commit("r1", null, "{\"v\":1}", 1, 1, 0), Timeout);
        var second = await store.CommitAsync(Commit("r1", first, "{\"v\":2}", 2, 1, 1), Timeout);

        // A second process still holding the first ETag loses, whatever it tries to write.
        var other = hub.Another().Store;
        await Assert.ThrowsAsync<ConcurrencyException>(() => other.CommitAsync(Commit("r1", first, "{\"v\":99}", 2, 150, 150), Timeout));
        await Assert.ThrowsAsync<ConcurrencyException>(() => other.CommitAsync(Commit("r1", null, "{\"v\":98}", 1, 1, 1), Timeout));

        var run = await other.LoadAsync("r1", Timeout);
        Assert.Equal("{\"v\":2}", run!.SnapshotJson);
        Assert.Equal(second, run.ETag);
        Assert.Equal(["r1-cmd-2-0"], run.PendingOutbox.Select(o => o.Id));
        Assert.Equal([1L, 2L], (await other.ReadJournalAsync("r1", Timeout)).Select(e => e.Sequence));
    }

    [AzuriteFact]
    public async Task Commit_OfMoreThan100EntriesAndItemsAndLargeSnapshot_IsOneTransactionWithBlobsReferenced()
    {
        await using var hub = TestHub.Create(azurite);
        var store = hub.Backend.Store;
        var bigSnapshot = "{\"pad\":\"" + new string('x', 200_000) + "\"}";
        var etag = await store.CommitAsync(Commit("big", null, bigSnapshot, 1, 250, 180), Timeout);
        hub.Counter.Reset();
        etag = await store.CommitAsync(Commit("big", etag, bigSnapshot.Replace('x', 'y'), 251, 130, 120), Timeout);

        // Blobs for the three large values, one table transaction, one delete of the superseded snapshot blob.
        Assert.Equal(1, hub.Counter.ByOperation().GetValueOrDefault("table POST $batch"));
        Assert.Equal(0, hub.Counter.ByOperation().Where(p => p.Key.StartsWith("table", StringComparison.Ordinal) && p.Key != "table POST $batch").Sum(p => p.Value));

        var other = hub.Another().Store;
        var run = await other.LoadAsync("big", Timeout);
        Assert.Equal(bigSnapshot.Replace('x', 'y'), run!.SnapshotJson);
        Assert.Equal(etag, run.ETag);
        Assert.Equal(300, run.PendingOutbox.Count);
        Assert.Equal(Enumerable.Range(1, 380).Select(i => (long)i), (await other.ReadJournalAsync("big", Timeout)).Select(e => e.Sequence));

        // No table property holds more than 32 KiB; the partition has one row per commit and kind.
        var table = new TableClient(azurite.ConnectionString, hub.Backend.Names.RunsTable);
        var rows = new List<TableEntity>();
        await foreach (var row in table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {"big"}"), cancellationToken: Timeout))
        {
            rows.Add(row);
        }

        Assert.Equal(5, rows.Count);
        Assert.All(rows.SelectMany(r => r.Keys.Select(k => r[k]).OfType<string>()), v => Assert.True(Encoding.UTF8.GetByteCount(v) <= 32 * 1024));
        Assert.NotNull(rows.Single(r => r.RowKey == "s").GetString("SnapshotBlob"));
    }

    [AzuriteFact]
    public async Task Commit_Create_WritesAreInvisibleWhenTheTransactionFails()
    {
        await using var hub = TestHub.Create(azurite);
        var store = hub.Backend.Store;
        var etag = await store.CommitAsync(Commit("r", null, "{}", 1, 1, 1), Timeout);
        await Assert.ThrowsAsync<ConcurrencyException>(() => hub.Another().Store.CommitAsync(Commit("r", "W/\"datetime'2020-01-01T00%3A00%3A00.0000000Z'\"", "{\"lost\":\"" + new string('z', 70_000) + "\"}", 2, 200, 200), Timeout));

        var run = await store.LoadAsync("r", Timeout);
        Assert.Equal(etag, run!.ETag);
        Assert.Single(run.PendingOutbox);
        Assert.Single(await store.ReadJournalAsync("r", Timeout));

        // The loser's snapshot blob was removed again; only blobs referenced by committed rows remain.
        var blobs = new BlobContainerClient(azurite.ConnectionString, hub.Backend.Names.LargeValuesContainer);
        var names = new List<string>();
        await foreach (var b in blobs.GetBlobsAsync(cancellationToken: Timeout))
        {
            names.Add(b.Name);
        }

        Assert.DoesNotContain(names, n => n.Contains("/s/", StringComparison.Ordinal));
    }

    [AzuriteFact]
    public async Task Outbox_SurvivesACrashBetweenCommitAndDelivery_AndMarkDeliveredIsIdempotent()
    {
        await using var hub = TestHub.Create(azurite);
        var etag = await hub.Backend.Store.CommitAsync(Commit("r", null, "{}", 1, 1, 3), Timeout);
        await hub.Backend.Store.CommitAsync(Commit("r", etag, "{}", 2, 1, 2), Timeout);

        // "Crash": a fresh process sees all five items pending.
        var after = hub.Another().Store;
        var run = await after.LoadAsync("r", Timeout);
        Assert.Equal(5, run!.PendingOutbox.Count);

        await after.MarkDeliveredAsync("r", ["r-cmd-1-1", "r-cmd-2-0", "unknown"], Timeout);
        Assert.Equal(["r-cmd-1-0", "r-cmd-1-2", "r-cmd-2-1"], (await hub.Another().Store.LoadAsync("r", Timeout))!.PendingOutbox.Select(o => o.Id));

        await after.MarkDeliveredAsync("r", ["r-cmd-1-0", "r-cmd-1-2", "r-cmd-2-1", "r-cmd-1-1"], Timeout);
        await hub.Backend.Store.MarkDeliveredAsync("r", ["r-cmd-1-0"], Timeout);
        Assert.Empty((await hub.Another().Store.LoadAsync("r", Timeout))!.PendingOutbox);
    }

    [AzuriteFact]
    public async Task Commit_ConcurrentWriters_NeverLoseOrDuplicateAnEntry()
    {
        await using var hub = TestHub.Create(azurite);
        await hub.Backend.Store.CommitAsync(Commit("c", null, "{\"n\":0}", 1, 1, 0), Timeout);
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var store = hub.Another().Store;
            for (var i = 0; i < 5; i++)
            {
                while (true)
                {
                    var run = (await store.LoadAsync("c", Timeout))!;
                    var n = int.Parse(run.SnapshotJson[5..^1], System.Globalization.CultureInfo.InvariantCulture);
                    try
                    {
                        await store.CommitAsync(Commit("c", run.ETag, $"{{\"n\":{n + 1}}}", n + 2, 1, 0), Timeout);
                        break;
                    }
                    catch (ConcurrencyException)
                    {
                        // Lost the race: load again.
                    }
                }
            }
        })).ToList();
        await Task.WhenAll(writers);

        Assert.Equal("{\"n\":20}", (await hub.Backend.Store.LoadAsync("c", Timeout))!.SnapshotJson);
        Assert.Equal(Enumerable.Range(1, 21).Select(i => (long)i), (await hub.Backend.Store.ReadJournalAsync("c", Timeout)).Select(e => e.Sequence));
    }

    [AzuriteFact]
    public async Task ListRuns_FiltersNewestFirst_AndRepairsAStaleIndexRow()
    {
        await using var hub = TestHub.Create(azurite);
        var store = hub.Backend.Store;
        var a = await store.CommitAsync(Commit("a", null, "{}", 1, 1, 0, created: T0), Timeout);
        await store.CommitAsync(Commit("b", null, "{}", 1, 1, 0, created: T0.AddHours(1)), Timeout);
        await store.CommitAsync(Commit("c", null, "{}", 1, 1, 0, created: T0.AddHours(2)) with { Summary = Summary("c", "running", "other", T0.AddHours(2)) }, Timeout);
        var done = Commit("a", a, "{}", 2, 1, 0, "succeeded", T0);
        await store.CommitAsync(done with { Summary = done.Summary with { FinishedAt = T0.AddMinutes(5) } }, Timeout);

        Assert.Equal(["c", "b", "a"], (await store.ListRunsAsync(new RunQuery(), Timeout)).Select(r => r.RunId));
        Assert.Equal(["b", "a"], (await store.ListRunsAsync(new RunQuery { PipelineName = "p" }, Timeout)).Select(r => r.RunId));
        Assert.Equal(["c"], (await store.ListRunsAsync(new RunQuery { Limit = 1 }, Timeout)).Select(r => r.RunId));
        var succeeded = Assert.Single(await store.ListRunsAsync(new RunQuery { Status = "succeeded" }, Timeout));
        Assert.Equal(T0.AddMinutes(5), succeeded.FinishedAt);
        Assert.Equal(["a"], (await store.ListRunsAsync(new RunQuery { OlderThan = T0.AddMinutes(30) }, Timeout)).Select(r => r.RunId));

        // A crash between a commit and its index write leaves the index row behind; listing checks and fixes it.
        var index = new TableClient(azurite.ConnectionString, hub.Backend.Names.IndexTable);
        var row = (await index.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"RunId eq {"a"}"), cancellationToken: Timeout).ToListAsync(Timeout)).Single();
        row["Status"] = "running";
        row["StatusKey"] = "running";
        await index.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace, Timeout);
        Assert.Equal(["a"], (await store.ListRunsAsync(new RunQuery { Status = "succeeded" }, Timeout)).Select(r => r.RunId));
        Assert.Equal("succeeded", (await index.GetEntityAsync<TableEntity>(row.PartitionKey, row.RowKey, cancellationToken: Timeout)).Value.GetString("Status"));
    }

    [AzuriteFact]
    public async Task DeleteRun_RemovesRowsBlobsAndListing()
    {
        await using var hub = TestHub.Create(azurite);
        var store = hub.Backend.Store;
        var big = "{\"pad\":\"" + new string('x', 50_000) + "\"}";
        var etag = await store.CommitAsync(Commit("gone/1", null, big, 1, 120, 120), Timeout);
        await store.CommitAsync(Commit("gone/1", etag, big, 121, 1, 1), Timeout);
        await store.CommitAsync(Commit("kept", null, big, 1, 1, 1), Timeout);

        await store.DeleteRunAsync("gone/1", Timeout);
        await store.DeleteRunAsync("gone/1", Timeout);

        Assert.Null(await store.LoadAsync("gone/1", Timeout));
        Assert.Empty(await store.ReadJournalAsync("gone/1", Timeout));
        Assert.Equal(["kept"], (await store.ListRunsAsync(new RunQuery(), Timeout)).Select(r => r.RunId));
        var blobs = new BlobContainerClient(azurite.ConnectionString, hub.Backend.Names.LargeValuesContainer);
        var names = await blobs.GetBlobsAsync(cancellationToken: Timeout).Select(b => b.Name).ToListAsync(Timeout);
        Assert.NotEmpty(names);
        Assert.All(names, n => Assert.StartsWith("runs/kept/", n));
        Assert.Equal(big, (await store.LoadAsync("kept", Timeout))!.SnapshotJson);
    }

    [AzuriteFact]
    public async Task Pipelines_SaveIsIdempotent_AndLargeSpecsRoundTrip()
    {
        await using var hub = TestHub.Create(azurite);
        var store = hub.Backend.Store;
        var spec = "name: big\n# " + new string('s', 40_000);
        await store.SavePipelineAsync(new PipelineVersion("big", "hash1", spec, T0) { Source = "big.yaml" }, Timeout);
        await store.SavePipelineAsync(new PipelineVersion("big", "hash1", spec, T0), Timeout);
        await store.SavePipelineAsync(new PipelineVersion("big", "hash2", "name: big", T0.AddDays(1)), Timeout);
        await store.SavePipelineAsync(new PipelineVersion("small", "hash3", "name: small", T0), Timeout);

        var got = await store.GetPipelineAsync("hash1", Timeout);
        Assert.Equal(spec, got!.SpecText);
        Assert.Equal("big.yaml", got.Source);
        Assert.Null(await store.GetPipelineAsync("nope", Timeout));
        Assert.Equal(["hash2", "hash1"], (await store.ListPipelinesAsync("big", Timeout)).Select(p => p.ContentHash));
        Assert.Equal(3, (await store.ListPipelinesAsync(null, Timeout)).Count);
    }

    [AzuriteFact]
    public async Task Values_AreConditionalOnETag()
    {
        await using var hub = TestHub.Create(azurite);
        var store = hub.Backend.Store;
        var e1 = await store.TryPutValueAsync("watermark", "cron/nightly", "2026-11-23", null, Timeout);
        Assert.NotNull(e1);
        Assert.Null(await store.TryPutValueAsync("watermark", "cron/nightly", "other", null, Timeout));
        var e2 = await store.TryPutValueAsync("watermark", "cron/nightly", "2026-11-24", e1, Timeout);
        Assert.NotNull(e2);
        Assert.Null(await store.TryPutValueAsync("watermark", "cron/nightly", "stale", e1, Timeout));
        Assert.Equal(new KeyValueEntry("2026-11-24", e2!), await store.GetValueAsync("watermark", "cron/nightly", Timeout));
        Assert.Null(await store.GetValueAsync("watermark", "absent", Timeout));
        Assert.Null(await store.TryPutValueAsync("watermark", "absent", "x", e2, Timeout));
        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.TryPutValueAsync("s", "k", new string('v', 40_000), null, Timeout));
        Assert.Contains("artifact", error.Message, StringComparison.Ordinal);
    }

    [AzuriteFact]
    public async Task TaskHubs_SharingAnAccount_AreIsolated()
    {
        await using var a = TestHub.Create(azurite);
        await using var b = TestHub.Create(azurite);
        await a.Backend.Store.CommitAsync(Commit("same", null, "{\"hub\":\"a\"}", 1, 1, 1), Timeout);
        await a.Backend.Work.SendAsync([new OutgoingMessage("m", "{}")], Timeout);

        Assert.Null(await b.Backend.Store.LoadAsync("same", Timeout));
        Assert.Empty(await b.Backend.Work.ReceiveAsync(32, TimeSpan.FromSeconds(30), Timeout));
        Assert.StartsWith(a.Options.TaskHub, a.Backend.Work.Name, StringComparison.Ordinal);
    }
}
