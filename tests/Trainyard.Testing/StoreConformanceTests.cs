using System.Security.Cryptography;
using System.Text;
using Trainyard.Execution.Contracts;
using Xunit;

namespace Trainyard.Testing;

/// <summary>
/// The contracts of <see cref="IKeyValueStore"/>, <see cref="IPipelineStore"/> and <see cref="IArtifactStore"/>, written once and run against every
/// implementation (in-memory and SQLite backends, the Azure blob stores). Derive it per store and implement
/// <see cref="CreateStoresAsync"/> (fresh, empty stores per test) and, for stores that hold resources, <see cref="DeleteStoresAsync"/>.
/// </summary>
#pragma warning disable CA1515 // xunit discovers public test classes only.
public abstract class StoreConformanceTests : IAsyncLifetime
#pragma warning restore CA1515
{
    private ConformanceStores? _stores;
    private CancellationTokenSource? _timeout;

    /// <summary>The key-value store under test.</summary>
    protected IKeyValueStore Values => _stores?.Values ?? throw new InvalidOperationException("InitializeAsync has not run.");

    /// <summary>The pipeline store under test.</summary>
    protected IPipelineStore Pipelines => _stores?.Pipelines ?? throw new InvalidOperationException("InitializeAsync has not run.");

    /// <summary>The artifact store under test.</summary>
    protected IArtifactStore Artifacts => _stores?.Artifacts ?? throw new InvalidOperationException("InitializeAsync has not run.");

    /// <summary>Bound on each test: every store call gets this token.</summary>
    protected virtual TimeSpan WaitLimit => TimeSpan.FromSeconds(60);

    /// <summary>Cancelled when the test has run for <see cref="WaitLimit"/>.</summary>
    protected CancellationToken Ct => _timeout?.Token ?? throw new InvalidOperationException("InitializeAsync has not run.");

    /// <summary>Creates fresh, empty stores.</summary>
    protected abstract Task<ConformanceStores> CreateStoresAsync();

    /// <summary>Deletes what <see cref="CreateStoresAsync"/> created.</summary>
    protected virtual Task DeleteStoresAsync() => Task.CompletedTask;

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        _timeout = new CancellationTokenSource(WaitLimit);
        _stores = await CreateStoresAsync();
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        try
        {
            await DeleteStoresAsync();
        }
        finally
        {
            _timeout?.Dispose();
        }
    }

    [Fact]
    public async Task KeyValue_CreateWhenPresent_ConflictsAndKeepsTheFirstValue()
    {
        Assert.Null(await Values.GetValueAsync("s", "k", Ct));
        var etag = await Values.TryPutValueAsync("s", "k", "first", null, Ct);

        Assert.NotNull(etag);
        Assert.Null(await Values.TryPutValueAsync("s", "k", "second", null, Ct));
        Assert.Equal(new KeyValueEntry("first", etag!), await Values.GetValueAsync("s", "k", Ct));
    }

    [Fact]
    public async Task KeyValue_UpdateWithCurrentETag_ChangesTheETag_AndTheOldETagThenConflicts()
    {
        var e1 = await Values.TryPutValueAsync("s", "k", "v1", null, Ct);
        var e2 = await Values.TryPutValueAsync("s", "k", "v2", e1, Ct);

        Assert.NotNull(e2);
        Assert.NotEqual(e1, e2);
        Assert.Null(await Values.TryPutValueAsync("s", "k", "stale", e1, Ct));
        Assert.Equal(new KeyValueEntry("v2", e2!), await Values.GetValueAsync("s", "k", Ct));
        var e3 = await Values.TryPutValueAsync("s", "k", "v2", e2, Ct);
        Assert.NotNull(e3);
        Assert.NotEqual(e2, e3);
    }

    [Fact]
    public async Task KeyValue_UpdateOfAMissingKey_OrWithAForeignETag_Conflicts()
    {
        Assert.Null(await Values.TryPutValueAsync("s", "missing", "v", "any-etag", Ct));
        Assert.Null(await Values.TryPutValueAsync("s", "missing", "v", "\"0x8DD00000000000\"", Ct));
        Assert.Null(await Values.GetValueAsync("s", "missing", Ct));

        var etag = await Values.TryPutValueAsync("s", "k", "v", null, Ct);
        Assert.Null(await Values.TryPutValueAsync("s", "k", "other", "any-etag", Ct));
        Assert.Null(await Values.TryPutValueAsync("s", "k", "other", "\"0x8DD00000000000\"", Ct));
        Assert.Equal(new KeyValueEntry("v", etag!), await Values.GetValueAsync("s", "k", Ct));
    }

    [Fact]
    public async Task KeyValue_ConcurrentCreates_ExactlyOneWins()
    {
        var attempts = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Values.TryPutValueAsync("claims", "d1", $"owner-{i}", null, Ct)));

        var winners = attempts.Select((etag, i) => (etag, i)).Where(a => a.etag is not null).ToList();
        var winner = Assert.Single(winners);
        Assert.Equal(new KeyValueEntry($"owner-{winner.i}", winner.etag!), await Values.GetValueAsync("claims", "d1", Ct));
    }

    [Fact]
    public async Task KeyValue_ScopesAreSeparate()
    {
        var a = await Values.TryPutValueAsync("a", "k", "in a", null, Ct);
        Assert.NotNull(await Values.TryPutValueAsync("b", "k", "in b", null, Ct));

        Assert.Equal("in a", (await Values.GetValueAsync("a", "k", Ct))?.Value);
        Assert.Equal("in b", (await Values.GetValueAsync("b", "k", Ct))?.Value);
        Assert.Null(await Values.GetValueAsync("c", "k", Ct));
        await Values.DeleteValuesAsync("b", ["k"], Ct);
        Assert.Equal(new KeyValueEntry("in a", a!), await Values.GetValueAsync("a", "k", Ct));
    }

    [Fact]
    public async Task KeyValue_DeleteValues_RemovesThoseKeysOnly_IgnoresUnknownOnes_AndIsIdempotent()
    {
        var keys = Enumerable.Range(0, 30).Select(i => $"d{i:D3}").ToList();
        foreach (var k in keys)
        {
            Assert.NotNull(await Values.TryPutValueAsync("dispatch", k, "done|w|1", null, Ct));
        }

        Assert.NotNull(await Values.TryPutValueAsync("other", "d000", "keep", null, Ct));
        await Values.DeleteValuesAsync("dispatch", [.. keys.Take(20), "unknown", "d000"], Ct);
        await Values.DeleteValuesAsync("dispatch", ["d000", "d001"], Ct);
        await Values.DeleteValuesAsync("dispatch", [], Ct);
        await Values.DeleteValuesAsync("never-used", ["x"], Ct);

        foreach (var k in keys.Take(20))
        {
            Assert.Null(await Values.GetValueAsync("dispatch", k, Ct));
        }

        Assert.Equal("done|w|1", (await Values.GetValueAsync("dispatch", "d025", Ct))?.Value);
        Assert.Equal("keep", (await Values.GetValueAsync("other", "d000", Ct))?.Value);
    }

    [Fact]
    public async Task KeyValue_AfterDelete_TheOldETagConflicts_AndACreateStartsAfresh()
    {
        var old = await Values.TryPutValueAsync("s", "k", "v1", null, Ct);
        await Values.DeleteValuesAsync("s", ["k"], Ct);

        Assert.Null(await Values.TryPutValueAsync("s", "k", "v2", old, Ct));
        var fresh = await Values.TryPutValueAsync("s", "k", "v3", null, Ct);
        Assert.NotNull(fresh);
        Assert.Equal("v3", (await Values.GetValueAsync("s", "k", Ct))?.Value);
    }

    [Fact]
    public async Task KeyValue_OddScopesAndKeys_RoundTripWithoutColliding()
    {
        var longKey = new string('k', 1500);
        (string Scope, string Key)[] names =
        [
            ("s", "a/b"), ("s", "a%2Fb"), ("s", "a~2fb"), ("s", "a_2Fb"), ("s", "."), ("s", ".."), ("s", "../x"), ("s", ""), ("s", " "),
            ("s", "k?x#y&z=1"), ("s", "back\\slash"), ("s", "ünïcødé 😀"), ("s", "~"), ("s", "~sha256~00"), ("s", "tab\tnew\nline"),
            ("s", "Case"), ("s", "case"), ("s", longKey), ("s", longKey[..^1] + "j"), ("s", "trailing."), ("s", "/leading"),
            ("x/y", "z"), ("x", "y/z"), ("", "empty-scope"), ("s s", "k"),
        ];

        for (var i = 0; i < names.Length; i++)
        {
            Assert.True(await Values.TryPutValueAsync(names[i].Scope, names[i].Key, $"value {i}", null, Ct) is not null, $"create of ('{names[i].Scope}', '{names[i].Key}') conflicted with another name");
        }

        for (var i = 0; i < names.Length; i++)
        {
            Assert.Equal($"value {i}", (await Values.GetValueAsync(names[i].Scope, names[i].Key, Ct))?.Value);
        }

        await Values.DeleteValuesAsync("s", [.. names.Where(n => n.Scope == "s").Select(n => n.Key)], Ct);
        foreach (var (scope, key) in names.Where(n => n.Scope == "s"))
        {
            Assert.Null(await Values.GetValueAsync(scope, key, Ct));
        }

        Assert.Equal("value 21", (await Values.GetValueAsync("x/y", "z", Ct))?.Value);
    }

    [Fact]
    public async Task KeyValue_Values_RoundTripExactly()
    {
        string[] values = ["", " ", "line 1\nline 2\r\n", "ünïcødé 😀 \u0001", "{\"json\":[1,2,3]}", new string('v', 100_000)];
        for (var i = 0; i < values.Length; i++)
        {
            var etag = await Values.TryPutValueAsync("v", $"k{i}", values[i], null, Ct);
            Assert.Equal(new KeyValueEntry(values[i], etag!), await Values.GetValueAsync("v", $"k{i}", Ct));
        }
    }

    [Fact]
    public async Task Pipelines_SaveIsIdempotent_TheFirstSaveStands()
    {
        var t0 = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(1_234_567);
        await Pipelines.SavePipelineAsync(new PipelineVersion("p", "h1", "name: p\n", t0) { Source = "p.yaml" }, Ct);
        await Pipelines.SavePipelineAsync(new PipelineVersion("p", "h1", "name: p\n", t0.AddDays(9)) { Source = "other.yaml" }, Ct);

        var h1 = await Pipelines.GetPipelineAsync("h1", Ct);
        Assert.NotNull(h1);
        Assert.Equal(("p", "h1", "name: p\n", t0, "p.yaml"), (h1.Name, h1.ContentHash, h1.SpecText, h1.RegisteredAt, h1.Source));
        Assert.Single(await Pipelines.ListPipelinesAsync("p", Ct));
    }

    [Fact]
    public async Task Pipelines_GetByHash_RoundTripsEveryField_AndUnknownIsNull()
    {
        var at = new DateTimeOffset(2026, 5, 6, 7, 8, 9, TimeSpan.FromHours(2)).AddTicks(42);
        var text = "name: ünïcødé\nsteps:\n  - id: a\n    run: echo \"hi\"\n";
        await Pipelines.SavePipelineAsync(new PipelineVersion("uni", "abc123", text, at), Ct);

        var got = await Pipelines.GetPipelineAsync("abc123", Ct);
        Assert.NotNull(got);
        Assert.Equal(("uni", "abc123", text, at.UtcTicks), (got.Name, got.ContentHash, got.SpecText, got.RegisteredAt.UtcTicks));
        Assert.Null(got.Source);
        Assert.Null(await Pipelines.GetPipelineAsync("abc12", Ct));
        Assert.Null(await Pipelines.GetPipelineAsync("unknown/../hash", Ct));
    }

    [Fact]
    public async Task Pipelines_List_ByNameOrAll_NewestFirst()
    {
        var t0 = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
        await Pipelines.SavePipelineAsync(new PipelineVersion("p", "h1", "name: p\n", t0), Ct);
        await Pipelines.SavePipelineAsync(new PipelineVersion("p", "h2", "name: p\n#2\n", t0.AddHours(1)), Ct);
        await Pipelines.SavePipelineAsync(new PipelineVersion("q", "h3", "name: q\n", t0.AddHours(2)), Ct);
        await Pipelines.SavePipelineAsync(new PipelineVersion("p2", "h4", "name: p2\n", t0.AddHours(3)), Ct);
        await Pipelines.SavePipelineAsync(new PipelineVersion("p", "h0", "name: p\n#0\n", t0.AddMinutes(-5)), Ct);

        Assert.Equal(["h2", "h1", "h0"], (await Pipelines.ListPipelinesAsync("p", Ct)).Select(v => v.ContentHash));
        Assert.Equal(["h4", "h3", "h2", "h1", "h0"], (await Pipelines.ListPipelinesAsync(null, Ct)).Select(v => v.ContentHash));
        Assert.Equal("name: p\n#2\n", (await Pipelines.ListPipelinesAsync("p", Ct))[0].SpecText);
        Assert.Empty(await Pipelines.ListPipelinesAsync("none", Ct));
    }

    [Fact]
    public async Task Artifacts_RoundTripWithSha256()
    {
        var data = Encoding.UTF8.GetBytes("hello, trainyard\n");
        var info = await Artifacts.PutAsync("runs/r1/a/d1/out.txt", new MemoryStream(data), Ct);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), info.Sha256);
        Assert.Equal(data.Length, info.Size);
        Assert.Equal("runs/r1/a/d1/out.txt", info.Path);

        await using (var s = await Artifacts.OpenReadAsync("runs/r1/a/d1/out.txt", Ct))
        {
            Assert.NotNull(s);
            using var ms = new MemoryStream();
            await s.CopyToAsync(ms, Ct);
            Assert.Equal(data, ms.ToArray());
        }

        var again = await Artifacts.GetInfoAsync("runs/r1/a/d1/out.txt", Ct);
        Assert.Equal(info.Sha256, again!.Sha256);
        Assert.Equal(info.ETag, again.ETag);
        Assert.Null(await Artifacts.GetInfoAsync("runs/r1/a/d1/missing.txt", Ct));
        Assert.Null(await Artifacts.OpenReadAsync("runs/r1/a/d1/missing.txt", Ct));
    }

    [Fact]
    public async Task Artifacts_LargeFileHashMatches()
    {
        var data = new byte[3 * 1024 * 1024 + 17];
        new Random(7).NextBytes(data);
        var info = await Artifacts.PutAsync("big/blob.bin", new MemoryStream(data), Ct);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), info.Sha256);
        Assert.Equal(data.LongLength, (await Artifacts.GetInfoAsync("big/blob.bin", Ct))!.Size);
    }

    [Fact]
    public async Task Artifacts_ListByPrefixInPathOrder_AndDelete()
    {
        foreach (var p in new[] { "runs/r/b.txt", "runs/r/a/x.txt", "runs/r2/c.txt", "other/d.txt" })
        {
            await Artifacts.PutAsync(p, new MemoryStream([1, 2, 3]), Ct);
        }

        var listed = new List<string>();
        await foreach (var a in Artifacts.ListAsync("runs/r/", Ct))
        {
            listed.Add(a.Path);
        }

        Assert.Equal(["runs/r/a/x.txt", "runs/r/b.txt"], listed);
        var all = new List<string>();
        await foreach (var a in Artifacts.ListAsync("runs/r", Ct))
        {
            all.Add(a.Path);
        }

        Assert.Equal(["runs/r/a/x.txt", "runs/r/b.txt", "runs/r2/c.txt"], all);
        await Artifacts.DeleteAsync("runs/r/b.txt", Ct);
        await Artifacts.DeleteAsync("runs/r/b.txt", Ct);
        Assert.Null(await Artifacts.GetInfoAsync("runs/r/b.txt", Ct));
    }

    [Fact]
    public async Task Artifacts_PutIfMatch_DetectsConflicts()
    {
        var a = Artifacts;
        var v1 = await a.PutIfMatchAsync("models/m/aliases/production", new MemoryStream("v1"u8.ToArray()), null, Ct);
        await Assert.ThrowsAsync<ConcurrencyException>(() => a.PutIfMatchAsync("models/m/aliases/production", new MemoryStream("x"u8.ToArray()), null, Ct));
        var v2 = await a.PutIfMatchAsync("models/m/aliases/production", new MemoryStream("v2"u8.ToArray()), v1.ETag, Ct);
        Assert.NotEqual(v1.ETag, v2.ETag);
        await Assert.ThrowsAsync<ConcurrencyException>(() => a.PutIfMatchAsync("models/m/aliases/production", new MemoryStream("v3"u8.ToArray()), v1.ETag, Ct));
        await Assert.ThrowsAsync<ConcurrencyException>(() => a.PutIfMatchAsync("models/m/aliases/new", new MemoryStream("v3"u8.ToArray()), v1.ETag, Ct));
        await using var s = await a.OpenReadAsync("models/m/aliases/production", Ct);
        using var reader = new StreamReader(s!);
        Assert.Equal("v2", await reader.ReadToEndAsync(Ct));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/abs/path")]
    [InlineData("a/../b")]
    [InlineData("../b")]
    [InlineData("a//b")]
    [InlineData("a\\b")]
    [InlineData("a/./b")]
    public async Task Artifacts_InvalidPath_IsRejectedWithClearError(string path)
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Artifacts.PutAsync(path, new MemoryStream([1]), Ct));
        Assert.Contains("Artifact path", e.Message, StringComparison.Ordinal);
    }
}

/// <summary>The stores one conformance test works on.</summary>
public sealed record ConformanceStores(IKeyValueStore Values, IPipelineStore Pipelines, IArtifactStore Artifacts);
