using System.Text.Json;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml.Tests;

public sealed class RegistryTests : IDisposable
{
    private readonly StepHarness _h = new();
    private readonly ModelRegistry _registry;

    public RegistryTests() => _registry = new ModelRegistry(_h.Store);

    public void Dispose() => _h.Dispose();

    private async Task<ModelVersion> Register(string content, double auc = 0.8)
    {
        var path = await _h.PutTextAsync($"runs/r/train/{Guid.NewGuid():N}/model.zip", content);
        return await _registry.RegisterAsync(new ModelRegistration("churn")
        {
            Files = new Dictionary<string, string> { ["model.zip"] = path },
            Metrics = new Dictionary<string, double> { ["auc"] = auc },
        }, CancellationToken.None);
    }

    [Fact]
    public async Task Register_AllocatesSequentialImmutableVersions_WithFilesAndHashes()
    {
        var v1 = await Register("model one");
        var v2 = await Register("model two");

        Assert.Equal(1, v1.Version);
        Assert.Equal(2, v2.Version);
        Assert.Equal("model one", await _h.ReadTextAsync("models/churn/1/model.zip"));
        var info = await _h.Store.GetInfoAsync("models/churn/2/model.zip", CancellationToken.None);
        Assert.Equal(v2.Files[0].Sha256, info!.Sha256);
        // A version file is create-only: rewriting it is a conflict.
        await Assert.ThrowsAsync<ConcurrencyException>(() =>
            _h.Store.PutIfMatchAsync("models/churn/1/version.json", new MemoryStream([1]), null, CancellationToken.None));
        Assert.Equal([1, 2], (await _registry.ListVersionsAsync("churn", CancellationToken.None)).Select(v => v.Version));
    }

