using System.Text.RegularExpressions;
using Trainyard.Core.Spec;
using Trainyard.Core.Validation;
using Trainyard.Testing;

namespace Trainyard.Core.Tests.Spec;

/// <summary>
/// Every file in samples/invalid shows one class of diagnostic and lists, in `# expect:` comments at its end, exactly what
/// validation reports: severity, code, line:column and message. One test case per file, so one per diagnostic class.
/// </summary>
public sealed partial class InvalidSamplesTests
{
    [GeneratedRegex(@"^# expect: (error|warning) (TY\d{3}) (\d+):(\d+) (.+)$")]
    private static partial Regex ExpectLine();

    public static TheoryData<string> InvalidFiles()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(RepoPaths.Of("samples", "invalid"), "*.yaml").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(f));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(InvalidFiles))]
    public void InvalidSample_ReportsExactlyItsExpectedDiagnostics(string name)
    {
        var path = RepoPaths.Of("samples", "invalid", name);
        var text = File.ReadAllText(path);
        var expected = text.Split('\n').Select(l => ExpectLine().Match(l.TrimEnd('\r'))).Where(m => m.Success)
            .Select(m => $"{m.Groups[1].Value} {m.Groups[2].Value} {m.Groups[3].Value}:{m.Groups[4].Value} {m.Groups[5].Value}")
            .ToList();
        Assert.NotEmpty(expected);

        var result = PipelineLoader.Load(text, name);
        var actual = result.Diagnostics
            .Select(d => $"{(d.Severity == Severity.Error ? "error" : "warning")} {d.Code} {d.Line}:{d.Column} {d.Message}")
            .ToList();
        Assert.Equal(expected, actual);

        // The file name says which code it shows.
        var code = "TY" + name[2..5];
        Assert.Contains(result.Diagnostics, d => d.Code == code);
        Assert.All(result.Diagnostics, d => Assert.False(string.IsNullOrWhiteSpace(d.Help)));
        Assert.Equal(result.Errors.Any(), result.Spec is null);
    }

    [Fact]
    public void InvalidSamples_CoverEveryDiagnosticCodeButRunParams()
    {
        var codes = typeof(DiagnosticCodes).GetFields().Select(f => (string)f.GetValue(null)!).ToHashSet();
        var shown = Directory.GetFiles(RepoPaths.Of("samples", "invalid"), "*.yaml").Select(f => "TY" + Path.GetFileName(f)[2..5]).ToHashSet();
        codes.Remove(DiagnosticCodes.RunParam); // about values given to a run, not about a file: covered by ParamResolverTests
        Assert.Empty(codes.Except(shown));
    }

    [Fact]
    public void ChurnSample_ValidatesWithoutErrorsOrWarnings()
    {
        var result = LoadFile(RepoPaths.Of("samples", "churn", "pipeline.yaml"));
        Assert.Empty(result.Diagnostics);
        var spec = Assert.IsType<PipelineSpec>(result.Spec);
        Assert.Equal("churn-retrain", spec.Name);
        var graph = PipelineGraph.FromSpec(spec);

        // The shape the sample exists to show: parallel feature sets, a foreach train matrix, a conditional promotion.
        Assert.Contains(graph.Stages(), stage => stage.Count(id => spec.FindStep(id)!.Uses == "features") == 2);
        Assert.Contains(spec.Steps, s => s.Uses == "train-mlnet" && s.Foreach is not null);
        Assert.Contains(spec.Steps, s => s.Uses == "promote-model" && s.When is not null);
        foreach (var uses in new[] { "validate-data", "select-best", "quality-gate", "register-model" })
        {
            Assert.Contains(spec.Steps, s => s.Uses == uses);
        }
    }

    public static TheoryData<string> OtherSamples()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(RepoPaths.Of("samples"), "pipeline.yaml", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(RepoPaths.Root, f));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(OtherSamples))]
    public void EverySamplePipeline_Validates(string relativePath)
    {
        var result = LoadFile(RepoPaths.Of(relativePath));
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics.Select(d => d.Format())));
    }

    // Core reads no files: the test reads the file, as every host does.
    private static LoadResult LoadFile(string path) => PipelineLoader.Load(File.ReadAllText(path), path);
}
