using System.Text;

namespace Trainyard.Steps.Ml.Tests;

public sealed class CsvReaderTests
{
    private static CsvReader Open(string text) => new(new MemoryStream(Encoding.UTF8.GetBytes(text)), "test.csv");

    [Fact]
    public void Read_QuotedFieldsWithCommasQuotesAndLineBreaks_KeepsFileLineNumbers()
    {
        using var csv = Open("id,note\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n\n3,\"two\nlines\"\n4,plain\n");

        var rows = new List<(long Line, string Note)>();
        while (csv.Read())
        {
            rows.Add((csv.Line, csv.Fields[1]));
        }

        Assert.Equal(["id", "note"], csv.Header);
        Assert.Equal([(2L, "a, b"), (3L, "say \"hi\""), (5L, "two\nlines"), (7L, "plain")], rows);
    }

    [Fact]
    public void Read_UnclosedQuote_FailsNamingTheLine()
    {
        using var csv = Open("id,note\n1,ok\n2,\"never closed\n");
        Assert.True(csv.Read());

        var e = Assert.Throws<Trainyard.Execution.Contracts.StepFailedException>(() => csv.Read());

        Assert.Contains("line 3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_DuplicateHeaderOrEmptyFile_FailsClearly()
    {
        Assert.Contains("appears twice", Assert.Throws<Trainyard.Execution.Contracts.StepFailedException>(() => Open("a,b,a\n1,2,3\n")).Message, StringComparison.Ordinal);
        Assert.Contains("is empty", Assert.Throws<Trainyard.Execution.Contracts.StepFailedException>(() => Open("")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reservoir_PastCapacity_EstimatesQuartilesOfAUniformColumn()
    {
        var r = new Reservoir(capacity: 2000, seed: 1);
        for (var i = 0; i < 100_000; i++)
        {
            r.Add(i % 1000, i + 2);
        }

        var sorted = r.SortedValues();

        Assert.False(r.Exact);
        Assert.Equal(2000, sorted.Length);
        // Uniform 0..999: Q1 ~ 250, Q3 ~ 750; a 2,000-value sample puts them within a few percent.
        Assert.InRange(Reservoir.Quantile(sorted, 0.25), 220, 280);
        Assert.InRange(Reservoir.Quantile(sorted, 0.75), 720, 780);
    }
}
