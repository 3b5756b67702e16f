using System.Text;
using System.Text.Json;

namespace Trainyard.Core.Expressions;

/// <summary>A string that may embed `${{ expr }}`. A string that is exactly one expression evaluates to a typed value.</summary>
public sealed class Template
{
    private readonly IReadOnlyList<(string? Text, Expr? Expr, int Offset)> _parts;

    private Template(IReadOnlyList<(string?, Expr?, int)> parts) => _parts = parts;

    /// <summary>Whether the text holds any expression.</summary>
    public bool HasExpressions => _parts.Any(p => p.Expr is not null);

    /// <summary>The expressions in order.</summary>
    public IEnumerable<Expr> Expressions => _parts.Where(p => p.Expr is not null).Select(p => p.Expr!);

    /// <summary>The expressions in order, each with the offset of its text (just after `${{`) inside the template text.</summary>
    public IEnumerable<(Expr Expression, int Offset)> ExpressionSpans => _parts.Where(p => p.Expr is not null).Select(p => (p.Expr!, p.Offset));

    /// <summary>True when the text is a single `${{ }}` with nothing around it (result keeps its JSON type).</summary>
    public bool IsSingleExpression => _parts.Count == 1 && _parts[0].Expr is not null;

    /// <summary>Quick check without parsing.</summary>
    public static bool ContainsExpression(string text) => text.Contains("${{", StringComparison.Ordinal);

    /// <summary>Parses; positions in exceptions are offsets into <paramref name="text"/>.</summary>
    public static Template Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = new List<(string?, Expr?, int)>();
        int i = 0;
        while (i < text.Length)
        {
            int open = text.IndexOf("${{", i, StringComparison.Ordinal);
            if (open < 0)
            {
                parts.Add((text[i..], null, i));
                break;
            }

            if (open > i)
            {
                parts.Add((text[i..open], null, i));
            }

            int close = text.IndexOf("}}", open + 3, StringComparison.Ordinal);
            if (close < 0)
            {
                throw new ExpressionException("'${{' is not closed: add '}}'", open);
            }

            var inner = text[(open + 3)..close];
            try
            {
                parts.Add((null, ExpressionParser.Parse(inner), open + 3));
            }
            catch (ExpressionException ex)
            {
                throw new ExpressionException(ex.Message, open + 3 + ex.Position);
            }

            i = close + 2;
        }

        return new Template(parts);
    }

    /// <summary>Parses either a bare expression ("a == 1") or a wrapped one ("${{ a == 1 }}"), as used by `when` and `foreach`.</summary>
    public static Expr ParseCondition(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim();
        if (t.StartsWith("${{", StringComparison.Ordinal))
        {
            var tpl = Parse(t);
            if (!tpl.IsSingleExpression)
            {
                throw new ExpressionException("a condition must be one expression: put everything inside a single ${{ }}", 0);
            }

            return tpl.Expressions.First();
        }

        return ExpressionParser.Parse(text);
    }

    /// <summary>Evaluates: a single expression keeps its type, otherwise the pieces are joined as text.</summary>
    public JsonElement Evaluate(IExpressionScope scope)
    {
        if (IsSingleExpression)
        {
            return ExpressionEvaluator.Evaluate(_parts[0].Expr!, scope);
        }

        var sb = new StringBuilder();
        foreach (var (text, expr, _) in _parts)
        {
            sb.Append(expr is null ? text : ExpressionEvaluator.ToText(ExpressionEvaluator.Evaluate(expr, scope)));
        }

        return JsonSerializer.SerializeToElement(sb.ToString());
    }

    /// <summary>Resolves every string inside a JSON value (recursively) as a template.</summary>
    public static JsonElement ResolveDeep(JsonElement value, IExpressionScope scope)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                {
                    var s = value.GetString()!;
                    return ContainsExpression(s) ? Parse(s).Evaluate(scope) : value;
                }

            case JsonValueKind.Array:
                return JsonSerializer.SerializeToElement(value.EnumerateArray().Select(v => ResolveDeep(v, scope)).ToList());
            case JsonValueKind.Object:
                {
                    var dict = new Dictionary<string, JsonElement>();
                    foreach (var p in value.EnumerateObject())
                    {
                        dict[p.Name] = ResolveDeep(p.Value, scope);
                    }

                    return JsonSerializer.SerializeToElement(dict);
                }

            default:
                return value;
        }
    }
}
