using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml.Tests;

public sealed class ValidateDataTests : IDisposable
{
    private readonly StepHarness _h = new();
    private readonly ValidateDataStep _step = new();

    public void Dispose() => _h.Dispose();

    private async Task<(TaskResult? Result, StepFailedException? Error, JsonElement Report)> Validate(string file, string expectations) =>
        await ValidateAt(await _h.PutDataFileAsync(file), expectations);

    private async Task<(TaskResult? Result, StepFailedException? Error, JsonElement Report)> ValidateAt(string dataset, string expectations)
    {
        TaskResult? result = null;
        StepFailedException? error = null;
        try
        {
            result = await _h.RunAsync(_step, $$"""{"dataset": "{{dataset}}", "expectations": {{expectations}} }""");
        }
        catch (StepFailedException e)
        {
            error = e;
        }

        var reports = new List<string>();
        await foreach (var a in _h.Store.ListAsync("runs/", CancellationToken.None))
        {
            if (a.Path.EndsWith("validation.json", StringComparison.Ordinal))
            {
                reports.Add(a.Path);
            }
        }

        var report = JsonDocument.Parse(await _h.ReadTextAsync(Assert.Single(reports))).RootElement.Clone();
        return (result, error, report);
    }

    private static JsonElement Find(JsonElement report, string expectationStart, string? column = null) =>
        report.GetProperty("expectations").EnumerateArray().Single(e =>
            e.GetProperty("expectation").GetString()!.StartsWith(expectationStart, StringComparison.Ordinal)
            && (column is null || e.GetProperty("column").GetString() == column));

    private static long[] Lines(JsonElement expectation) =>
        [.. expectation.GetProperty("examples").EnumerateArray().Select(x => x.GetProperty("line").GetInt64())];

    [Theory]
    [InlineData("""{"columns": {"age": {"type": "integer"}}}""", "type integer", "age")]
    [InlineData("""{"columns": {"email": {"notNull": true}}}""", "not null", "email")]
    [InlineData("""{"columns": {"age": {"type": "integer", "min": 18, "max": 90}}}""", "range", "age")]
    [InlineData("""{"columns": {"plan": {"allowed": ["basic", "standard", "premium"]}}}""", "values in", "plan")]
    [InlineData("""{"columns": {"email": {"maxNullFraction": 0.05}}}""", "null fraction", "email")]
    [InlineData("""{"maxDuplicateFraction": 0.0}""", "duplicate-row fraction", null)]
    [InlineData("""{"rowCount": {"min": 10, "max": 25}}""", "row count >= 10", null)]
    [InlineData("""{"columns": {"score": {"type": "number", "maxOutlierFraction": 0.0}}}""", "IQR outlier fraction", "score")]
    public async Task EachExpectation_OnCleanData_Passes(string expectations, string expectation, string? column)
    {
        var (result, error, report) = await Validate("customers_clean.csv", expectations);

        Assert.Null(error);
        Assert.NotNull(result);
        Assert.True(Find(report, expectation, column).GetProperty("passed").GetBoolean());
        Assert.Equal("true", StepHarness.Out(result, "passed"));
        Assert.Equal("20", StepHarness.Out(result, "rows"));
    }

