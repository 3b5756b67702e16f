using System.Globalization;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml.Tests;

/// <summary>Shared features of a 3,000-row generated churn table, built once for the training tests.</summary>
public sealed class ChurnFeaturesFixture : IAsyncLifetime
{
    public StepHarness Harness { get; } = new();

    public TaskResult Features { get; private set; } = new();

    public TaskResult RegressionFeatures { get; private set; } = new();

    public async Task InitializeAsync()
    {
        var data = StepHarness.Out(await Harness.RunAsync(new GenerateChurnDataStep(), new { rows = 3000, seed = 7 }, "gen"), "dataset");
        Features = await Harness.RunAsync(new FeaturesStep(), new
        {
            dataset = data,
            label = "churned",
            drop = new[] { "customer_id" },
            onehot = new[] { "plan", "contract" },
            ratios = new[] { new { name = "charges_per_month", numerator = "total_charges", denominator = "tenure_months" } },
            standardize = new[] { "numeric" },
            split = new { train = 0.7, validation = 0.15, test = 0.15, seed = 3 },
        }, "features");
        RegressionFeatures = await Harness.RunAsync(new FeaturesStep(), new
        {
            dataset = data,
            label = "total_charges",
            select = new[] { "tenure_months", "monthly_charges", "plan" },
            onehot = new[] { "plan" },
        }, "features-reg");
    }

    public Task DisposeAsync()
    {
        Harness.Dispose();
        return Task.CompletedTask;
    }
}

public sealed class TrainingTests(ChurnFeaturesFixture f) : IClassFixture<ChurnFeaturesFixture>
{
    private static Dictionary<string, double> Metrics(TaskResult r) =>
        JsonSerializer.Deserialize<Dictionary<string, double>>(r.Outputs["metrics"].GetRawText())!;

