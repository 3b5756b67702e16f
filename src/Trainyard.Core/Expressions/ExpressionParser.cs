using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Trainyard.Core.Expressions;

/// <summary>Parses expression text (without the `${{ }}` wrapper) into an <see cref="Expr"/>.</summary>
/// <remarks>
/// Grammar: or := and ('||' and)*; and := cmp ('&amp;&amp;' cmp)*; cmp := unary (('=='|'!='|'&lt;'|'&lt;='|'&gt;'|'&gt;=') unary)?;
/// unary := '!' unary | primary; primary := literal | ref | '(' or ')'; ref := ident ('.' ident | '[' (int|'string') ']')*.
/// Identifiers may contain '-' because step ids do; there is no arithmetic, so no ambiguity.
/// </remarks>
public static class ExpressionParser
{
    /// <summary>Longest expression accepted, so hostile specs cannot exhaust memory.</summary>
    public const int MaxLength = 4096;

    /// <summary>Deepest nesting of parentheses and `!` accepted.</summary>
    public const int MaxDepth = 64;

    /// <summary>Parses text, throwing <see cref="ExpressionException"/> with a position on error.</summary>
    public static Expr Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > MaxLength)
        {
            throw new ExpressionException($"expression is {text.Length} characters long; the limit is {MaxLength}", 0);
        }

        var p = new Parser(text);
        p.SkipWs();
        if (p.AtEnd)
        {
            throw new ExpressionException("expression is empty: write a value or a reference such as params.name", 0);
        }

        var e = p.ParseOr(0);
        p.SkipWs();
        if (!p.AtEnd)
        {
            throw new ExpressionException($"unexpected '{text[p.Pos]}' after a complete expression", p.Pos);
        }

        return e;
    }

    private sealed class Parser(string s)
    {
        public int Pos;

        public bool AtEnd => Pos >= s.Length;

        public void SkipWs()
        {
            while (Pos < s.Length && char.IsWhiteSpace(s[Pos]))
            {
                Pos++;
            }
        }

        private bool Eat(string tok)
        {
            SkipWs();
            if (string.CompareOrdinal(s, Pos, tok, 0, tok.Length) == 0)
            {
                Pos += tok.Length;
                return true;
            }

            return false;
        }

        public Expr ParseOr(int depth)
        {
            var left = ParseAnd(depth);
            while (true)
            {
                SkipWs();
                int at = Pos;
                if (!Eat("||"))
                {
                    return left;
                }

                left = new BinaryExpr("||", left, ParseAnd(depth)) { Position = at };
            }
        }

        private Expr ParseAnd(int depth)
        {
            var left = ParseCmp(depth);
            while (true)
            {
                SkipWs();
                int at = Pos;
                if (!Eat("&&"))
                {
                    return left;
                }

                left = new BinaryExpr("&&", left, ParseCmp(depth)) { Position = at };
            }
        }

        private static readonly string[] CmpOps = ["==", "!=", "<=", ">=", "<", ">"];

        private Expr ParseCmp(int depth)
        {
            var left = ParseUnary(depth);
            SkipWs();
            int at = Pos;
            foreach (var op in CmpOps)
            {
                if (Eat(op))
                {
                    var right = ParseUnary(depth);
                    return new BinaryExpr(op, left, right) { Position = at };
                }
            }

            if (!AtEnd && (s[Pos] == '=' || (s[Pos] == '&' && !Peek("&&")) || (s[Pos] == '|' && !Peek("||"))))
            {
                throw new ExpressionException($"'{s[Pos]}' is not an operator: use ==, !=, &&, ||", Pos);
            }

            return left;
        }

        private bool Peek(string tok) => string.CompareOrdinal(s, Pos, tok, 0, tok.Length) == 0;

        private Expr ParseUnary(int depth)
        {
            if (depth > MaxDepth)
            {
                throw new ExpressionException($"expression nests deeper than {MaxDepth} levels", Pos);
            }

            SkipWs();
            int at = Pos;
            if (!Peek("!=") && Eat("!"))
            {
                return new UnaryExpr("!", ParseUnary(depth + 1)) { Position = at };
            }

            return ParsePrimary(depth);
        }

        private Expr ParsePrimary(int depth)
        {
            SkipWs();
            int at = Pos;
            if (AtEnd)
            {
                throw new ExpressionException("expression ends where a value was expected", Pos);
            }

            char c = s[Pos];
            if (c == '(')
            {
                Pos++;
                var inner = ParseOr(depth + 1);
                if (!Eat(")"))
                {
                    throw new ExpressionException("missing ')'", Pos);
                }

                return inner;
            }

            if (c == '\'' || c == '"')
            {
                return new LiteralExpr(JsonSerializer.SerializeToElement(ReadString())) { Position = at };
            }

            if (char.IsAsciiDigit(c) || ((c == '-' || c == '+') && Pos + 1 < s.Length && char.IsAsciiDigit(s[Pos + 1])))
            {
                int start = Pos;
                Pos++;
                while (Pos < s.Length && (char.IsAsciiDigit(s[Pos]) || s[Pos] is '.' or 'e' or 'E' || ((s[Pos] is '-' or '+') && s[Pos - 1] is 'e' or 'E')))
                {
                    Pos++;
                }

                var num = s[start..Pos];
                if (!double.TryParse(num, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
                {
                    throw new ExpressionException($"'{num}' is not a number (or is out of range)", start);
                }

                try
                {
                    return new LiteralExpr(JsonDocument.Parse(num.TrimStart('+')).RootElement.Clone()) { Position = at };
                }
                catch (JsonException)
                {
                    // Found by FuzzTests: "00" and "1." are numbers to .NET but not to JSON, which values are.
                    throw new ExpressionException($"'{num}' is not a number as JSON writes them: no leading zeros, digits after '.', e.g. 0, 1.5, 2e3", start);
                }
            }

            if (IsIdentStart(c))
            {
                var first = ReadIdent();
                switch (first)
                {
                    case "true": return new LiteralExpr(JsonSerializer.SerializeToElement(true)) { Position = at };
                    case "false": return new LiteralExpr(JsonSerializer.SerializeToElement(false)) { Position = at };
                    case "null": return new LiteralExpr(JsonSerializer.SerializeToElement<object?>(null)) { Position = at };
                }

                var path = new List<string> { first };
                while (Pos < s.Length && (s[Pos] == '.' || s[Pos] == '['))
                {
                    if (s[Pos] == '.')
                    {
                        Pos++;
                        if (AtEnd || !IsIdentStart(s[Pos]))
                        {
                            throw new ExpressionException($"expected a name after '{string.Join('.', path)}.'", Pos);
                        }

                        path.Add(ReadIdent());
                    }
                    else
                    {
                        Pos++;
                        SkipWs();
                        if (!AtEnd && (s[Pos] == '\'' || s[Pos] == '"'))
                        {
                            path.Add(ReadString());
                        }
                        else
                        {
                            int st = Pos;
                            while (Pos < s.Length && char.IsDigit(s[Pos]))
                            {
                                Pos++;
                            }

                            if (st == Pos)
                            {
                                throw new ExpressionException("expected an index (0, 1, ...) or a quoted key inside [ ]", Pos);
                            }

                            path.Add(s[st..Pos]);
                        }

                        if (!Eat("]"))
                        {
                            throw new ExpressionException("missing ']'", Pos);
                        }
                    }
                }

                return new RefExpr(path) { Position = at };
            }

            throw new ExpressionException($"unexpected '{c}': expected a value, a reference (params.x, steps.id.outputs.y, item, run.id) or '('", Pos);
        }

        private static bool IsIdentStart(char c) => char.IsAsciiLetter(c) || c == '_';

        private string ReadIdent()
        {
            int start = Pos;
            while (Pos < s.Length && (char.IsAsciiLetterOrDigit(s[Pos]) || s[Pos] == '_' || (s[Pos] == '-' && Pos + 1 < s.Length && char.IsAsciiLetterOrDigit(s[Pos + 1]))))
            {
                Pos++;
            }

            return s[start..Pos];
        }

        private string ReadString()
        {
            char q = s[Pos];
            int start = Pos;
            Pos++;
            var sb = new StringBuilder();
            while (true)
            {
                if (AtEnd)
                {
                    throw new ExpressionException("string is not closed: add the closing quote", start);
                }

                char c = s[Pos++];
                if (c == q)
                {
                    if (Pos < s.Length && s[Pos] == q)
                    {
                        sb.Append(q);
                        Pos++;
                        continue;
                    }

                    return sb.ToString();
                }

                sb.Append(c);
            }
        }
    }
}
