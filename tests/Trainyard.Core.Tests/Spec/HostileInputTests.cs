using FsCheck.Xunit;
using Trainyard.Core.Spec;
using Trainyard.Testing;

namespace Trainyard.Core.Tests.Spec;

/// <summary>Bad input never crashes the loader: mangled pipeline files give diagnostics with positions, not exceptions.</summary>
public sealed class HostileInputTests
{
    private static readonly string Churn = File.ReadAllText(RepoPaths.Of("samples", "churn", "pipeline.yaml"));
    private const string Noise = ":{}[]-'\"\t\n #&*!|>%@`,?$\\0x.";

    [Property(MaxTest = 400)]
    public bool MangledChurnSample_LoadsWithoutThrowing((ushort At, byte Kind, byte Char)[] edits)
    {
        var text = new System.Text.StringBuilder(Churn);
        foreach (var (at, kind, ch) in edits ?? [])
        {
            int i = at % (text.Length + 1);
            char c = Noise[ch % Noise.Length];
            switch (kind % 3)
            {
                case 0:
                    text.Insert(i, c);
                    break;
                case 1 when i < text.Length:
                    text.Remove(i, 1);
                    break;
                case 2 when i < text.Length:
                    text[i] = c;
                    break;
                default:
                    break;
            }
        }

        var result = PipelineLoader.Load(text.ToString(), "mangled.yaml");
        int lines = text.ToString().Split('\n').Length + 1;
        return (result.Spec is null) == result.Errors.Any()
            && result.Diagnostics.All(d => d.File == "mangled.yaml" && d.Line >= 1 && d.Line <= lines && d.Column >= 1 && d.Message.Length > 0 && d.Help.Length > 0);
    }

    [Theory]
    [InlineData("just a string")]
    [InlineData("- a\n- b\n")]
    [InlineData("name: x\nsteps: {}\n")]
    [InlineData("name: x\nsteps:\n\t- id: a\n")]
    [InlineData("name: x\nsteps:\n  - *nope\n")]
    [InlineData("{[a]: b}")]
    [InlineData("name: x\nsteps:\n  - id: a\n    uses: echo\n    with: { message: \"${{ params. }}\" }\n")]
    [InlineData("name: x\nsteps:\n  - id: a\n    uses: echo\n    when: \"${{ true }} and ${{ false }}\"\n")]
    [InlineData("%YAML 1.1\n---\nname: x\n")]
    [InlineData("name: x\nsteps:\n  - id: a\n    uses: echo\n    foreach: \"${{ 'a' }}\"\n")]
    [InlineData("!![\t# the CI find, shrunk\nname: x\n")]
    [InlineData("name: !<x y> z\n")]
    [InlineData("name: x\nsteps: !<%> []\n")]
    [InlineData("%YAML 99999999999.1\n---\nname: x\n")]
    [InlineData("%TAG ! \n---\nname: !a x\n")]
    public void OddDocuments_GiveErrorsNotExceptions(string yaml)
    {
        var result = PipelineLoader.Load(yaml, "odd.yaml");
        Assert.Null(result.Spec);
        Assert.NotEmpty(result.Errors);
    }

    [Fact]
    public void TagThatIsNotAUri_IsASyntaxErrorWithAPosition()
    {
        // Found by MangledChurnSample_LoadsWithoutThrowing in CI: YamlDotNet throws ArgumentException("Global tags must be
        // valid URIs") for a tag like this, which escaped the loader.
        var result = PipelineLoader.Load("name: demo\nsteps:\n  - id: a\n    uses: !![echo]\n", "tagged.yaml");

        Assert.Null(result.Spec);
        var error = Assert.Single(result.Errors);
        Assert.Equal("tagged.yaml", error.File);
        Assert.Contains("tag", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Parameter", error.Message, StringComparison.Ordinal);
        Assert.InRange(error.Line, 3, 4);
    }
}
