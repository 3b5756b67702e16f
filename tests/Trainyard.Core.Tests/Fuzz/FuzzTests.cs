using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Trainyard.Testing;
using Trainyard.Core.Engine;
using Trainyard.Core.Expressions;
using Trainyard.Core.Spec;
using Trainyard.Core.Text;

namespace Trainyard.Core.Tests.Fuzz;

/// <summary>
/// Property-based fuzzing of everything in Core that reads outside text: the YAML loader, the expression parser and
/// evaluator, the param, duration and path parsers, the journal reader and the terminal escaper. No input crashes
/// them (only their documented errors come out) and each input is handled in bounded time and memory.
/// </summary>
public sealed class FuzzTests
{
    // Generous bounds: they catch a parser gone quadratic or exponential (billion laughs), not a slow machine.
    private static readonly TimeSpan TimeBound = TimeSpan.FromSeconds(10);
    private const long MemoryBound = 512L * 1024 * 1024;

    private static readonly string[] YamlTokens =
    [
        "name: x\n", "steps:\n", "  - id: a\n", "    uses: echo\n", "    run: { command: [sh] }\n", "    with: { message: ", "}\n",
        "    needs: [", "]\n", "    foreach: ", "    when: ", "params:\n", "  p: { type: list, default: [] }\n", "triggers:\n",
        "&a ", "*a ", "<<: *a\n", "!!str ", "!<tag:x> ", "%YAML 1.2\n", "---\n", "...\n", "? ", ": ", "- ", "[", "]", "{", "}", ",",
        "\"", "'", "|\n", ">-\n", "#", "\t", "\r", "\n", "  ", "${{ ", " }}", "params.p", "steps.a.outputs.x", "item", "\\", "\u0000",
        "\u001b[2J", "\u202e", "\ud800", "9999999999999999999999", "1e309", "-.inf", "null", "~", "true", "0x1F", "2s", "PT5M",
    ];

    private static readonly string[] ExpressionTokens =
    [
        "params", "steps", "item", "run", "events", "trigger", ".", "a", "outputs", "[", "]", "0", "'x'", "\"y\"", "(", ")",
        "==", "!=", "<", "<=", ">", ">=", "&&", "||", "!", " ", "1", "-1", "1.5", "1e309", "true", "false", "null", "${{", "}}",
        "\\", "'", "\u0000", "99999999999999999999999", "contains(", ",",
    ];

    private static readonly JsonScope Scope = new(JsonDocument.Parse(
        """{"params":{"p":[1,"a",{"x":null}],"s":"t","n":3},"steps":{"a":{"outputs":{"x":1.5,"y":[true]},"status":"succeeded"}},"item":{"k":"v"},"run":{"id":"r"}}""").RootElement);

    private static Arbitrary<string> Joined(string[] tokens, int maxLength) =>
        Gen.Elements(tokens).ListOf().Select(parts => string.Concat(parts.Take(maxLength))).ToArbitrary();

    [Property(MaxTest = 500)]
    public Property YamlLoader_TokenSoup_GivesDiagnosticsNeverExceptions()
        => Prop.ForAll(Joined(YamlTokens, 200), text => Bounded(() => LoadsCleanly(text)));

    [Property(MaxTest = 500)]
    public bool YamlLoader_AnyText_GivesDiagnosticsNeverExceptions(string text)
        => Bounded(() => LoadsCleanly(text ?? ""));

    [Theory]
    [MemberData(nameof(PathologicalDocuments))]
    public void YamlLoader_PathologicalDocument_IsRefusedOrLoadedInBoundedTimeAndMemory(string name, string text)
    {
        Assert.True(Bounded(() => LoadsCleanly(text)), name);
    }

    public static TheoryData<string, string> PathologicalDocuments()
    {
        var laughs = new StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (var i = 1; i < 12; i++)
        {
            laughs.Append(System.Globalization.CultureInfo.InvariantCulture, $"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]\n");
        }

        return new TheoryData<string, string>
        {
            { "billion laughs", laughs + "name: x\nsteps: *a11\n" },
            { "deep flow nesting", "name: x\nsteps: " + new string('[', 100_000) + new string(']', 100_000) + "\n" },
            { "deep block nesting", "name: x\nsteps:\n" + string.Concat(Enumerable.Range(0, 3_000).Select(i => new string(' ', i + 2) + "- \n")) },
            { "one huge scalar", "name: " + new string('x', 900_000) + "\nsteps: []\n" },
            { "huge key", new string('k', 900_000) + ": 1\n" },
            { "many steps", "name: x\nsteps:\n" + string.Concat(Enumerable.Range(0, 10_001).Select(i => $"  - {{ id: s{i}, uses: echo }}\n")) },
            { "deep expression", "name: x\nsteps:\n  - { id: a, uses: echo, when: \"" + new string('(', 50_000) + "true" + new string(')', 50_000) + "\" }\n" },
            { "long needs chain", "name: x\nsteps:\n" + string.Concat(Enumerable.Range(0, 5_000).Select(i => i == 0 ? "  - { id: s0, uses: echo }\n" : $"  - {{ id: s{i}, uses: echo, needs: [s{i - 1}] }}\n")) },
            { "control characters", "name: \"\\e[2J\\u0007\\0\"\nsteps:\n  - { id: a, uses: echo, with: { message: \"\\u202e\\r\" } }\n" },
        };
    }

