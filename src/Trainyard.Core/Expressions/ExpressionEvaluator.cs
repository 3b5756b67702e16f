using System.Globalization;
using System.Text.Json;

namespace Trainyard.Core.Expressions;

/// <summary>Supplies values for references during evaluation.</summary>
public interface IExpressionScope
{
    /// <summary>Resolves a whole reference path (e.g. ["steps","train","outputs","auc"]); null when it does not exist.</summary>
    JsonElement? Resolve(IReadOnlyList<string> path);
}

/// <summary>A scope over a JSON object whose top-level keys are the roots (params, steps, item, run).</summary>
public sealed class JsonScope(JsonElement root) : IExpressionScope
{
    /// <inheritdoc />
    public JsonElement? Resolve(IReadOnlyList<string> path)
    {
        JsonElement cur = root;
        foreach (var seg in path)
        {
            if (cur.ValueKind == JsonValueKind.Object && cur.TryGetProperty(seg, out var next))
            {
                cur = next;
            }
            else if (cur.ValueKind == JsonValueKind.Array && int.TryParse(seg, NumberStyles.None, CultureInfo.InvariantCulture, out int i) && i < cur.GetArrayLength())
            {
                cur = cur[i];
            }
            else
            {
                return null;
            }
        }

        return cur;
    }
}

/// <summary>Evaluates expressions. Pure: the same expression and scope always give the same value.</summary>
public static class ExpressionEvaluator
{
    private static readonly JsonElement True = JsonSerializer.SerializeToElement(true);
    private static readonly JsonElement False = JsonSerializer.SerializeToElement(false);

    /// <summary>Evaluates an expression; an unknown reference throws <see cref="ExpressionException"/> naming it.</summary>
    public static JsonElement Evaluate(Expr expr, IExpressionScope scope)
    {
        ArgumentNullException.ThrowIfNull(expr);
        ArgumentNullException.ThrowIfNull(scope);
        switch (expr)
        {
            case LiteralExpr l:
                return l.Value;
            case RefExpr r:
                return scope.Resolve(r.Path) ?? throw new ExpressionException($"'{r.Text}' has no value in this run", r.Position);
            case UnaryExpr u:
                return IsTruthy(Evaluate(u.Operand, scope)) ? False : True;
            case BinaryExpr { Op: "&&" } b:
                {
                    var left = Evaluate(b.Left, scope);
                    return IsTruthy(left) ? Evaluate(b.Right, scope) : left;
                }

            case BinaryExpr { Op: "||" } b:
                {
                    var left = Evaluate(b.Left, scope);
                    return IsTruthy(left) ? left : Evaluate(b.Right, scope);
                }

            case BinaryExpr b:
                {
                    var left = Evaluate(b.Left, scope);
                    var right = Evaluate(b.Right, scope);
                    bool result = b.Op switch
                    {
                        "==" => JsonEquals(left, right),
                        "!=" => !JsonEquals(left, right),
                        _ => Compare(b.Op, left, right, b.Position),
                    };
                    return result ? True : False;
                }

            default:
                throw new ExpressionException("unknown expression node", expr.Position);
        }
    }

    /// <summary>false, null, 0, "" and missing are false; everything else is true.</summary>
    public static bool IsTruthy(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.False or JsonValueKind.Null or JsonValueKind.Undefined => false,
        JsonValueKind.Number => v.GetDouble() != 0,
        JsonValueKind.String => v.GetString()!.Length > 0,
        _ => true,
    };

    /// <summary>Structural equality; numbers compare by value, strings ordinally.</summary>
    public static bool JsonEquals(JsonElement a, JsonElement b)
    {
        if (a.ValueKind == JsonValueKind.Number && b.ValueKind == JsonValueKind.Number)
        {
            return a.GetDouble() == b.GetDouble();
        }

        if (a.ValueKind != b.ValueKind)
        {
            return false;
        }

        return a.ValueKind switch
        {
            JsonValueKind.String => a.GetString() == b.GetString(),
            JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null => true,
            JsonValueKind.Array => a.GetArrayLength() == b.GetArrayLength() && a.EnumerateArray().Zip(b.EnumerateArray()).All(p => JsonEquals(p.First, p.Second)),
            JsonValueKind.Object => a.EnumerateObject().Count() == b.EnumerateObject().Count()
                && a.EnumerateObject().All(p => b.TryGetProperty(p.Name, out var bv) && JsonEquals(p.Value, bv)),
            _ => false,
        };
    }

    private static bool Compare(string op, JsonElement a, JsonElement b, int pos)
    {
        int c;
        if (a.ValueKind == JsonValueKind.Number && b.ValueKind == JsonValueKind.Number)
        {
            c = a.GetDouble().CompareTo(b.GetDouble());
        }
        else if (a.ValueKind == JsonValueKind.String && b.ValueKind == JsonValueKind.String)
        {
            c = string.CompareOrdinal(a.GetString(), b.GetString());
        }
        else
        {
            throw new ExpressionException($"cannot compare {Describe(a)} with {Describe(b)} using '{op}': both sides must be numbers or both strings", pos);
        }

        return op switch
        {
            "<" => c < 0,
            "<=" => c <= 0,
            ">" => c > 0,
            ">=" => c >= 0,
            _ => throw new ExpressionException($"unknown operator '{op}'", pos),
        };
    }

    private static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Number => "a number",
        JsonValueKind.String => "a string",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        JsonValueKind.Array => "a list",
        _ => "an object",
    };

    /// <summary>Renders a value for string interpolation: strings as-is, everything else as compact JSON.</summary>
    public static string ToText(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString()!,
        JsonValueKind.Null => "",
        _ => v.GetRawText(),
    };
}
