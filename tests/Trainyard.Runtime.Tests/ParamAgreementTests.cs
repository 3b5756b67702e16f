using System.Text.Json;
using Trainyard.Core.Spec;

namespace Trainyard.Runtime.Tests;

/// <summary>
/// `plan` (Core's resolver) and `run` (the engine's request parsing) read `--param k=v` text through one parser: a
/// value one accepts the other accepts, with the same typed result.
/// </summary>
public sealed class ParamAgreementTests
{
    private static readonly PipelineSpec Spec = PipelineLoader.LoadOrThrow("""
        name: p
        params:
          xs: { type: list, default: [] }
          n: { type: integer, default: 1 }
          lr: { type: number, default: 0.1 }
          on: { type: boolean, default: false }
          s: { type: string, default: x }
        steps:
          - { id: a, uses: echo, with: { message: "${{ params.xs }} ${{ params.n }} ${{ params.lr }} ${{ params.on }} ${{ params.s }}" } }
        """, "p.yaml");

    public static TheoryData<string, string> Values => new()
    {
        { "xs", "[a, b]" },
        { "xs", "['a', \"b\"]" },
        { "xs", "[1,2]" },
        { "xs", "a,b" },
        { "xs", "" },
        { "xs", "[" },
        { "xs", "[a" },
        { "xs", "{\"a\":1}" },
        { "n", " 3" },
        { "n", "3 " },
        { "n", "-3" },
        { "n", "+3" },
        { "n", "3.0" },
        { "n", "1e3" },
        { "n", "99999999999999999999" },
        { "lr", "NaN" },
        { "lr", "1e400" },
        { "lr", "0,5" },
        { "on", "True" },
        { "on", "yes" },
        { "s", "a=b" },
        { "s", "\u001b[2J" },
    };

    [Theory]
    [MemberData(nameof(Values))]
    public void PlanAndRun_AcceptTheSameText_WithTheSameValue(string name, string text)
    {
        var plan = Core.Spec.ParamResolver.ResolveText(Spec, new Dictionary<string, string> { [name] = text });
        Dictionary<string, JsonElement>? run;
        try
        {
            run = Runtime.ParamResolver.ParseAssignments(Spec, [$"{name}={text}"]);
        }
        catch (RunRequestException)
        {
            run = null;
        }

        Assert.Equal(plan.Succeeded, run is not null);
        if (run is not null)
        {
            Assert.Equal(plan.Values[name].GetRawText(), run[name].GetRawText());
        }
    }
}