    [Property(MaxTest = 1000)]
    public Property ExpressionParser_TokenSoup_ParsesOrThrowsExpressionException_AndEvaluatesSafely()
        => Prop.ForAll(Joined(ExpressionTokens, 60), text => Bounded(() => ParsesAndEvaluatesCleanly(text)));

    [Property(MaxTest = 500)]
    public bool ExpressionParser_AnyText_ParsesOrThrowsExpressionException(string text)
        => Bounded(() => ParsesAndEvaluatesCleanly(text ?? "") && TemplateParsesCleanly("x ${{ " + text + " }} y"));

    [Property(MaxTest = 1000)]
    public bool TextParsers_AnyText_NeverThrow(string text)
    {
        text ??= "";
        foreach (var type in Enum.GetValues<ParamType>())
        {
            ParamResolver.TryConvert(text, type, out _);
        }

        Duration.TryParse(text, out _);
        PathRules.PathProblem(text);
        PathRules.PathProblem(text, allowTrailingSlash: true);
        PathRules.ModelNameProblem(text);
        return true;
    }

    [Property(MaxTest = 1000)]
    public bool Printable_Escape_LeavesNoControlCharacters(string text)
    {
        var escaped = Printable.Escape(text);
        var kept = Printable.Escape(text, keepNewlines: true);
        return escaped.All(c => c == '\t' || !(char.IsControl(c) || c is >= '\u202a' and <= '\u202e' or >= '\u2066' and <= '\u2069'))
            && kept.All(c => c is '\t' or '\n' || !char.IsControl(c))
            && Printable.Escape(escaped) == escaped;
    }

    [Property(MaxTest = 500)]
    public Property JournalReader_AnyJson_ReadsOrThrowsFormatException()
    {
        var fragments = new[] { "[", "]", "{", "}", ",", ":", "\"type\"", "\"RunStarted\"", "\"TaskDispatched\"", "\"runId\"", "\"x\"", "1", "null", "true", "\"at\"", "\"2026-01-01T00:00:00Z\"", "1e999", "\"\\u0000\"" };
        return Prop.ForAll(Joined(fragments, 80), json => Bounded(() =>
        {
            try
            {
                _ = JournalReplay.Deserialize(json, "fuzz");
            }
            catch (FormatException)
            {
                // The documented error.
            }

            return true;
        }));
    }

    [Theory]
    [InlineData("[{\"runId\":\"x\":truenull}null,nullnull1e999\"runId\"{]")] // found by the property above (seed 17263813420623695791)
    [InlineData("[{\"runId\":\"x\",\"type\":\"RunStarted\"}]")]
    public void JournalReader_AnEventWithoutItsTypeFirst_IsAFormatException(string json)
    {
        var ex = Assert.Throws<FormatException>(() => JournalReplay.Deserialize(json, "j.json"));
        Assert.StartsWith("j.json: not a journal", ex.Message, StringComparison.Ordinal);
    }

    private static bool LoadsCleanly(string text)
    {
        var result = PipelineLoader.Load(text, "fuzz.yaml");
        return (result.Spec is null) == result.Errors.Any() && result.Diagnostics.All(d => d.Message.Length > 0 && d.Line >= 1 && d.Column >= 1);
    }

    private static bool ParsesAndEvaluatesCleanly(string text)
    {
        Expr expr;
        try
        {
            expr = ExpressionParser.Parse(text);
        }
        catch (ExpressionException)
        {
            return true;
        }

        try
        {
            _ = ExpressionEvaluator.Evaluate(expr, Scope);
        }
        catch (ExpressionException)
        {
            // Unknown references and type errors are the documented failure.
        }

        return true;
    }

    private static bool TemplateParsesCleanly(string text)
    {
        try
        {
            _ = Template.Parse(text);
        }
        catch (ExpressionException)
        {
            // The documented failure.
        }

        return true;
    }

    /// <summary>
    /// Runs <paramref name="check"/> on its own thread with a 1 MiB stack (the smallest a host gives a request thread,
    /// so unbounded recursion shows up here), failing when it takes longer or allocates more than the bounds.
    /// </summary>
    private static bool Bounded(Func<bool> check) => BoundedCheck.Run(check, TimeBound, MemoryBound);
}
