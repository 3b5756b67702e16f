using Trainyard.Core.Engine;
using Trainyard.Runtime;
using Trainyard.Runtime.Contracts;
using Xunit;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.Testing;

/// <summary>
/// The contract every backend honours, written once against <see cref="IBackend"/>. Derive it per backend and
/// implement <see cref="CreateBackendAsync"/> (a fresh, empty backend per test). Durations are virtual so backends
/// with coarse timers (Azure queues: whole seconds) can stretch them.
/// </summary>
#pragma warning disable CA1515 // xunit discovers public test classes only.
public abstract class BackendConformanceTests : IAsyncLifetime
#pragma warning restore CA1515
{
    private IBackend? _backend;

    /// <summary>The backend under test (fresh per test).</summary>
    protected IBackend Backend => _backend ?? throw new InvalidOperationException("InitializeAsync has not run.");

    /// <summary>A short lease, long enough for one call round trip.</summary>
    protected virtual TimeSpan ShortLease => TimeSpan.FromMilliseconds(300);

    /// <summary>A lease that outlives the test's waits.</summary>
    protected virtual TimeSpan LongLease => TimeSpan.FromSeconds(30);

    /// <summary>Bound on every wait in this suite.</summary>
    protected virtual TimeSpan WaitLimit => TimeSpan.FromSeconds(20);

    /// <summary>Creates a fresh, empty backend.</summary>
    protected abstract Task<IBackend> CreateBackendAsync();

    /// <summary>Opens the same storage again, as a restarted process would (in-memory: the same instance).</summary>
    protected virtual Task<IBackend> ReopenAsync(IBackend backend) => Task.FromResult(backend);

    /// <inheritdoc />
    public async Task InitializeAsync() => _backend = await CreateBackendAsync();

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_backend is not null)
        {
            await _backend.DisposeAsync();
        }
    }

    [Fact]
    public async Task Commit_WithStaleETag_FailsAndChangesNothing()
    {
        var store = Backend.Store;
        var etag1 = await store.CommitAsync(Commit("run-a", null, "s1", 1, ["o1"]), default);
        var etag2 = await store.CommitAsync(Commit("run-a", etag1, "s2", 2, []), default);
        Assert.NotEqual(etag1, etag2);

        await Assert.ThrowsAsync<ConcurrencyException>(() => store.CommitAsync(Commit("run-a", etag1, "stale", 3, ["o-stale"]), default));

        var loaded = await store.LoadAsync("run-a", default);
        Assert.NotNull(loaded);
        Assert.Equal("s2", loaded.SnapshotJson);
        Assert.Equal(etag2, loaded.ETag);
        Assert.Equal(["o1"], loaded.PendingOutbox.Select(o => o.Id));
        var journal = await store.ReadJournalAsync("run-a", default);
        Assert.Equal([1L, 2L], journal.Select(j => j.Sequence));
    }

    [Fact]
    public async Task Commit_CreatingTwice_Fails()
    {
        await Backend.Store.CommitAsync(Commit("run-b", null, "first", 1, []), default);
        await Assert.ThrowsAsync<ConcurrencyException>(() => Backend.Store.CommitAsync(Commit("run-b", null, "second", 1, []), default));
        Assert.Equal("first", (await Backend.Store.LoadAsync("run-b", default))!.SnapshotJson);
    }

    [Fact]
    public async Task Commit_ToMissingRunWithETag_Fails()
        => await Assert.ThrowsAsync<ConcurrencyException>(() => Backend.Store.CommitAsync(Commit("nope", "some-etag", "x", 1, []), default));

    [Fact]
    public async Task Load_UnknownRun_ReturnsNull()
    {
        Assert.Null(await Backend.Store.LoadAsync("unknown", default));
        Assert.Empty(await Backend.Store.ReadJournalAsync("unknown", default));
    }

    [Fact]
    public async Task Outbox_SurvivesCrashBetweenCommitAndDelivery()
    {
        var at = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var commit = Commit("run-c", null, "s1", 1, []) with
        {
            Outbox = [new OutboxItem("w1", OutboxTarget.Work, "{\"a\":1}", null), new OutboxItem("t1", OutboxTarget.Control, "{\"b\":2}", at)],
        };
        await Backend.Store.CommitAsync(commit, default);

        // The process dies here: nothing was sent. A new process loads the run and finds the outbox pending.
        var reopened = await ReopenAsync(Backend);
        var loaded = await reopened.Store.LoadAsync("run-c", default);
        Assert.NotNull(loaded);
        Assert.Equal(["w1", "t1"], loaded.PendingOutbox.Select(o => o.Id));
        Assert.Equal(OutboxTarget.Work, loaded.PendingOutbox[0].Target);
        Assert.Equal("{\"a\":1}", loaded.PendingOutbox[0].Body);
        Assert.Null(loaded.PendingOutbox[0].VisibleAt);
        Assert.Equal(OutboxTarget.Control, loaded.PendingOutbox[1].Target);
        Assert.Equal(at, loaded.PendingOutbox[1].VisibleAt);
        if (!ReferenceEquals(reopened, Backend))
        {
            await reopened.DisposeAsync();
        }
    }

    [Fact]
    public async Task MarkDelivered_IsIdempotent()
    {
        await Backend.Store.CommitAsync(Commit("run-d", null, "s1", 1, ["o1", "o2", "o3"]), default);
        await Backend.Store.MarkDeliveredAsync("run-d", ["o1", "o2"], default);
        await Backend.Store.MarkDeliveredAsync("run-d", ["o1", "o2", "unknown"], default);
        await Backend.Store.MarkDeliveredAsync("no-such-run", ["o3"], default);
        var loaded = await Backend.Store.LoadAsync("run-d", default);
        Assert.Equal(["o3"], loaded!.PendingOutbox.Select(o => o.Id));
    }

    [Fact]
    public async Task Commit_WithDelivered_RemovesThoseOutboxItemsInTheSameCommit()
    {
        var store = Backend.Store;
        var etag1 = await store.CommitAsync(Commit("run-dl", null, "s1", 1, ["a1", "a2", "a3"]), default);
        var etag2 = await store.CommitAsync(Commit("run-dl", etag1, "s2", 2, ["b1"]) with { Delivered = ["a1", "a3", "unknown"] }, default);
        Assert.Equal(["a2", "b1"], (await store.LoadAsync("run-dl", default))!.PendingOutbox.Select(o => o.Id).Order());

        // A fresh connection (a process that never saw the outbox) removes items the same way.
        var reopened = await ReopenAsync(Backend);
        var etag3 = await reopened.Store.CommitAsync(Commit("run-dl", etag2, "s3", 3, []) with { Delivered = ["a2", "b1"] }, default);
        var loaded = await reopened.Store.LoadAsync("run-dl", default);
        Assert.Equal(etag3, loaded!.ETag);
        Assert.Empty(loaded.PendingOutbox);
        if (!ReferenceEquals(reopened, Backend))
        {
            await reopened.DisposeAsync();
        }
    }

    [Fact]
    public async Task Commit_WithDeliveredAndStaleETag_RemovesNothing()
    {
        var store = Backend.Store;
        var etag1 = await store.CommitAsync(Commit("run-ds", null, "s1", 1, ["a1", "a2"]), default);
        await store.CommitAsync(Commit("run-ds", etag1, "s2", 2, []), default);
        await Assert.ThrowsAsync<ConcurrencyException>(() => store.CommitAsync(Commit("run-ds", etag1, "stale", 3, ["x"]) with { Delivered = ["a1", "a2"] }, default));
        var loaded = await store.LoadAsync("run-ds", default);
        Assert.Equal("s2", loaded!.SnapshotJson);
        Assert.Equal(["a1", "a2"], loaded.PendingOutbox.Select(o => o.Id));
    }

    [Fact]
    public async Task Commit_DeliveringItemsAnotherProcessAlreadyRemoved_StillCommits()
    {
        var store = Backend.Store;
        var etag1 = await store.CommitAsync(Commit("run-dr", null, "s1", 1, ["a1"]), default);
        await store.LoadAsync("run-dr", default);
        var other = await ReopenAsync(Backend);
        await other.Store.MarkDeliveredAsync("run-dr", ["a1"], default);

        // The first connection still believes a1 is pending: its commit must not fail for good (a conflict that a
        // reload resolves is allowed) and must leave the outbox empty.
        string etag2;
        try
        {
            etag2 = await store.CommitAsync(Commit("run-dr", etag1, "s2", 2, []) with { Delivered = ["a1"] }, default);
        }
        catch (ConcurrencyException)
        {
            var reloaded = await store.LoadAsync("run-dr", default);
            Assert.Equal(etag1, reloaded!.ETag);
            etag2 = await store.CommitAsync(Commit("run-dr", reloaded.ETag, "s2", 2, []) with { Delivered = ["a1"] }, default);
        }

        var loaded = await store.LoadAsync("run-dr", default);
        Assert.Equal(etag2, loaded!.ETag);
        Assert.Equal("s2", loaded.SnapshotJson);
        Assert.Empty(loaded.PendingOutbox);
        if (!ReferenceEquals(other, Backend))
        {
            await other.DisposeAsync();
        }
    }

    [Fact]
    public async Task Journal_KeepsOrderAndContentAcrossCommits()
    {
        var store = Backend.Store;
        var e1 = await store.CommitAsync(Commit("run-j", null, "s", 1, []), default);
        var e2 = await store.CommitAsync(Commit("run-j", e1, "s", 2, []) with
        {
            NewEntries = [Entry(2, "{\"n\":2}"), Entry(3, "{\"n\":3}")],
        }, default);
        await store.CommitAsync(Commit("run-j", e2, "s", 4, []), default);
        var journal = await store.ReadJournalAsync("run-j", default);
        Assert.Equal([1L, 2L, 3L, 4L], journal.Select(j => j.Sequence));
        Assert.Equal("{\"n\":3}", journal[2].EventJson);
        Assert.Equal("TestEvent", journal[2].Type);
        Assert.Equal(Entry(3, "").At, journal[2].At);
    }

    [Fact]
    public async Task DeleteRun_RemovesSnapshotJournalAndOutbox()
    {
        await Backend.Store.CommitAsync(Commit("run-del", null, "s", 1, ["o"]), default);
        await Backend.Store.DeleteRunAsync("run-del", default);
        Assert.Null(await Backend.Store.LoadAsync("run-del", default));
        Assert.Empty(await Backend.Store.ReadJournalAsync("run-del", default));
        await Backend.Store.DeleteRunAsync("run-del", default);
        await Backend.Store.CommitAsync(Commit("run-del", null, "again", 1, []), default);
        Assert.Single(await Backend.Store.ReadJournalAsync("run-del", default));
    }

    [Fact]
    public async Task ListRuns_FiltersByPipelineStatusAgeAndLimit()
    {
        var t0 = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
        await Backend.Store.CommitAsync(Commit("r1", null, "s", 1, [], Summary("r1", "p", "succeeded", t0, t0.AddMinutes(1))), default);
        await Backend.Store.CommitAsync(Commit("r2", null, "s", 1, [], Summary("r2", "p", "failed", t0.AddHours(1), t0.AddHours(2))), default);
        await Backend.Store.CommitAsync(Commit("r3", null, "s", 1, [], Summary("r3", "q", "running", t0.AddHours(2), null)), default);

        Assert.Equal(["r3", "r2", "r1"], (await Backend.Store.ListRunsAsync(new RunQuery(), default)).Select(r => r.RunId));
        Assert.Equal(["r2", "r1"], (await Backend.Store.ListRunsAsync(new RunQuery { PipelineName = "p" }, default)).Select(r => r.RunId));
        Assert.Equal(["r2"], (await Backend.Store.ListRunsAsync(new RunQuery { Status = "failed" }, default)).Select(r => r.RunId));
        Assert.Equal(["r1"], (await Backend.Store.ListRunsAsync(new RunQuery { OlderThan = t0.AddMinutes(30) }, default)).Select(r => r.RunId));
        Assert.Equal(["r3"], (await Backend.Store.ListRunsAsync(new RunQuery { Limit = 1 }, default)).Select(r => r.RunId));
        var r1 = (await Backend.Store.ListRunsAsync(new RunQuery { PipelineName = "p", Status = "succeeded" }, default)).Single();
        Assert.Equal(t0, r1.CreatedAt);
        Assert.Equal(t0.AddMinutes(1), r1.FinishedAt);
        Assert.Equal("manual", r1.TriggerKind);
        Assert.Equal("hash-p", r1.PipelineHash);
    }

    [Fact]
    public async Task Queue_ReceiveLeasesAndCompleteRemoves()
    {
        var q = Backend.Work;
        await q.SendAsync([new OutgoingMessage("m1", "one"), new OutgoingMessage("m2", "two"), new OutgoingMessage("m3", "three")], default);
        Assert.Equal(3, await q.CountAsync(default));
        var got = await q.ReceiveAsync(2, LongLease, default);
        Assert.Equal(2, got.Count);
        Assert.All(got, m => Assert.Equal(1, m.DequeueCount));
        var rest = await q.ReceiveAsync(10, LongLease, default);
        var all = got.Concat(rest).ToList();
        Assert.Equal(["m1", "m2", "m3"], all.Select(m => m.Id).Order());
        Assert.Equal(["one", "three", "two"], all.Select(m => m.Body).Order());
        Assert.Empty(await q.ReceiveAsync(10, LongLease, default));
        foreach (var m in all)
        {
            await q.CompleteAsync(m, default);
        }

        Assert.Equal(0, await q.CountAsync(default));
    }

    [Fact]
    public async Task Queue_QueuesAreSeparate()
    {
        await Backend.Control.SendAsync([new OutgoingMessage("c", "control")], default);
        Assert.Empty(await Backend.Work.ReceiveAsync(10, LongLease, default));
        Assert.Equal("control", (await Backend.Control.ReceiveAsync(10, LongLease, default)).Single().Body);
    }

    [Fact]
    public async Task Queue_LeaseExpires_MessageIsRedeliveredWithHigherDequeueCount()
    {
        var q = Backend.Work;
        await q.SendAsync([new OutgoingMessage("m", "body")], default);
        var first = Assert.Single(await q.ReceiveAsync(1, ShortLease, default));
        Assert.Empty(await q.ReceiveAsync(1, ShortLease, default));
        var second = await ReceiveOneAsync(q, LongLease);
        Assert.Equal("m", second.Id);
        Assert.Equal(2, second.DequeueCount);
        Assert.NotEqual(first.Receipt, second.Receipt);
    }

    [Fact]
    public async Task Queue_CompleteAfterLeaseLoss_ThrowsLeaseLost()
    {
        var q = Backend.Work;
        await q.SendAsync([new OutgoingMessage("m", "body")], default);
        var first = Assert.Single(await q.ReceiveAsync(1, ShortLease, default));
        var second = await ReceiveOneAsync(q, LongLease);
        await Assert.ThrowsAsync<LeaseLostException>(() => q.CompleteAsync(first, default));
        await Assert.ThrowsAsync<LeaseLostException>(() => q.RenewAsync(first, LongLease, default));
        await Assert.ThrowsAsync<LeaseLostException>(() => q.AbandonAsync(first, TimeSpan.Zero, default));
        await q.CompleteAsync(second, default);
        await Assert.ThrowsAsync<LeaseLostException>(() => q.CompleteAsync(second, default));
        Assert.Equal(0, await q.CountAsync(default));
    }

    [Fact]
    public async Task Queue_RenewalKeepsMessageHidden()
    {
        var q = Backend.Work;
        await q.SendAsync([new OutgoingMessage("m", "body")], default);
        var held = Assert.Single(await q.ReceiveAsync(1, ShortLease, default));
        var until = DateTime.UtcNow + (ShortLease * 4);
        while (DateTime.UtcNow < until)
        {
            held = await q.RenewAsync(held, ShortLease, default);
            Assert.Empty(await q.ReceiveAsync(1, ShortLease, default));
            await Task.Delay(ShortLease / 3);
        }

        await q.CompleteAsync(held, default);
        Assert.Equal(0, await q.CountAsync(default));
    }

    [Fact]
    public async Task Queue_DelayedMessage_IsNotVisibleEarly()
    {
        var q = Backend.Control;
        var delay = ShortLease * 3;
        var sent = DateTime.UtcNow;
        await q.SendAsync([new OutgoingMessage("later", "x", delay), new OutgoingMessage("now", "y")], default);
        Assert.Equal("now", Assert.Single(await q.ReceiveAsync(10, LongLease, default)).Id);
        var later = await ReceiveOneAsync(q, LongLease);
        Assert.Equal("later", later.Id);
        Assert.True(DateTime.UtcNow - sent >= delay - TimeSpan.FromMilliseconds(20), $"delivered after {(DateTime.UtcNow - sent).TotalMilliseconds} ms, asked {delay.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task Queue_AbandonWithDelay_HidesThenRedelivers()
    {
        var q = Backend.Work;
        await q.SendAsync([new OutgoingMessage("m", "body")], default);
        var first = Assert.Single(await q.ReceiveAsync(1, LongLease, default));
        await q.AbandonAsync(first, ShortLease * 2, default);
        Assert.Empty(await q.ReceiveAsync(1, LongLease, default));
        var again = await ReceiveOneAsync(q, LongLease);
        Assert.Equal(2, again.DequeueCount);
        await q.AbandonAsync(again, TimeSpan.Zero, default);
        Assert.Equal(3, (await ReceiveOneAsync(q, LongLease)).DequeueCount);
    }

    [Fact]
    public async Task Engine_DuplicateDeliveryOfEveryMessage_ChangesNothing()
    {
        var engine = new RunEngine(Backend, new RunEngineOptions { WorkRoot = Path.Combine(Path.GetTempPath(), "trainyard-conf", Guid.NewGuid().ToString("N")) });
        var runId = await engine.StartRunAsync(TestPipelines.FanOutFanIn(3), default);
        using var cts = new CancellationTokenSource(WaitLimit);
        var executed = 0;
        var seenControl = new List<LeasedMessage>();
        while (true)
        {
            var state = await engine.GetRunAsync(runId, cts.Token);
            if (state!.Status != RunStatus.Running)
            {
                Assert.Equal(RunStatus.Succeeded, state.Status);
                Assert.All(state.Tasks.Values, t => Assert.Equal(1, t.Attempt));
                break;
            }

            var work = await Backend.Work.ReceiveAsync(16, LongLease, cts.Token);
            foreach (var m in work)
            {
                Assert.True(RunEngine.TryParseWork(m.Body, out var wm, out _));
                var r1 = await engine.ExecuteWorkAsync(wm!, cts.Token);
                var r2 = await engine.ExecuteWorkAsync(wm!, cts.Token);
                Assert.Equal(WorkResultKind.Succeeded, r1.Kind);
                Assert.Equal(WorkResultKind.Skipped, r2.Kind);
                executed++;
                await Backend.Work.CompleteAsync(m, cts.Token);
            }

            var control = await Backend.Control.ReceiveAsync(16, LongLease, cts.Token);
            var parsed = control.Select(m => RunEngine.TryParseControl(m.Body, out var cm, out _) ? cm! : throw new InvalidOperationException(m.Body)).ToList();
            if (parsed.Count > 0)
            {
                // Every control message twice in one batch, and once more in a later batch.
                await engine.HandleControlAsync([.. parsed, .. parsed], cts.Token);
                await engine.HandleControlAsync(parsed, cts.Token);
                var versionBefore = (await engine.GetRunAsync(runId, cts.Token))!.Version;
                await engine.HandleControlAsync(parsed, cts.Token);
                Assert.Equal(versionBefore, (await engine.GetRunAsync(runId, cts.Token))!.Version);
            }

            foreach (var m in control)
            {
                await Backend.Control.CompleteAsync(m, cts.Token);
            }

            if (work.Count == 0 && control.Count == 0)
            {
                await Task.Delay(10, cts.Token);
            }
        }

        Assert.Equal(5, executed);
        var journal = await engine.ReadJournalAsync(runId, default);
        Assert.Equal(5, journal.OfType<TaskSucceeded>().Count());
        Assert.Equal(5, journal.OfType<TaskDispatched>().Count());
        Assert.Single(journal.OfType<RunCompleted>());
    }

    /// <summary>Receives one message, waiting (bounded) for it to become visible.</summary>
    protected async Task<LeasedMessage> ReceiveOneAsync(IMessageQueue queue, TimeSpan lease)
    {
        using var cts = new CancellationTokenSource(WaitLimit);
        while (true)
        {
            var got = await queue.ReceiveAsync(1, lease, cts.Token);
            if (got.Count == 1)
            {
                return got[0];
            }

            await Task.Delay(20, cts.Token);
        }
    }

    private static RunCommit Commit(string runId, string? etag, string snapshot, long seq, IReadOnlyList<string> outbox, RunSummary? summary = null) => new()
    {
        RunId = runId,
        ExpectedETag = etag,
        SnapshotJson = snapshot,
        NewEntries = [Entry(seq, "{\"n\":" + seq + "}")],
        Outbox = [.. outbox.Select(o => new OutboxItem(o, OutboxTarget.Work, "body-" + o, null))],
        Summary = summary ?? Summary(runId, "p", "running", new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), null),
    };

    private static JournalEntry Entry(long seq, string json)
        => new(seq, "TestEvent", json, new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(seq));

    private static RunSummary Summary(string runId, string pipeline, string status, DateTimeOffset created, DateTimeOffset? finished)
        => new(runId, pipeline, "hash-" + pipeline, status, created, finished ?? created) { FinishedAt = finished, TriggerKind = "manual" };
}
