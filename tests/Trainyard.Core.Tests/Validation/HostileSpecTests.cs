using Trainyard.Core.Spec;
using Trainyard.Core.Validation;

namespace Trainyard.Core.Tests.Validation;

/// <summary>
/// Specs a hostile or careless author writes: paths and names that would leave their root, and the gaps `validate`
/// used to let through to run time. Each is an error at `validate` time naming the place.
/// </summary>
public sealed class HostileSpecTests
{
    private static LoadResult Load(string yaml) => PipelineLoader.Load(yaml, "h.yaml");

    private static Diagnostic SingleError(string yaml)
    {
        var r = Load(yaml);
        Assert.Null(r.Spec);
        return Assert.Single(r.Errors);
    }

    [Theory]
    [InlineData("generate-churn-data", "name", "../../escape.csv")]
    [InlineData("generate-churn-data", "name", "/etc/cron.d/x")]
    [InlineData("generate-churn-data", "name", "a/./b.csv")]
    [InlineData("write-file", "name", "../x.txt")]
    [InlineData("write-file", "name", ".ty/meta/forged")]
    [InlineData("ingest", "name", "sub/x.csv")]
    [InlineData("validate-data", "dataset", "../../etc/passwd")]
    [InlineData("features", "dataset", "C:/Windows/win.ini")]
    [InlineData("register-model", "name", "..")]
    [InlineData("register-model", "name", ".")]
    [InlineData("register-model", "name", ".hidden")]
    [InlineData("register-model", "model", "runs//model.zip")]
    [InlineData("promote-model", "name", "../m")]
    public void PathOrNameLeavingItsRoot_IsAnErrorAtValidate_NamingStepAndField(string uses, string input, string value)
    {
        var inputs = RequiredInputs(uses, input, value);
        var d = SingleError($"""
            name: p
            steps:
              - id: s
                uses: {uses}
                with: {inputs}
            """);

        Assert.Equal(DiagnosticCodes.InvalidValue, d.Code);
        Assert.Equal("s", d.StepId);
        Assert.Contains($"input '{input}'", d.Message, StringComparison.Ordinal);
        Assert.Equal(5, d.Line);
    }

    [Fact]
    public void PathListElementLeavingTheStore_IsAnErrorNamingTheElement()
    {
        var d = SingleError("""
            name: p
            steps:
              - id: s
                uses: train-mlnet
                with: { train: [runs/r/a.csv, /etc/passwd], label: y, trainer: sdca }
            """);

        Assert.Equal(DiagnosticCodes.InvalidValue, d.Code);
        Assert.Contains("'/etc/passwd'", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PathsGivenByExpressions_AreLeftToRunTime()
    {
        var r = Load("""
            name: p
            params: { data: { type: string, default: x.csv } }
            steps:
              - { id: s, uses: validate-data, with: { dataset: "${{ params.data }}", expectations: {} } }
            """);

        Assert.Empty(r.Errors);
    }

    [Fact]
    public void ControlCharactersInAValue_AreEscapedInTheMessage()
    {
        var d = SingleError("""
            name: p
            steps:
              - { id: s, uses: write-file, with: { name: "a\e[31m/../b", content: x } }
            """);

        Assert.DoesNotContain('\u001b', d.Message);
        Assert.Contains("\\e[31m", d.Message, StringComparison.Ordinal);
    }

    private static string RequiredInputs(string uses, string input, string value)
    {
        var extra = uses switch
        {
            "write-file" => ", content: x",
            "validate-data" => ", expectations: {}",
            "features" => ", label: y",
            "register-model" => input == "name" ? ", model: runs/r/t/d/model.zip" : ", name: m",
            "promote-model" => ", stage: staging, version: 1",
            "ingest" => ", source: \"file:x.csv\"",
            _ => "",
        };
        return $"{{ {input}: \"{value}\"{extra} }}";
    }
}
