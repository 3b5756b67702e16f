using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Trainyard.Core.Text;
using Trainyard.Core.Engine;

namespace Trainyard.Cli;

/// <summary>
/// Where a command prints: text for people, JSON for tools; errors always to stderr. Text goes out escaped
/// (<see cref="Printable"/>): control characters from step output, params, run ids or file names never act on a terminal.
/// On a terminal (<see cref="Interactive"/>) tables, trees and live progress are drawn by Spectre.Console through
/// <see cref="Ansi"/>; otherwise (redirected, NO_COLOR, TERM=dumb) the same content is plain, greppable text.
/// </summary>
internal sealed class CliOutput
{
    // Nulls are written: tools see every field of the documented shape, present or not.
    private static readonly JsonSerializerOptions Indented = new(EngineJson.Options)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never,
    };

    private IAnsiConsole? _ansi;

    /// <summary>Output for <paramref name="output"/>; interactive only when it is the real, unredirected console.</summary>
    public CliOutput(bool json, TextWriter output, TextWriter error)
        : this(json, output, error, DetectInteractive(output), ansi: null)
    {
    }

    /// <summary>Output with the mode decided by the caller and, optionally, the console to draw on (tests pass a TestConsole).</summary>
    internal CliOutput(bool json, TextWriter output, TextWriter error, bool interactive, IAnsiConsole? ansi)
    {
        Json = json;
        Out = output;
        Err = error;
        Interactive = interactive;
        _ansi = ansi;
    }

    /// <summary>Output and error writers of the invocation (the console, or a test's writers).</summary>
    public static CliOutput For(ParseResult parse, bool json)
        => new(json, parse.InvocationConfiguration.Output ?? Console.Out, parse.InvocationConfiguration.Error ?? Console.Error);

    /// <summary>JSON mode.</summary>
    public bool Json { get; }

    /// <summary>Standard output.</summary>
    public TextWriter Out { get; }

    /// <summary>Standard error.</summary>
    public TextWriter Err { get; }

    /// <summary>True on a terminal that takes cursor movement and colour (the console, not redirected, no NO_COLOR/TERM=dumb).</summary>
    public bool Interactive { get; }

    /// <summary>True when tables and trees are drawn by Spectre (interactive and not --json).</summary>
    public bool Rich => Interactive && !Json;

    /// <summary>The Spectre console over <see cref="Out"/>: ANSI and colour only when <see cref="Interactive"/>.</summary>
    public IAnsiConsole Ansi => _ansi ??= SpectreViews.CreateConsole(Out, Interactive);

    /// <summary>Decides the mode: the process's own stdout, not redirected, TERM is not dumb, NO_COLOR unset or empty.</summary>
    public static bool DetectInteractive(TextWriter output)
        => ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected
            && Environment.GetEnvironmentVariable("TERM") is not "dumb"
            && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));

    /// <summary>A progress or info line (stderr in JSON mode, so stdout stays parseable).</summary>
    public void Info(string line) => (Json ? Err : Out).WriteLine(Printable.Escape(line, keepNewlines: true));

    /// <summary>Text to stdout.</summary>
    public void Write(string text) => Out.Write(Printable.Escape(text, keepNewlines: true));

    /// <summary>An error line to stderr.</summary>
    public void Error(string line) => Err.WriteLine("error: " + Printable.Escape(line, keepNewlines: true));

    /// <summary>A value as indented JSON to stdout.</summary>
    public void WriteJson<T>(T value) => Out.WriteLine(JsonSerializer.Serialize(value, Indented));

    /// <summary>
    /// A table: plain padded columns (<see cref="TextTable"/>) when not interactive, a Spectre table otherwise.
    /// Cells are untrusted text: escaped and rendered as <see cref="Text"/>, never parsed as markup.
    /// </summary>
    public void WriteTable(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        if (Rich)
        {
            Ansi.Write(SpectreViews.Table(header, rows));
        }
        else
        {
            Write(TextTable.Render(header, rows));
        }
    }
}
