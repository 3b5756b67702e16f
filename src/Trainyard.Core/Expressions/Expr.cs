using System.Text.Json;

namespace Trainyard.Core.Expressions;

/// <summary>A parsed `${{ }}` expression. Only literals, references, comparison and boolean logic: no code runs.</summary>
public abstract record Expr
{
    /// <summary>Offset of the node in the expression text (0-based).</summary>
    public int Position { get; init; }

    /// <summary>Every reference in this expression, in order.</summary>
    public IEnumerable<RefExpr> References() => this switch
    {
        RefExpr r => [r],
        UnaryExpr u => u.Operand.References(),
        BinaryExpr b => b.Left.References().Concat(b.Right.References()),
        _ => [],
    };
}

/// <summary>A literal string, number, boolean or null.</summary>
public sealed record LiteralExpr(JsonElement Value) : Expr;

/// <summary>A dotted/indexed reference such as `params.lr`, `steps.train.outputs.auc`, `item.name`, `run.id`.</summary>
public sealed record RefExpr(IReadOnlyList<string> Path) : Expr
{
    /// <summary>The path joined with dots, as written (indices as `[n]`).</summary>
    public string Text => string.Join('.', Path);
}

/// <summary>`!x`.</summary>
public sealed record UnaryExpr(string Op, Expr Operand) : Expr;

/// <summary>`a == b`, `a &amp;&amp; b`, ...</summary>
public sealed record BinaryExpr(string Op, Expr Left, Expr Right) : Expr;

/// <summary>A bad expression: what is wrong and where (0-based offset into the expression text).</summary>
public sealed class ExpressionException(string message, int position) : Exception(message)
{
    /// <summary>Offset into the expression text.</summary>
    public int Position { get; } = position;
}
