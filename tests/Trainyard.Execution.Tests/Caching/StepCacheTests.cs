using System.Text;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Artifacts;
using Trainyard.Execution.Caching;
using Trainyard.Runtime.InMemory;

namespace Trainyard.Execution.Tests.Caching;

public sealed class StepCacheTests : IAsyncDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "ty-cache-" + Path.GetRandomFileName());
    private readonly InMemoryBackend _backend = new();
    private readonly FileSystemArtifactStore _artifacts;
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
    private readonly StepCache _cache;

    public StepCacheTests()
    {
        _artifacts = new FileSystemArtifactStore(_root);
        _cache = new StepCache(_backend.Store, _artifacts, time: _clock);
    }

    public async ValueTask DisposeAsync()
    {
        await _backend.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    private async Task<string> Put(string path, string text) =>
        (await _artifacts.PutAsync(path, new MemoryStream(Encoding.UTF8.GetBytes(text)), CancellationToken.None)).Path;

    private static TaskWorkItem Work(string dataset, string runId = "run-a", TimeSpan? maxAge = null, object? extra = null) => new()
    {
        RunId = runId,
        TaskKey = "validate",
        StepId = "validate",
        Attempt = 1,
        DispatchId = runId + "-d1",
        PipelineName = "p",
        PipelineHash = "h",
        Executor = ExecutorKind.Builtin,
        Uses = "validate-data",
        Inputs = JsonSerializer.SerializeToElement(new { dataset, expectations = new { minRows = 1 }, extra })
            .EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone()),
        Cache = new CacheSpec { MaxAge = maxAge },
    };

    private async Task<TaskResult> StoreResult(TaskWorkItem work)
    {
        var report = await _artifacts.PutAsync(work.OutputPrefix + "validation.json", new MemoryStream("{}"u8.ToArray()), CancellationToken.None);
        var result = new TaskResult
        {
            Outputs = new Dictionary<string, JsonElement> { ["rows"] = JsonSerializer.SerializeToElement(3) },
            Artifacts = [new ArtifactRef("report", report.Path, report.Sha256, report.Size)],
        };
        await _cache.StoreAsync(work, result, CancellationToken.None);
        return result;
    }

    [Fact]
    public async Task TryGet_SameDefinitionAndInputBytes_HitsWithTheStoredOutputs()
    {
        var data = await Put("raw/data.csv", "a,b\n1,2\n");
        var stored = await StoreResult(Work(data, "run-a"));

        var hit = await _cache.TryGetAsync(Work(data, "run-b"), CancellationToken.None);

        Assert.NotNull(hit);
        Assert.True(hit.Cached);
        Assert.Equal(64, hit.CacheKey!.Length);
        Assert.Equal(stored.Artifacts, hit.Artifacts);
        Assert.Equal(3, hit.Outputs["rows"].GetInt32());
    }

    [Fact]
    public async Task TryGet_NothingStored_Misses()
    {
        var data = await Put("raw/data.csv", "a,b\n1,2\n");

        Assert.Null(await _cache.TryGetAsync(Work(data), CancellationToken.None));
    }

    [Fact]
    public async Task TryGet_OneInputByteChanged_MissesBecauseTheKeyChanges()
    {
        var data = await Put("raw/data.csv", "a,b\n1,2\n");
        await StoreResult(Work(data, "run-a"));
        var before = await _cache.ComputeKeyAsync(Work(data), CancellationToken.None);

        await Put("raw/data.csv", "a,b\n1,3\n");

        Assert.NotEqual(before, await _cache.ComputeKeyAsync(Work(data), CancellationToken.None));
        Assert.Null(await _cache.TryGetAsync(Work(data, "run-b"), CancellationToken.None));
    }

    [Fact]
    public async Task ComputeKey_ChangedWithValue_Changes_ReorderedKeys_DoNot()
    {
        var data = await Put("raw/data.csv", "a\n1\n");
        var a = await _cache.ComputeKeyAsync(Work(data, extra: new { x = 1, y = 2 }), CancellationToken.None);
        var reordered = await _cache.ComputeKeyAsync(Work(data, extra: JsonSerializer.Deserialize<JsonElement>("""{"y": 2, "x": 1}""")), CancellationToken.None);
        var changed = await _cache.ComputeKeyAsync(Work(data, extra: new { x = 1, y = 3 }), CancellationToken.None);

        Assert.Equal(a, reordered);
        Assert.NotEqual(a, changed);
    }

    [Fact]
    public async Task TryGet_OlderThanMaxAge_Misses_YoungerHits()
    {
        var data = await Put("raw/data.csv", "a,b\n1,2\n");
        await StoreResult(Work(data, "run-a"));

        _clock.Advance(TimeSpan.FromMinutes(30));
        Assert.NotNull(await _cache.TryGetAsync(Work(data, "run-b", maxAge: TimeSpan.FromHours(1)), CancellationToken.None));

        _clock.Advance(TimeSpan.FromMinutes(31));
        Assert.Null(await _cache.TryGetAsync(Work(data, "run-c", maxAge: TimeSpan.FromHours(1)), CancellationToken.None));
        Assert.NotNull(await _cache.TryGetAsync(Work(data, "run-d"), CancellationToken.None));
    }

    [Fact]
    public async Task TryGet_CachedArtifactDeletedOrChanged_Misses()
    {
        var data = await Put("raw/data.csv", "a,b\n1,2\n");
        var stored = await StoreResult(Work(data, "run-a"));

        await Put(stored.Artifacts[0].Path, "tampered");

        Assert.Null(await _cache.TryGetAsync(Work(data, "run-b"), CancellationToken.None));
    }

    [Fact]
    public async Task TryGet_ReadDisabled_Bypasses()
    {
        var data = await Put("raw/data.csv", "a,b\n1,2\n");
        await StoreResult(Work(data, "run-a"));
        var noCache = new StepCache(_backend.Store, _artifacts, time: _clock) { ReadEnabled = false };

        Assert.Null(await noCache.TryGetAsync(Work(data, "run-b"), CancellationToken.None));
    }

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        private DateTimeOffset _now = now;

        public void Advance(TimeSpan by) => _now += by;

        public override DateTimeOffset GetUtcNow() => _now;
    }
}