    [Fact]
    public async Task Register_ConcurrentWriters_GetDistinctVersions()
    {
        var versions = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => Register($"model {i}"))));

        Assert.Equal(Enumerable.Range(1, 8), versions.Select(v => v.Version).Order());
        foreach (var v in versions)
        {
            Assert.Equal(v.Files[0].Sha256, (await _h.Store.GetInfoAsync(v.Files[0].Path, CancellationToken.None))!.Sha256);
        }
    }

    [Fact]
    public async Task PromoteAndRollback_MoveTheStageAlias_AndKeepHistory()
    {
        await Register("a");
        await Register("b");
        await Register("c");

        Assert.Null((await _registry.PromoteAsync("churn", 1, "production", "test", null, CancellationToken.None)).Previous);
        Assert.Equal(1, (await _registry.PromoteAsync("churn", 2, "production", "test", null, CancellationToken.None)).Previous);
        await _registry.PromoteAsync("churn", 3, "production", "test", null, CancellationToken.None);

        var back = await _registry.RollbackAsync("churn", "production", "test", null, CancellationToken.None);
        Assert.Equal(2, back.Version);
        Assert.Equal(3, back.Previous);
        Assert.Equal(1, (await _registry.RollbackAsync("churn", "production", "test", null, CancellationToken.None)).Version);
        var e = await Assert.ThrowsAsync<ModelRegistryException>(() => _registry.RollbackAsync("churn", "production", "test", null, CancellationToken.None));
        Assert.Contains("no previous version", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, (await _registry.GetStageVersionAsync("churn", "production", CancellationToken.None))!.Version);
    }

    [Fact]
    public async Task Promote_TwoWritersFromTheSameState_OneWinsTheOtherGetsAClearConflict()
    {
        await Register("a");
        await Register("b");
        await Register("c");
        await _registry.PromoteAsync("churn", 1, "staging", "setup", null, CancellationToken.None);
        var (_, etag) = await _registry.GetStageAsync("churn", "staging", CancellationToken.None);

        // Both writers read the alias at the same ETag; A writes first.
        var a = await _registry.PromoteAsync("churn", 2, "staging", "writer A", etag, CancellationToken.None);
        var b = await Assert.ThrowsAsync<ModelRegistryConflictException>(() => _registry.PromoteAsync("churn", 3, "staging", "writer B", etag, CancellationToken.None));
        var rollback = await Assert.ThrowsAsync<ModelRegistryConflictException>(() => _registry.RollbackAsync("churn", "staging", "writer B", etag, CancellationToken.None));

        Assert.Equal(2, a.Version);
        Assert.Contains("changed by another writer", b.Message, StringComparison.Ordinal);
        Assert.Contains("now points at version 2", b.Message, StringComparison.Ordinal);
        Assert.Contains("Nothing was changed", rollback.Message, StringComparison.Ordinal);
        var (alias, _) = await _registry.GetStageAsync("churn", "staging", CancellationToken.None);
        Assert.Equal(2, alias!.Version);
        Assert.Equal([1], alias.History);
    }

    [Fact]
    public async Task Promote_RacingWriters_EveryWriteEitherLandsOrConflicts_HistoryMatches()
    {
        for (var i = 0; i < 6; i++)
        {
            await Register($"m{i}");
        }

        using var start = new ManualResetEventSlim();
        var tasks = Enumerable.Range(1, 6).Select(v => Task.Run(async () =>
        {
            start.Wait(TimeSpan.FromSeconds(10));
            try
            {
                await _registry.PromoteAsync("churn", v, "production", $"w{v}", null, CancellationToken.None);
                return true;
            }
            catch (ModelRegistryConflictException)
            {
                return false;
            }
        })).ToList();
        start.Set();
        var outcomes = await Task.WhenAll(tasks);

        var (alias, _) = await _registry.GetStageAsync("churn", "production", CancellationToken.None);
        Assert.Contains(true, outcomes);
        // Every successful promotion is exactly one step of the alias history: no lost update.
        Assert.Equal(outcomes.Count(o => o), alias!.History.Count + 1);
    }

    [Fact]
    public async Task Promote_UnknownVersionOrStage_FailsClearly()
    {
        await Register("a");

        var v = await Assert.ThrowsAsync<ModelRegistryException>(() => _registry.PromoteAsync("churn", 9, "staging", "t", null, CancellationToken.None));
        var s = await Assert.ThrowsAsync<ModelRegistryException>(() => _registry.PromoteAsync("churn", 1, "prod", "t", null, CancellationToken.None));

        Assert.Contains("no version 9", v.Message, StringComparison.Ordinal);
        Assert.Contains("staging, production", s.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SelectGateRegisterPromote_ChainThroughTheStore_WithLineage()
    {
        var data = StepHarness.Out(await _h.RunAsync(new GenerateChurnDataStep(), new { rows = 1500, seed = 5 }, "gen"), "dataset");
        var features = await _h.RunAsync(new FeaturesStep(), new { dataset = data, label = "churned", drop = new[] { "customer_id" }, onehot = new[] { "plan", "contract" } }, "features");
        var candidates = new List<JsonElement>();
        foreach (var (trainer, i) in new[] { "fasttree", "logistic", "fastforest" }.Select((t, i) => (t, i)))
        {
            var r = await _h.RunAsync(new TrainMlnetStep(), new { train = StepHarness.Out(features, "train"), validation = StepHarness.Out(features, "validation"), label = "churned", trainer }, $"train[{i}]");
            candidates.Add(JsonSerializer.SerializeToElement(r.Outputs));
        }

        var best = await _h.RunAsync(new SelectBestStep(), new { candidates, metric = "auc" }, "select");
        var aucs = candidates.Select(c => c.GetProperty("metrics").GetProperty("auc").GetDouble()).ToList();
        Assert.Equal(aucs.IndexOf(aucs.Max()), int.Parse(StepHarness.Out(best, "index"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains("highest auc", StepHarness.Out(best, "reason"), StringComparison.Ordinal);

        var metrics = best.Outputs["metrics"];
        var gate = await _h.RunAsync(new QualityGateStep(), new { metrics, thresholds = new { auc = new { min = 0.7 } }, compare = new { model = "churn", stage = "staging", metric = "auc", maxRegression = 0.01 } }, "gate");
        Assert.Equal("true", StepHarness.Out(gate, "passed"));

        var registered = await _h.RunAsync(new RegisterModelStep(), new
        {
            name = "churn", model = StepHarness.Out(best, "model"), metrics, @params = best.Outputs["params"], data = new[] { data }, files = new[] { StepHarness.Out(features, "stats") },
        }, "register");
        Assert.Equal("1", StepHarness.Out(registered, "version"));
        var promoted = await _h.RunAsync(new PromoteModelStep(), new { name = "churn", version = 1, stage = "staging" }, "promote");
        Assert.Equal("1", StepHarness.Out(promoted, "version"));

        var v1 = (await _registry.GetVersionAsync("churn", 1, CancellationToken.None))!;
        Assert.Equal("register", v1.Producer!.TaskKey);
        Assert.Equal(data, Assert.Single(v1.Data).Path);
        Assert.Contains(v1.Files, f => f.Name == "stats.json");

        // A gate against the staged model: a much worse candidate fails, listing the regression.
        var worse = JsonSerializer.SerializeToElement(new { auc = v1.Metrics["auc"] - 0.2 });
        var e = await Assert.ThrowsAsync<StepFailedException>(() =>
            _h.RunAsync(new QualityGateStep(), new { metrics = worse, thresholds = new { auc = new { min = 0.9 } }, compare = new { model = "churn", stage = "staging", metric = "auc", maxRegression = 0.01 } }, "gate2"));
        Assert.Contains("2 check(s) failed", e.Message, StringComparison.Ordinal);
        Assert.Contains("no worse than churn@staging", e.Message, StringComparison.Ordinal);

        var soft = await _h.RunAsync(new QualityGateStep(), new { metrics = worse, thresholds = new { auc = new { min = 0.9 } }, failOnViolation = false }, "gate3");
        Assert.Equal("false", StepHarness.Out(soft, "passed"));
    }
}
