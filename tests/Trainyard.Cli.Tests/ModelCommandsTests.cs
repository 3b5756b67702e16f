using System.Text.Json;

namespace Trainyard.Cli.Tests;

/// <summary>The churn sample through the real CLI, then `models list|show|promote|rollback` and `lineage` on its registry.</summary>
public sealed class ModelCommandsTests : IDisposable
{
    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    private static string Churn()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "samples", "churn", "pipeline.yaml");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("samples/churn/pipeline.yaml not found above the test folder");
    }

    private async Task<CliResult> Ok(params string[] args)
    {
        var r = await _cli.RunAsync(args, TimeSpan.FromMinutes(3));
        Assert.True(r.ExitCode == 0, r.ToString());
        return r;
    }

    [Fact]
    public async Task ChurnSample_CachedRerun_ThenModelsAndLineage()
    {
        var first = await Ok("run", Churn(), "-p", "rows=1500");
        Assert.Contains("promote-model", first.Stdout, StringComparison.Ordinal);
        Assert.Contains("chosen=", first.Stdout, StringComparison.Ordinal);

        var second = await Ok("run", Churn(), "-p", "rows=1500");
        Assert.Contains("8 cached", second.Stdout, StringComparison.Ordinal);
        var bypass = await Ok("run", Churn(), "-p", "rows=1500", "--no-cache");
        Assert.DoesNotContain("cached", bypass.Stdout, StringComparison.Ordinal);
        // Everything re-ran, the registration included: a new version (versions are never rewritten).
        Assert.Contains("version=2", bypass.Stdout, StringComparison.Ordinal);

        var other = await Ok("run", Churn(), "-p", "rows=1500", "-p", "seed=9");
        Assert.Contains("version=3", other.Stdout, StringComparison.Ordinal);

        using (var list = JsonDocument.Parse((await Ok("models", "list", "--json")).Stdout))
        {
            var churn = Assert.Single(list.RootElement.EnumerateArray());
            Assert.Equal("churn", churn.GetProperty("name").GetString());
            Assert.Equal(3, churn.GetProperty("versions").GetInt32());
            Assert.Equal(3, churn.GetProperty("staging").GetInt32());
        }

        var show = await Ok("models", "show", "churn:1");
        Assert.Contains("metrics:  auc=", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("features-billing-stats.json", show.Stdout, StringComparison.Ordinal);

        Assert.Contains("production -> version 1 (was -)", (await Ok("models", "promote", "churn", "1", "--stage", "production")).Stdout, StringComparison.Ordinal);
        Assert.Contains("production -> version 2 (was 1)", (await Ok("models", "promote", "churn", "2", "--stage", "production")).Stdout, StringComparison.Ordinal);
        Assert.Contains("rolled back -> version 1 (was 2)", (await Ok("models", "rollback", "churn", "--stage", "production")).Stdout, StringComparison.Ordinal);
        var noPrevious = await _cli.RunAsync(["models", "rollback", "churn", "--stage", "production"]);
        Assert.Equal(2, noPrevious.ExitCode);
        Assert.Contains("no previous version", noPrevious.Stderr, StringComparison.Ordinal);
        var unknown = await _cli.RunAsync(["models", "promote", "churn", "7"]);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("no version 7", unknown.Stderr, StringComparison.Ordinal);

        var lineage = (await Ok("lineage", "churn:1")).Stdout;
        // The chain back to the raw data: registry <- training <- both feature sets <- generated snapshot, with cache keys.
        Assert.Contains("<- register-model", lineage, StringComparison.Ordinal);
        Assert.Contains("<- train-mlnet", lineage, StringComparison.Ordinal);
        Assert.Contains("task features-behaviour", lineage, StringComparison.Ordinal);
        Assert.Contains("task features-billing", lineage, StringComparison.Ordinal);
        Assert.Contains("<- generate-churn-data", lineage, StringComparison.Ordinal);
        Assert.Contains("cache key", lineage, StringComparison.Ordinal);
        var artifact = lineage.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("model.zip: ", StringComparison.Ordinal))["model.zip: ".Length..].Split(' ')[0];
        Assert.Contains("<- features", (await Ok("lineage", artifact)).Stdout, StringComparison.Ordinal);
    }
}