    [Fact]
    public async Task Features_SplitsAndStandardizes_WithStatsFittedOnTrain()
    {
        var rows = JsonSerializer.Deserialize<Dictionary<string, int>>(f.Features.Outputs["rows"].GetRawText())!;
        Assert.Equal(2100, rows["train"]);
        Assert.Equal(450, rows["validation"]);
        Assert.Equal(450, rows["test"]);
        var stats = JsonDocument.Parse(await f.Harness.ReadTextAsync(StepHarness.Out(f.Features, "stats"))).RootElement;
        Assert.Equal(["basic", "premium", "standard"], stats.GetProperty("onehot").GetProperty("plan").EnumerateArray().Select(e => e.GetString()));
        Assert.True(stats.GetProperty("numeric").TryGetProperty("charges_per_month", out _));
        var train = (await f.Harness.ReadTextAsync(StepHarness.Out(f.Features, "train"))).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var header = train[0].Split(',');
        Assert.Equal("churned", header[^1]);
        Assert.DoesNotContain("customer_id", header);
        Assert.Contains("contract=two-year", header);
        // Standardized on train: the train column has mean ~0 and population std ~1.
        var tenure = Array.IndexOf(header, "tenure_months");
        var values = train.Skip(1).Select(l => double.Parse(l.Split(',')[tenure], CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(0, values.Average(), 6);
        Assert.Equal(1, Math.Sqrt(values.Select(v => v * v).Average()), 6);
    }

    [Fact]
    public async Task Features_SameSeed_GivesSameBytes_OtherSeed_Differs()
    {
        var data = StepHarness.Out(await f.Harness.RunAsync(new GenerateChurnDataStep(), new { rows = 500, seed = 7 }, "gen2"), "dataset");
        async Task<string> Split(int seed) => (await f.Harness.RunAsync(new FeaturesStep(), new
        {
            dataset = data, label = "churned", drop = new[] { "customer_id", "plan", "contract" }, split = new { train = 0.8, validation = 0.2, test = 0.0, seed },
        }, "f")).Artifacts.Single(a => a.Name == "train").Sha256;

        Assert.Equal(await Split(1), await Split(1));
        Assert.NotEqual(await Split(1), await Split(2));
    }

    [Fact]
    public async Task Features_CategoricalColumnNotEncoded_FailsWithAdvice()
    {
        var data = StepHarness.Out(await f.Harness.RunAsync(new GenerateChurnDataStep(), new { rows = 100 }, "gen3"), "dataset");

        var e = await Assert.ThrowsAsync<StepFailedException>(() => f.Harness.RunAsync(new FeaturesStep(), new { dataset = data, label = "churned", drop = new[] { "customer_id" } }, "f"));

        Assert.Contains("'plan' is not numeric", e.Message, StringComparison.Ordinal);
        Assert.Contains("onehot", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("fasttree")]
    [InlineData("lightgbm")]
    [InlineData("sdca")]
    [InlineData("logistic")]
    [InlineData("fastforest")]
    public async Task BinaryTrainer_OnChurnData_ProducesPlausibleMetrics(string trainer)
    {
        var result = await f.Harness.RunAsync(new TrainMlnetStep(), new
        {
            train = StepHarness.Out(f.Features, "train"),
            validation = StepHarness.Out(f.Features, "validation"),
            label = "churned",
            trainer,
            hyperparameters = new { numberOfTrees = 50, numberOfLeaves = 8 }.ToDictionary(trainer),
        }, $"train-{trainer}");

        var m = Metrics(result);
        // The generator's churn is a noisy logistic function of the features: a real model lands well above chance
        // but below perfect.
        Assert.InRange(m["auc"], 0.70, 0.97);
        Assert.InRange(m["accuracy"], 0.60, 0.97);
        Assert.InRange(m["f1"], 0.2, 0.97);
        Assert.InRange(m["precision"], 0.2, 1);
        Assert.InRange(m["recall"], 0.05, 1);
        var model = await f.Harness.Store.GetInfoAsync(StepHarness.Out(result, "model"), CancellationToken.None);
        Assert.NotNull(model);
        Assert.True(model.Size > 1000);
        var file = JsonDocument.Parse(await f.Harness.ReadTextAsync(StepHarness.Out(result, "metricsFile"))).RootElement;
        Assert.Equal("validation", file.GetProperty("evaluatedOn").GetString());
        Assert.Equal(m["auc"], file.GetProperty("metrics").GetProperty("auc").GetDouble());
    }

    [Theory]
    [InlineData("fasttree")]
    [InlineData("lightgbm")]
    [InlineData("sdca")]
    [InlineData("fastforest")]
    public async Task RegressionTrainer_OnChurnData_ProducesPlausibleMetrics(string trainer)
    {
        var result = await f.Harness.RunAsync(new TrainMlnetStep(), new
        {
            train = StepHarness.Out(f.RegressionFeatures, "train"),
            test = StepHarness.Out(f.RegressionFeatures, "test"),
            label = "total_charges",
            task = "regression",
            trainer,
        }, $"reg-{trainer}");

        var m = Metrics(result);
        // total_charges ~ tenure * monthly: trees fit it closely, a linear model (sdca) less so.
        Assert.InRange(m["r2"], 0.6, 1.0);
        Assert.True(m["rmse"] > 0);
        Assert.True(m["mae"] > 0 && m["mae"] <= m["rmse"]);
    }

    [Fact]
    public async Task Trainer_LogisticForRegression_FailsNamingTheChoices()
    {
        var e = await Assert.ThrowsAsync<StepFailedException>(() => f.Harness.RunAsync(new TrainMlnetStep(), new
        {
            train = StepHarness.Out(f.RegressionFeatures, "train"), label = "total_charges", task = "regression", trainer = "logistic",
        }));

        Assert.Contains("fasttree, lightgbm, sdca, fastforest", e.Message, StringComparison.Ordinal);
    }
}

internal static class HyperparameterExtensions
{
    /// <summary>Tree hyperparameters only for tree trainers (linear trainers reject nothing but ignore them).</summary>
    public static Dictionary<string, double> ToDictionary(this object hp, string trainer)
    {
        var all = JsonSerializer.Deserialize<Dictionary<string, double>>(JsonSerializer.Serialize(hp))!;
        return trainer is "sdca" or "logistic" ? [] : all;
    }
}
