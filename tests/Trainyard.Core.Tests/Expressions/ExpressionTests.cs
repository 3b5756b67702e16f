using System.Text.Json;
using Trainyard.Core.Expressions;

namespace Trainyard.Core.Tests.Expressions;

public sealed class ExpressionTests
{
    private static readonly JsonScope Scope = new(JsonDocument.Parse("""
        {"params":{"lr":0.1,"name":"churn","deploy":true,"trainers":["a","b"]},
         "steps":{"select-best":{"outputs":{"auc":0.91}}},"item":{"trainer":"fasttree"},"run":{"id":"r1"}}
        """).RootElement);

    [Theory]
    [InlineData("params.lr == 0.1", true)]
    [InlineData("steps.select-best.outputs.auc >= 0.9 && params.deploy", true)]
    [InlineData("!params.deploy || params.name != 'churn'", false)]
    [InlineData("item.trainer == 'fasttree'", true)]
    [InlineData("params.trainers[1] == 'b'", true)]
    [InlineData("(1 < 2) && ('a' < 'b')", true)]
    public void Evaluate_Condition_GivesExpectedTruth(string text, bool expected)
    {
        var value = ExpressionEvaluator.Evaluate(ExpressionParser.Parse(text), Scope);
        Assert.Equal(expected, ExpressionEvaluator.IsTruthy(value));
    }

    [Fact]
    public void Template_SingleExpression_KeepsType()
    {
        var v = Template.Parse("${{ params.trainers }}").Evaluate(Scope);
        Assert.Equal(JsonValueKind.Array, v.ValueKind);
    }

    [Fact]
    public void Template_Mixed_Interpolates()
    {
        var v = Template.Parse("model-${{ params.name }}-${{ run.id }}.zip").Evaluate(Scope);
        Assert.Equal("model-churn-r1.zip", v.GetString());
    }

    [Theory]
    [InlineData("params.lr = 1", 10)]
    [InlineData("params.", 7)]
    [InlineData("'open", 0)]
    [InlineData("(a", 2)]
    public void Parse_BadText_ReportsPosition(string text, int position)
    {
        var ex = Assert.Throws<ExpressionException>(() => ExpressionParser.Parse(text));
        Assert.Equal(position, ex.Position);
    }

    [Fact]
    public void Evaluate_UnknownReference_NamesIt()
    {
        var ex = Assert.Throws<ExpressionException>(() => ExpressionEvaluator.Evaluate(ExpressionParser.Parse("params.nope"), Scope));
        Assert.Contains("params.nope", ex.Message, StringComparison.Ordinal);
    }
}
