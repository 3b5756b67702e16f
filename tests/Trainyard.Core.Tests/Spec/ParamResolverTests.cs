using System.Text.Json;
using Trainyard.Core.Spec;
using Trainyard.Core.Validation;

namespace Trainyard.Core.Tests.Spec;

public sealed class ParamResolverTests
{
    private static readonly PipelineSpec Spec = PipelineLoader.LoadOrThrow("""
        name: demo
        params:
          lr: { type: number, default: 0.1 }
          epochs: { type: integer, required: true }
          trainers: { type: list, default: [a] }
          deploy: { type: boolean }
        steps:
          - id: hello
            uses: echo
            with: { message: "${{ params.lr }} ${{ params.epochs }} ${{ params.trainers }} ${{ params.deploy }}" }
        """, "p.yaml");

    [Fact]
    public void ResolveText_ConvertsToDeclaredTypesAndFillsDefaults()
    {
        var r = ParamResolver.ResolveText(Spec, new Dictionary<string, string> { ["epochs"] = "5", ["trainers"] = "x, y", ["deploy"] = "true" });
        Assert.True(r.Succeeded);
        Assert.Equal(0.1, r.Values["lr"].GetDouble());
        Assert.Equal(5, r.Values["epochs"].GetInt64());
        Assert.Equal("[\"x\",\"y\"]", r.Values["trainers"].GetRawText());
        Assert.Equal(JsonValueKind.True, r.Values["deploy"].ValueKind);
    }

    [Fact]
    public void ResolveText_UnknownMissingAndMistyped_AreEachReported()
    {
        var r = ParamResolver.ResolveText(Spec, new Dictionary<string, string> { ["lrr"] = "1", ["lr"] = "fast" });
        Assert.Equal(
            [
                "TY021 3:3 'fast' is not a number",
                "TY033 1:1 the pipeline declares no param 'lrr' — did you mean 'lr'?",
                "TY033 4:3 required param 'epochs' has no value",
            ],
            r.Errors.Select(e => $"{e.Code} {e.Line}:{e.Column} {e.Message}").Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Resolve_OptionalWithoutValue_IsNull()
    {
        var r = ParamResolver.Resolve(Spec, new Dictionary<string, JsonElement> { ["epochs"] = JsonSerializer.SerializeToElement(3) });
        Assert.True(r.Succeeded);
        Assert.Equal(JsonValueKind.Null, r.Values["deploy"].ValueKind);
        Assert.Equal(DiagnosticCodes.ParamType, Assert.Single(ParamResolver.Resolve(Spec, new Dictionary<string, JsonElement> { ["epochs"] = JsonSerializer.SerializeToElement(2.5) }).Errors).Code);
    }
}
