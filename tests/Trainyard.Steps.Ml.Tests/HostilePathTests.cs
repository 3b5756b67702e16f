using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml.Tests;

/// <summary>
/// Paths a spec or a param gives a built-in step (output file names, input artifact paths, model names) are checked
/// against their root before anything is written: nothing lands outside, and the error names the step and the field.
/// </summary>
public sealed class HostilePathTests : IDisposable
{
    private readonly StepHarness _h = new();
    private readonly string _outside = Directory.CreateTempSubdirectory("ty-outside-").FullName;

    public void Dispose()
    {
        _h.Dispose();
        Directory.Delete(_outside, recursive: true);
    }

    public static TheoryData<string> EscapingNames => new()
    {
        "../escape.csv",
        "../../escape.csv",
        "sub/../../escape.csv",
        "..",
        ".",
        "a\\..\\..\\escape.csv",
        ".ty/meta/forged.json",
        "log.txt/../../escape.csv",
        "with\u001b[31mcolour.csv",
    };

    [Theory]
    [MemberData(nameof(EscapingNames))]
    public async Task GenerateData_OutputNameLeavingTheFolder_FailsNamingStepAndField_BeforeAnyWrite(string name)
    {
        var e = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new GenerateChurnDataStep(), new { rows = 10, name }));

        Assert.False(e.Retryable);
        Assert.Contains("generate-churn-data", e.Message, StringComparison.Ordinal);
        Assert.Contains("'name'", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFiles(_h.Root, "escape.csv", SearchOption.AllDirectories));
        Assert.False(File.Exists(Path.Combine(Path.GetTempPath(), "escape.csv")) && File.GetLastWriteTimeUtc(Path.Combine(Path.GetTempPath(), "escape.csv")) > DateTime.UtcNow.AddMinutes(-1));
    }

    [Fact]
    public async Task GenerateData_AbsoluteOutputName_WritesNothingThere()
    {
        var target = Path.Combine(_outside, "abs.csv");

        var e = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new GenerateChurnDataStep(), new { rows = 10, name = target }));

        Assert.Contains("'name'", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(target), "the step wrote outside its folder before failing");
    }

    [Fact]
    public async Task GenerateData_PlainNestedName_StillWorks()
    {
        var result = await _h.RunAsync(new GenerateChurnDataStep(), new { rows = 10, name = "sub/data.csv" });

        Assert.EndsWith("/sub/data.csv", StepHarness.Out(result, "dataset"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("runs/../../x.csv")]
    [InlineData(".ty/meta/x.json")]
    public async Task DatasetInputPathLeavingTheStore_FailsForGoodNamingTheField(string dataset)
    {
        var e = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new ValidateDataStep(), new { dataset, expectations = new { rowCount = new { min = 1 } } }));

        Assert.False(e.Retryable);
        Assert.Contains("'dataset'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TrainInputListWithAnEscapingPath_FailsForGoodNamingTheField()
    {
        var good = await _h.PutTextAsync("runs/r/t/d/train.csv", "x,label\n1,1\n0,0\n");

        var e = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new TrainMlnetStep(), new { train = new[] { good, "../outside.csv" }, label = "label", trainer = "sdca" }));

        Assert.False(e.Retryable);
        Assert.Contains("'train'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("...")]
    [InlineData(".ty")]
    [InlineData(".hidden")]
    public async Task RegisterModel_DotNames_AreRejectedNamingTheField(string name)
    {
        var model = await _h.PutTextAsync("runs/r/t/d/model.zip", "zip");

        var e = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new RegisterModelStep(), new { name, model }));

        Assert.False(e.Retryable);
        Assert.Contains("'name'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("/abs/x")]
    public async Task RegisterModel_DataPathLeavingTheStore_FailsNamingTheField(string data)
    {
        var model = await _h.PutTextAsync("runs/r/t/d/model.zip", "zip");

        var e = await Assert.ThrowsAsync<StepFailedException>(() => _h.RunAsync(new RegisterModelStep(), new { name = "m", model, data = new[] { data } }));

        Assert.False(e.Retryable);
        Assert.Contains("'data'", e.Message, StringComparison.Ordinal);
    }
}
