using Trainyard.Compute.Batch;

namespace Trainyard.Compute.Batch.Tests;

public sealed class BatchIdsTests
{
    [Theory]
    [InlineData("run-1")]
    [InlineData("churn:blob:incoming/2026/11/23/data.csv@0x8DC1")]
    [InlineData("a-very-long-run-id-that-goes-on-and-on-and-on-well-past-the-sixty-four-character-limit-of-batch")]
    [InlineData("ünïcödé run ✓")]
    [InlineData("::::")]
    public void ForRun_AlwaysSatisfiesBatchIdRules(string runId)
    {
        var id = BatchIds.ForRun("ty", runId, "gpu");

        Assert.True(BatchIds.IsValid(id), id);
        Assert.True(id.Length <= 64, id);
        Assert.Equal(id, BatchIds.ForRun("ty", runId, "gpu"));
    }

    [Fact]
    public void ForRun_IdsDifferingOnlyInCase_StayDistinctUnderCaseInsensitiveComparison()
    {
        var a = BatchIds.ForRun("ty", "Run-ABC", "gpu");
        var b = BatchIds.ForRun("ty", "run-abc", "gpu");

        Assert.False(string.Equals(a, b, StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void ForDispatch_IdsDifferingOnlyInForbiddenCharacters_StayDistinct()
    {
        Assert.NotEqual(BatchIds.ForDispatch("run:train:1"), BatchIds.ForDispatch("run/train/1"));
    }

    [Fact]
    public void ForRun_KeepsAReadablePart()
    {
        Assert.StartsWith("ty-gpu-nightly-2026-11-23-", BatchIds.ForRun("ty", "nightly@2026-11-23", "gpu"), StringComparison.Ordinal);
    }

    [Fact]
    public void ForRun_EachPoolOfARunGetsItsOwnJob()
    {
        Assert.NotEqual(BatchIds.ForRun("ty", "nightly", "gpu"), BatchIds.ForRun("ty", "nightly", "cpu"));
    }

    [Fact]
    public void ForRun_BadPrefix_Throws() => Assert.Throws<ArgumentException>(() => BatchIds.ForRun("bad prefix", "r", "gpu"));
}
