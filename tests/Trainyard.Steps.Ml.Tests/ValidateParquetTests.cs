using System.Text.Json;
using Parquet;
using Parquet.Schema;
using Trainyard.Core.Engine;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml.Tests;

/// <summary>validate-data on Parquet: the same expectations as CSV, positions counted in rows across row groups.</summary>
public sealed class ValidateParquetTests : IDisposable
{
    private readonly StepHarness _h = new();
    private readonly ValidateDataStep _step = new();

    public void Dispose() => _h.Dispose();

    /// <summary>customers_dirty.csv as an all-string Parquet file: empty fields become nulls, the malformed line 11 is left out.</summary>
    private async Task<string> PutDirtyAsParquetAsync()
    {
        var lines = File.ReadAllLines(StepHarness.DataFile("customers_dirty.csv"));
        var header = lines[0].Split(',');
        var rows = lines.Skip(1).Select(l => l.Split(',')).Where(f => f.Length == header.Length).ToList();
        var fields = header.Select(h => new DataField<string>(h)).ToArray();
        var ms = new MemoryStream();
        await using (var w = await ParquetWriter.CreateAsync(new ParquetSchema(fields), ms))
        {
            using var rg = w.CreateRowGroup();
            for (var c = 0; c < header.Length; c++)
            {
                await rg.WriteAsync(fields[c], [.. rows.Select(r => r[c].Length == 0 ? null : r[c])]);
            }
        }

        return (await _h.Store.PutAsync("raw/customers_dirty.parquet", new MemoryStream(ms.ToArray()), CancellationToken.None)).Path;
    }

    private async Task<(StepFailedException? Error, JsonElement Report)> Run(string dataset, string expectations, string? format = null)
    {
        StepFailedException? error = null;
        try
        {
            var with = format is null ? "" : $"\"format\": \"{format}\", ";
            await _h.RunAsync(_step, $$"""{"dataset": "{{dataset}}", {{with}}"expectations": {{expectations}} }""");
        }
        catch (StepFailedException e)
        {
            error = e;
        }

        var report = await FindReportAsync();
        return (error, report);
    }

    private async Task<JsonElement> FindReportAsync()
    {
        await foreach (var a in _h.Store.ListAsync("runs/", CancellationToken.None))
        {
            if (a.Path.EndsWith("validation.json", StringComparison.Ordinal))
            {
                return JsonDocument.Parse(await _h.ReadTextAsync(a.Path)).RootElement.Clone();
            }
        }

        return default;
    }

    private static JsonElement Find(JsonElement report, string expectationStart, string? column) =>
        report.GetProperty("expectations").EnumerateArray().Single(e =>
            e.GetProperty("expectation").GetString()!.StartsWith(expectationStart, StringComparison.Ordinal)
            && (column is null || e.GetProperty("column").GetString() == column));

