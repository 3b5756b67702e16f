using Spectre.Console;
using Spectre.Console.Rendering;
using Trainyard.Core.Text;

namespace Trainyard.Cli;

/// <summary>
/// Spectre.Console building blocks for the interactive CLI. Everything that came from outside (step ids, logs, errors,
/// params, pipeline names) goes through <see cref="Printable"/> and is then either a <see cref="Text"/> (never parsed as
/// markup) or passed through <see cref="Markup.Escape"/> before it is placed inside markup.
/// </summary>
internal static class SpectreViews
{
    /// <summary>A console writing to <paramref name="output"/>: ANSI, colour and a terminal width only when interactive.</summary>
    public static IAnsiConsole CreateConsole(TextWriter output, bool interactive)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        if (!interactive)
        {
            console.Profile.Width = 200;
        }

        return console;
    }

    /// <summary>Untrusted text made safe to place inside Spectre markup.</summary>
    public static string Safe(string? untrusted) => Markup.Escape(Printable.Escape(untrusted));

    /// <summary>Untrusted text as a plain (never markup) cell, optionally styled.</summary>
    public static Text Cell(string? untrusted, Style? style = null) => new(Printable.Escape(untrusted), style);

    /// <summary>The colour of a run or task status word.</summary>
    public static Style StatusStyle(string status) => status switch
    {
        "succeeded" or "cached" => new Style(Color.Green),
        "failed" => new Style(Color.Red),
        "running" or "dispatched" => new Style(Color.Yellow),
        "skipped" or "cancelled" => new Style(Color.Grey),
        _ => Style.Plain,
    };

    /// <summary>A table of untrusted cells; a column named STATUS is coloured by <see cref="StatusStyle"/>.</summary>
    public static Table Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var name in header)
        {
            table.AddColumn(new TableColumn(new Text(name, new Style(decoration: Decoration.Bold))));
        }

        var statusColumn = header.ToList().IndexOf("STATUS");
        foreach (var row in rows)
        {
            var cells = new IRenderable[header.Count];
            for (var i = 0; i < cells.Length; i++)
            {
                var value = i < row.Count ? row[i] : "";
                cells[i] = i == statusColumn ? Cell(value, StatusStyle(LastWord(value))) : Cell(value);
            }

            table.AddRow(cells);
        }

        return table;
    }

    /// <summary>The number of terminal lines a renderable takes on <paramref name="console"/>.</summary>
    public static int LineCount(IAnsiConsole console, IRenderable renderable)
    {
        var segments = renderable.Render(RenderOptions.Create(console), console.Profile.Width);
        return Segment.SplitLines(segments).Count;
    }

    private static string LastWord(string value)
    {
        var space = value.LastIndexOf(' ');
        return space < 0 ? value : value[(space + 1)..];
    }
}
