using Trainyard.Core.Spec;
using Trainyard.Core.Validation;

namespace Trainyard.Core.Tests.Validation;

/// <summary>Specs `validate` used to accept and run time then refused or ran wrongly: each is an error naming its place.</summary>
public sealed class ValidationGapTests
{
    private static Diagnostic SingleError(string yaml)
    {
        var r = PipelineLoader.Load(yaml, "g.yaml");
        Assert.Null(r.Spec);
        return Assert.Single(r.Errors);
    }

    [Theory]
    [InlineData("name: p\nsteps: []\n")]
    [InlineData("name: p\nsteps:\n")]
    public void EmptySteps_IsAnError(string yaml)
    {
        var d = SingleError(yaml);

        Assert.Contains("steps", d.Message + d.Field, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("[\"\"]")]
    [InlineData("[\"   \"]")]
    public void EmptyCommand_IsAnErrorNamingTheStep(string command)
    {
        var d = SingleError($"name: p\nsteps:\n  - id: a\n    run: {{ command: {command} }}\n");

        Assert.Equal("a", d.StepId);
        Assert.Contains("command", d.Field, StringComparison.Ordinal);
        Assert.Equal(4, d.Line);
    }

    [Theory]
    [InlineData("${{ steps.a.result }}")]
    [InlineData("${{ steps.a.status.code }}")]
    [InlineData("${{ steps.a.outputs.nope }}")]
    [InlineData("${{ params.lr.value }}")]
    [InlineData("${{ params.lr[0] }}")]
    [InlineData("${{ params.list.first }}")]
    [InlineData("${{ params['lr']['x'] }}")]
    public void ExpressionReachingAnUndeclaredProperty_IsAnError(string expression)
    {
        var d = SingleError($$"""
            name: p
            params: { lr: { type: number, default: 0.1 }, list: { type: list, default: [1] } }
            steps:
              - { id: a, run: { command: [x] }, outputs: [x] }
              - { id: b, uses: echo, needs: a, with: { message: "{{expression}}" } }
            """);

        Assert.Equal("b", d.StepId);
        Assert.Equal(5, d.Line);
    }

    [Theory]
    [InlineData("${{ steps.a.outputs.x }}")]
    [InlineData("${{ steps.a.outputs }}")]
    [InlineData("${{ params.lr }}")]
    [InlineData("${{ params.list[0] }}")]
    [InlineData("${{ steps.a.outputs.x.y[0] }}")]
    public void DeclaredOutputsAndParamFields_AreAccepted(string expression)
    {
        var r = PipelineLoader.Load($$"""
            name: p
            params:
              lr: { type: number, default: 0.1 }
              list: { type: list, default: [1, 2] }
            steps:
              - { id: a, run: { command: [x] }, outputs: [x] }
              - { id: b, uses: echo, needs: a, with: { message: "{{expression}}" } }
            """, "g.yaml");

        Assert.Empty(r.Errors);
    }
}
