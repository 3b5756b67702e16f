using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Trainyard.Steps.Ml.Tests;

public sealed class DriftTests : IDisposable
{
    private readonly StepHarness _h = new();

    public void Dispose() => _h.Dispose();

    [Fact]
    public void Psi_OfKnownProportions_MatchesHandComputedValue()
    {
        // ref = (.25, .25, .25, .25), cur = (.10, .20, .30, .40):
        // PSI = sum (c - r) ln(c / r)
        //     = (-.15) ln(.4) + (-.05) ln(.8) + (.05) ln(1.2) + (.15) ln(1.6)
        //     = .137444 + .011157 + .009116 + .070501 = 0.228217
        var psi = DriftMath.Psi([0.25, 0.25, 0.25, 0.25], [0.10, 0.20, 0.30, 0.40]);

        Assert.Equal(0.228217, psi, 5);
    }

    [Fact]
    public void Psi_OfSamples_UsesReferenceQuartileBins()
    {
        // Reference 1..100: type-7 quartiles are 25.75, 50.5, 75.25, so each bin holds 25 reference values.
        var reference = Enumerable.Range(1, 100).Select(i => (double)i).ToArray();
        // Current: 10 values in bin 1, 20 in bin 2, 30 in bin 3, 40 in bin 4 -> the proportions of the test above.
        var current = Enumerable.Repeat(10.0, 10).Concat(Enumerable.Repeat(40.0, 20)).Concat(Enumerable.Repeat(60.0, 30)).Concat(Enumerable.Repeat(90.0, 40)).ToArray();

        Assert.Equal([25.75, 50.5, 75.25], DriftMath.QuantileEdges(reference, 4));
        Assert.Equal(0.228217, DriftMath.Psi(reference, current, 4), 5);
        Assert.Equal(0, DriftMath.Psi(reference, reference, 4), 10);
    }

    [Fact]
    public void Psi_EmptyBin_UsesEpsilonInsteadOfInfinity()
    {
        // ref = (.5, .5, 0, 0) -> (.5, .5, 1e-4, 1e-4); cur = (.25, .25, .25, .25):
        // PSI = 2 * (-.25) ln(.5) + 2 * (.25 - 1e-4) ln(.25 / 1e-4) = 0.346574 + 3.910458 = 4.257032
        var psi = DriftMath.Psi([0.5, 0.5, DriftMath.Epsilon, DriftMath.Epsilon], [0.25, 0.25, 0.25, 0.25]);

        Assert.Equal(4.257032, psi, 5);
    }

    [Fact]
    public void Ks_DisjointSamples_MatchesTextbookStatisticAndPValue()
    {
        // a = 1..5, b = 6..10: D = 1 (scipy.stats.ks_2samp gives statistic 1.0).
        // Asymptotic p (Numerical Recipes): ne = 5*5/10 = 2.5, sqrt = 1.581139,
        // lambda = (1.581139 + 0.12 + 0.11/1.581139) * 1 = 1.770709,
        // Q_KS = 2 (e^{-2 lambda^2} - e^{-8 lambda^2} + ...) = 0.0037814.
        double[] a = [1, 2, 3, 4, 5];
        double[] b = [6, 7, 8, 9, 10];

        var d = DriftMath.KsStatistic(a, b);

        Assert.Equal(1.0, d, 12);
        Assert.Equal(0.0037814, DriftMath.KsPValue(d, 5, 5), 6);
    }

    [Fact]
    public void Ks_OverlappingSamples_MatchesHandComputedValue()
    {
        // a = 1..4, b = 3..8. ECDF gaps: x=1 .25, x=2 .5, x=3 .75-1/6=.5833, x=4 1-2/6=.6667, then shrinking: D = 2/3.
        // ne = 24/10, sqrt = 1.549193, lambda = (1.549193 + 0.12 + 0.071004) * 2/3 = 1.160132, Q_KS = 0.135474.
        double[] a = [1, 2, 3, 4];
        double[] b = [3, 4, 5, 6, 7, 8];

        var d = DriftMath.KsStatistic(a, b);

        Assert.Equal(2.0 / 3, d, 12);
        Assert.Equal(0.135474, DriftMath.KsPValue(d, 4, 6), 5);
        Assert.Equal(1.0, DriftMath.KsPValue(0, 4, 6), 12);
    }

    [Fact]
    public async Task DriftStep_ShiftedData_FlagsShiftedFeatures_AndEmitsSignals()
    {
        var gen = new GenerateChurnDataStep();
        var reference = StepHarness.Out(await _h.RunAsync(gen, new { rows = 3000, seed = 1 }, "ref"), "dataset");
        var current = StepHarness.Out(await _h.RunAsync(gen, new { rows = 3000, seed = 2, shift = 1.0 }, "cur"), "dataset");

        var result = await _h.RunAsync(new DriftStep(), new { reference, current, emit = true, model = "churn", window = "2026-11-22/P1D" }, "drift");

        Assert.Equal("true", StepHarness.Out(result, "drifted"));
        var drifted = JsonSerializer.Deserialize<string[]>(StepHarness.Out(result, "driftedFeatures"))!;
        Assert.Contains("monthly_charges", drifted);
        Assert.DoesNotContain("age", drifted);
        var signals = await new ArtifactSignalSink(_h.Store).ReadAllAsync(CancellationToken.None);
        Assert.Equal(drifted.Length, signals.Count);
        Assert.All(signals, s => Assert.Equal("churn", s.Model));
        Assert.All(signals, s => Assert.True(s.Value >= s.Threshold));
        var report = JsonDocument.Parse(await _h.ReadTextAsync(StepHarness.Out(result, "report"))).RootElement;
        var age = report.GetProperty("features").EnumerateArray().Single(f => f.GetProperty("feature").GetString() == "age");
        Assert.True(age.GetProperty("psi").GetDouble() < 0.1);
        Assert.True(age.GetProperty("ksPValue").GetDouble() > 0.001);
    }

    [Fact]
    public async Task DriftStep_SameDistribution_ReportsNoDrift()
    {
        var gen = new GenerateChurnDataStep();
        var reference = StepHarness.Out(await _h.RunAsync(gen, new { rows = 3000, seed = 1 }, "ref"), "dataset");
        var current = StepHarness.Out(await _h.RunAsync(gen, new { rows = 3000, seed = 2 }, "cur"), "dataset");

        var result = await _h.RunAsync(new DriftStep(), new { reference, current, emit = true, model = "churn" }, "drift");

        Assert.Equal("false", StepHarness.Out(result, "drifted"));
        Assert.Equal("0", StepHarness.Out(result, "signals"));
        Assert.Empty(await new ArtifactSignalSink(_h.Store).ReadAllAsync(CancellationToken.None));
    }
}