    [Theory]
    [InlineData("""{"columns": {"age": {"type": "integer"}}}""", "type integer", "age", 1, new long[] { 3 })]
    [InlineData("""{"columns": {"email": {"notNull": true}}}""", "not null", "email", 2, new long[] { 7, 8 })]
    [InlineData("""{"columns": {"age": {"type": "integer", "min": 18, "max": 90}}}""", "range", "age", 1, new long[] { 5 })]
    [InlineData("""{"columns": {"plan": {"allowed": ["basic", "standard", "premium"]}}}""", "values in", "plan", 1, new long[] { 6 })]
    [InlineData("""{"columns": {"email": {"maxNullFraction": 0.05}}}""", "null fraction", "email", 2, new long[] { 7, 8 })]
    [InlineData("""{"maxDuplicateFraction": 0.0}""", "duplicate-row fraction", null, 1, new long[] { 9 })]
    [InlineData("""{"rowCount": {"max": 15}}""", "row count <= 15", null, 5, new long[0])]
    [InlineData("""{"rowCount": {"min": 100}}""", "row count >= 100", null, 80, new long[0])]
    [InlineData("""{"columns": {"score": {"type": "number", "maxOutlierFraction": 0.0}}}""", "IQR outlier fraction", "score", 1, new long[] { 10 })]
    [InlineData("""{"columns": {"segment": {"type": "string"}}}""", "column exists", "segment", 1, new long[0])]
    public async Task EachExpectation_OnDirtyData_FailsWithCountsAndLines(string expectations, string expectation, string? column, long offending, long[] lines)
    {
        var (_, error, report) = await Validate("customers_dirty.csv", expectations);

        Assert.NotNull(error);
        Assert.False(error.Retryable);
        var e = Find(report, expectation, column);
        Assert.False(e.GetProperty("passed").GetBoolean());
        Assert.Equal(offending, e.GetProperty("offending").GetInt64());
        Assert.Equal(lines, Lines(e));
        Assert.Contains(expectation, error.Message, StringComparison.Ordinal);
        foreach (var line in lines)
        {
            Assert.Contains($"line {line}", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Failure_ListsEveryViolatedExpectation_AndTheMalformedRow()
    {
        var (_, error, report) = await Validate("customers_dirty.csv", """
            {
              "columns": {
                "age": {"type": "integer", "min": 18, "max": 90},
                "plan": {"allowed": ["basic", "standard", "premium"]},
                "email": {"notNull": true, "maxNullFraction": 0.05},
                "score": {"type": "number", "maxOutlierFraction": 0.0}
              },
              "rowCount": {"min": 1, "max": 15},
              "maxDuplicateFraction": 0.0
            }
            """);

        Assert.NotNull(error);
        var failed = report.GetProperty("expectations").EnumerateArray().Where(e => !e.GetProperty("passed").GetBoolean()).ToList();
        // row shape, type, range, allowed, not null, null fraction, outliers, duplicates, max rows.
        Assert.Equal(9, failed.Count);
        Assert.Contains("9 expectation(s) failed", error.Message, StringComparison.Ordinal);
        Assert.Contains("row shape", error.Message, StringComparison.Ordinal);
        Assert.Contains("line 11", error.Message, StringComparison.Ordinal);
        Assert.False(report.GetProperty("passed").GetBoolean());
        Assert.True(Find(report, "row count >= 1").GetProperty("passed").GetBoolean());
    }

    [Fact]
    public async Task BadExpectation_FailsNamingTheField()
    {
        var dataset = await _h.PutDataFileAsync("customers_clean.csv");

        var e = await Assert.ThrowsAsync<StepFailedException>(() =>
            _h.RunAsync(_step, new { dataset, expectations = new { columns = new { age = new { type = "int64" } } } }));

        Assert.Contains("expectations.columns.age.type", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingDataset_FailsNamingThePath()
    {
        var e = await Assert.ThrowsAsync<StepFailedException>(() =>
            _h.RunAsync(_step, """{"dataset": "raw/nope.csv", "expectations": {"minRows": 1}}"""));

        Assert.Contains("raw/nope.csv", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DuplicateSketch_PastCapacity_SamplesAndStaysBounded()
    {
        var sketch = new DuplicateSketch(capacity: 1000);
        // 20,000 rows: 10,000 distinct, each twice -> duplicate fraction 0.5.
        for (var i = 0; i < 20_000; i++)
        {
            sketch.Add($"row-{i % 10_000}", i + 2);
        }

        Assert.False(sketch.Exact);
        Assert.InRange(sketch.DuplicateFraction, 0.45, 0.55);
    }
}
