using System.Text.Json;
using Trainyard.Core.Spec;
using Trainyard.Core.Steps;
using Trainyard.Core.Validation;

namespace Trainyard.Core.Tests.Validation;

public sealed class ValidatorTests
{
    private static LoadResult Load(string yaml, StepCatalog? catalog = null) => PipelineLoader.Load(yaml, "v.yaml", catalog);

    [Fact]
    public void Reference_ToTransitiveAncestor_IsAllowed()
    {
        var r = Load("""
            name: demo
            steps:
              - { id: a, uses: echo, with: { message: x } }
              - { id: b, uses: echo, needs: a }
              - { id: c, uses: echo, needs: b, with: { message: "${{ steps.a.outputs.message }}" } }
            """);
        Assert.Empty(r.Diagnostics);
    }

    [Fact]
    public void EchoOutputs_IncludeItsInputs_AndWholeOutputsReferenceIsAllowed()
    {
        var r = Load("""
            name: demo
            steps:
              - { id: a, uses: echo, with: { score: 3 } }
              - id: b
                run: { command: [x], }
                outputs: [auc, f1]
              - { id: c, uses: echo, needs: [a, b], with: { message: "${{ steps.a.outputs.score }} ${{ steps.b.outputs }}" } }
            """);
        Assert.Empty(r.Diagnostics);
    }

    [Fact]
    public void Item_InsideForeachStep_IsAllowed_ButNotInItsOwnList()
    {
        var r = Load("""
            name: demo
            steps:
              - id: a
                uses: echo
                foreach: [x, y]
                when: item != 'y'
                with: { message: "${{ item }}" }
              - id: b
                uses: echo
                foreach: "${{ item }}"
            """);
        var d = Assert.Single(r.Diagnostics);
        Assert.Equal((DiagnosticCodes.ItemOutsideForeach, 10, 19), (d.Code, d.Line, d.Column));
        Assert.Equal("the foreach list itself cannot use item: reference a param or a step output", d.Help);
    }

    [Fact]
    public void BuiltinExecutorWithRun_AndBuiltinOnBatch_AreErrors()
    {
        var r = Load("""
            name: demo
            steps:
              - { id: a, run: { command: [x] }, executor: builtin }
              - { id: b, uses: echo, executor: batch }
            """);
        Assert.Equal(
            ["TY028 3:47 executor 'builtin' runs built-in steps only, but this step has `run`", "TY028 4:36 built-in step 'echo' runs in-process, so it cannot use executor 'batch'"],
            r.Diagnostics.Select(d => $"{d.Code} {d.Line}:{d.Column} {d.Message}"));
    }

    [Fact]
    public void CatalogPassedIn_DecidesWhichBuiltinsExist()
    {
        var catalog = new StepCatalog([new BuiltinStepInfo("custom", "1", "A host's own step") { Inputs = [new StepInputInfo("n", "integer", true, "A count.")], Outputs = ["out"] }]);
        var r = Load("""
            name: demo
            steps:
              - { id: a, uses: custom, with: { n: many } }
              - { id: b, uses: echo }
            """, catalog);
        Assert.Equal(["TY032 3:39", "TY025 4:20"], r.Diagnostics.Select(d => $"{d.Code} {d.Line}:{d.Column}"));
    }

    [Fact]
    public void Validate_SpecBuiltInCode_UsesStepLocationsAndSourceName()
    {
        var spec = new PipelineSpec
        {
            Name = "demo",
            Source = "api",
            Steps = [new StepSpec { Id = "a", Uses = "echo", Needs = ["nope"], Location = new SourceLocation("api", 7, 3) }],
        };
        var d = Assert.Single(PipelineValidator.Validate(spec));
        Assert.Equal(("api", 7, 3, DiagnosticCodes.UnknownNeed), (d.File, d.Line, d.Column, d.Code));
    }

    [Fact]
    public void StatusEventsAndRunFields_MatchWhatTheDeciderResolves()
    {
        var r = Load("""
            name: demo
            steps:
              - { id: a, uses: echo }
              - { id: b, uses: echo, needs: a, when: "steps.a.status == 'succeeded' && events.approval.ok", with: { message: "${{ run.id }} ${{ run.retryOf }} ${{ run.startedAt }}" } }
            """);
        var d = Assert.Single(r.Diagnostics);
        Assert.Equal((DiagnosticCodes.UnknownReference, 4, 152), (d.Code, d.Line, d.Column));
        Assert.Equal("unknown run field 'startedAt'", d.Message);
    }

    [Fact]
    public void AlwaysFalseWhen_WarnsButStillLoads()
    {
        var r = Load("name: demo\nsteps:\n  - id: a\n    uses: echo\n    when: false\n");
        Assert.NotNull(r.Spec);
        Assert.Equal(DiagnosticCodes.AlwaysSkipped, Assert.Single(r.Warnings).Code);
    }

    [Fact]
    public void TriggerParamExpressions_MayUseTrigger_StepsMayNot()
    {
        var r = Load("""
            name: demo
            params:
              path: { type: string, default: x }
            triggers:
              - { type: blob, container: data, path: "a/{name}.csv", params: { path: "${{ trigger.path }}" } }
            steps:
              - { id: a, uses: echo, with: { message: "${{ params.path }} ${{ trigger.path }}" } }
            """);
        var d = Assert.Single(r.Diagnostics);
        Assert.Equal((DiagnosticCodes.UnknownReference, 7, 67), (d.Code, d.Line, d.Column));
    }

    [Fact]
    public void Diagnostic_Format_ShowsStepIdInsteadOfIndex()
    {
        var d = new Diagnostic(Severity.Error, "TY012", "p.yaml", 3, 12, "train", "steps[3].needs[0]", "unknown step 'traim' — did you mean 'train'?", "change it to 'train'");
        Assert.Equal("p.yaml:3:12: error TY012: steps.train.needs[0]: unknown step 'traim' — did you mean 'train'?\n    help: change it to 'train'", d.Format());
        Assert.Equal("""{"severity":"error","code":"TY012","file":"p.yaml","line":3,"column":12,"stepId":"train","field":"steps[3].needs[0]","message":"unknown step \u0027traim\u0027 \u2014 did you mean \u0027train\u0027?","help":"change it to \u0027train\u0027"}""",
            JsonSerializer.Serialize(d, Trainyard.Core.Engine.EngineJson.Options));
    }

    [Theory]
    [InlineData("traim", "train")]
    [InlineData("retires", "retry")]
    [InlineData("Train", "train")]
    [InlineData("xyzzy", null)]
    public void Suggest_FindsLikelyTypos(string input, string? expected) => Assert.Equal(expected, Suggest.Closest(input, ["train", "retry", "timeout", "evaluate"]));
}
