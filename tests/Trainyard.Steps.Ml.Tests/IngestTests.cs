using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Trainyard.Execution.Contracts;
using Trainyard.Execution.Data;

namespace Trainyard.Steps.Ml.Tests;

/// <summary>`ingest` from the local data root: streamed into artifacts, pinned by ETag, confined to its root, with lineage.</summary>
public sealed class IngestTests : IDisposable
{
    private readonly StepHarness _h = new();
    private readonly string _data;
    private readonly LocalDataSource _source;

    public IngestTests()
    {
        _data = Path.Combine(_h.Root, "data");
        Directory.CreateDirectory(Path.Combine(_data, "incoming"));
        _source = new LocalDataSource(_data);
        _h.Services = new StepServices().Add<IDataSource>(new DataSources([_source]));
    }

    public void Dispose() => _h.Dispose();

    [Fact]
    public async Task AFileUnderTheDataRoot_BecomesAnArtifact_WithItsHashSizeAndVersionInOutputsAndLineage()
    {
        var text = "a,b\n1,2\n3,4\n";
        var file = Write("incoming/batch 1.csv", text);
        var etag = LocalDataSource.ETagOf(new FileInfo(file));

        var result = await _h.RunAsync(new IngestStep(), new { source = "file:incoming/batch%201.csv".Replace("%20", " ", StringComparison.Ordinal), etag });

        var sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
        Assert.Equal(sha, StepHarness.Out(result, "sha256"));
        Assert.Equal(text.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), StepHarness.Out(result, "size"));
        Assert.Equal(etag, StepHarness.Out(result, "etag"));
        var dataset = StepHarness.Out(result, "dataset");
        Assert.EndsWith("/batch 1.csv", dataset, StringComparison.Ordinal);
        Assert.Equal(text, await _h.ReadTextAsync(dataset));
        using var lineage = JsonDocument.Parse(await _h.ReadTextAsync(dataset[..(dataset.LastIndexOf('/') + 1)] + "lineage.json"));
        var input = Assert.Single(lineage.RootElement.GetProperty("inputs").EnumerateArray());
        Assert.Equal("file:incoming/batch 1.csv", input.GetProperty("path").GetString());
        Assert.Equal(sha, input.GetProperty("sha256").GetString());
        Assert.Equal(etag, input.GetProperty("eTag").GetString());
    }

    [Fact]
    public async Task AFileChangedSinceTheTriggerSawIt_FailsForGood_NamingBothVersions()
    {
        var file = Write("incoming/x.csv", "a\n1\n");
        var seen = LocalDataSource.ETagOf(new FileInfo(file));
        File.WriteAllText(file, "a\n1\n2\n");
        File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(1));

        var e = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new IngestStep(), new { source = "file:incoming/x.csv", etag = seen }));

        Assert.False(e.Retryable);
        Assert.Contains("changed since", e.Message, StringComparison.Ordinal);
        Assert.Contains(seen, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("file:../outside.csv")]
    [InlineData("file:/etc/passwd")]
    [InlineData("file:incoming/../../outside.csv")]
    [InlineData("file:")]
    [InlineData("https://example.invalid/x.csv")]
    public async Task APathLeavingTheDataRoot_OrNotServed_IsRefused(string source)
    {
        File.WriteAllText(Path.Combine(_h.Root, "outside.csv"), "secret\n");

        var e = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new IngestStep(), new { source }));

        Assert.False(e.Retryable);
        Assert.Contains("input 'source'", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_h.Root, "artifacts"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task ASymbolicLinkLeadingOutOfTheRoot_IsRefused()
    {
        File.WriteAllText(Path.Combine(_h.Root, "outside.csv"), "secret\n");
        File.CreateSymbolicLink(Path.Combine(_data, "incoming", "link.csv"), Path.Combine(_h.Root, "outside.csv"));
        Directory.CreateSymbolicLink(Path.Combine(_data, "dirlink"), _h.Root);

        var file = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new IngestStep(), new { source = "file:incoming/link.csv" }));
        var dir = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new IngestStep(), new { source = "file:dirlink/outside.csv" }));

        Assert.Contains("symbolic link", file.Message, StringComparison.Ordinal);
        Assert.Contains("symbolic link", dir.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmptyMissingOrTooLargeObjects_FailWithTheirReason()
    {
        Write("incoming/empty.csv", "");
        Write("incoming/big.csv", new string('x', 1000));

        var empty = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new IngestStep(), new { source = "file:incoming/empty.csv" }));
        var missing = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new IngestStep(), new { source = "file:incoming/nope.csv" }));
        var big = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new IngestStep(), new { source = "file:incoming/big.csv", maxBytes = 999 }));
        var name = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new IngestStep(), new { source = "file:incoming/big.csv", name = "../x.csv" }));

        Assert.Contains("is empty", empty.Message, StringComparison.Ordinal);
        Assert.Contains("no such file", missing.Message, StringComparison.Ordinal);
        Assert.Contains("more than maxBytes (999)", big.Message, StringComparison.Ordinal);
        Assert.Contains("'name'", name.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AHostWithoutADataSource_SaysWhatToConfigure()
    {
        _h.Services = null;
        var e = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new IngestStep(), new { source = "file:x.csv" }));
        Assert.Contains("TRAINYARD_DATA_ROOT", e.Message, StringComparison.Ordinal);
    }

    private string Write(string relative, string text)
    {
        var path = Path.Combine(_data, relative);
        File.WriteAllText(path, text);
        return path;
    }
}