    [Theory]
    // CSV line L is Parquet row L-1 (no header row) before the dropped line 11 and L-2 after it.
    [InlineData("""{"columns": {"age": {"type": "integer"}}}""", "type integer", "age", 1, new long[] { 2 })]
    [InlineData("""{"columns": {"email": {"notNull": true}}}""", "not null", "email", 2, new long[] { 6, 7 })]
    [InlineData("""{"columns": {"age": {"type": "integer", "min": 18, "max": 90}}}""", "range", "age", 1, new long[] { 4 })]
    [InlineData("""{"columns": {"plan": {"allowed": ["basic", "standard", "premium"]}}}""", "values in", "plan", 1, new long[] { 5 })]
    [InlineData("""{"maxDuplicateFraction": 0.0}""", "duplicate-row fraction", null, 1, new long[] { 8 })]
    [InlineData("""{"rowCount": {"max": 15}}""", "row count <= 15", null, 4, new long[0])]
    [InlineData("""{"columns": {"score": {"type": "number", "maxOutlierFraction": 0.0}}}""", "IQR outlier fraction", "score", 1, new long[] { 9 })]
    public async Task DirtyParquet_FailsTheSameExpectationsAsCsv_NamingRows(string expectations, string expectation, string? column, long offending, long[] rows)
    {
        var dataset = await PutDirtyAsParquetAsync();

        var (error, report) = await Run(dataset, expectations);

        Assert.NotNull(error);
        Assert.Equal("row", report.GetProperty("positions").GetString());
        Assert.Equal(19, report.GetProperty("rows").GetInt64());
        var e = Find(report, expectation, column);
        Assert.False(e.GetProperty("passed").GetBoolean());
        Assert.Equal(offending, e.GetProperty("offending").GetInt64());
        Assert.Equal(rows, e.GetProperty("examples").EnumerateArray().Select(x => x.GetProperty("line").GetInt64()).ToArray());
        foreach (var row in rows)
        {
            Assert.Contains($"row {row}", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task TypedColumnsAcrossRowGroups_NullAndRangeViolationsNameTheirRows()
    {
        var id = new DataField<string>("id");
        var age = new DataField<int?>("age");
        var score = new DataField<double>("score");
        var ms = new MemoryStream();
        await using (var w = await ParquetWriter.CreateAsync(new ParquetSchema(id, age, score), ms))
        {
            using (var g1 = w.CreateRowGroup())
            {
                await g1.WriteAsync(id, ["a", "b", "c"]);
                await g1.WriteAsync<int>(age, new int?[] { 20, 30, null }.AsMemory());
                await g1.WriteAsync<double>(score, new[] { 1.5, 2.5, 3.5 }.AsMemory());
            }

            using var g2 = w.CreateRowGroup();
            await g2.WriteAsync(id, ["d", "e"]);
            await g2.WriteAsync<int>(age, new int?[] { 200, 40 }.AsMemory());
            await g2.WriteAsync<double>(score, new[] { 4.5, 5.5 }.AsMemory());
        }

        // No extension: the format comes from with.format.
        var dataset = (await _h.Store.PutAsync("raw/typed-export", new MemoryStream(ms.ToArray()), CancellationToken.None)).Path;

        var (error, report) = await Run(dataset, """{"columns": {"age": {"type": "integer", "notNull": true, "min": 18, "max": 90}, "score": {"type": "number", "min": 0}}}""", "parquet");

        Assert.NotNull(error);
        Assert.Equal(5, report.GetProperty("rows").GetInt64());
        Assert.True(Find(report, "type integer", "age").GetProperty("passed").GetBoolean());
        Assert.True(Find(report, "type number", "score").GetProperty("passed").GetBoolean());
        Assert.Equal(3, Find(report, "not null", "age").GetProperty("examples")[0].GetProperty("line").GetInt64());
        var range = Find(report, "range", "age");
        Assert.Equal(4, range.GetProperty("examples")[0].GetProperty("line").GetInt64());
        Assert.Equal("200", range.GetProperty("examples")[0].GetProperty("value").GetString());
    }

    [Fact]
    public async Task NotParquetBytes_FailForGoodSayingSo()
    {
        var dataset = await _h.PutTextAsync("raw/oops.parquet", "id,age\n1,2\n");

        var e = await Assert.ThrowsAsync<StepFailedException>(() =>
            _h.RunAsync(_step, new { dataset, expectations = new { rowCount = new { min = 1 } } }));

        Assert.False(e.Retryable);
        Assert.Contains("raw/oops.parquet is not a readable Parquet file", e.Message, StringComparison.Ordinal);
        Assert.Contains("format: csv", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NestedColumn_IsRefusedNamingIt()
    {
        var schema = new ParquetSchema(new DataField<int>("id"), new DataField<string[]>("tags"));
        var ms = new MemoryStream();
        await using (var w = await ParquetWriter.CreateAsync(schema, ms))
        {
            using var g = w.CreateRowGroup();
            await g.WriteAsync<int>(schema.DataFields[0], new[] { 1 }.AsMemory());
            await g.WriteAsync(schema.DataFields[1], ["x", "y"], new[] { 0, 1 }.AsMemory());
        }

        var dataset = (await _h.Store.PutAsync("raw/nested.parquet", new MemoryStream(ms.ToArray()), CancellationToken.None)).Path;

        var e = await Assert.ThrowsAsync<StepFailedException>(() =>
            _h.RunAsync(_step, new { dataset, expectations = new { rowCount = new { min = 1 } } }));

        Assert.Contains("column 'tags' is nested or repeated", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownFormat_FailsNamingTheField()
    {
        var dataset = await _h.PutDataFileAsync("customers_clean.csv");

        var e = await Assert.ThrowsAsync<StepFailedException>(() =>
            _h.RunAsync(_step, new { dataset, format = "xlsx", expectations = new { rowCount = new { min = 1 } } }));

        Assert.Contains("with.format 'xlsx' is not supported; use csv or parquet", e.Message, StringComparison.Ordinal);
    }
}
