using System.CommandLine;

namespace Trainyard.Cli;

/// <summary>Builds and runs the `trainyard` command line; Program and in-process tests both go through here.</summary>
internal static class CliApp
{
    /// <summary>Exit code for a usage error (bad arguments) or a file that cannot be read.</summary>
    public const int UsageError = 2;

    public static RootCommand CreateRoot()
    {
        // Each command group lives in its own file (XxxCommands.Create()) so features can be added without touching the others.
        var root = new RootCommand("trainyard: event-driven ML pipeline orchestrator (validate, plan, run and inspect pipelines)");
        foreach (var command in CliCommands.All())
        {
            root.Subcommands.Add(command);
        }

        root.Options.Add(CliTelemetry.TraceOption);

        return root;
    }

    /// <summary>Parses and runs; usage errors print the parser's message and help and exit with <see cref="UsageError"/>.</summary>
    public static async Task<int> InvokeAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var parseResult = CreateRoot().Parse(args);
        var config = new InvocationConfiguration { Output = output, Error = error };
        using var telemetry = parseResult.Errors.Count == 0 ? CliTelemetry.Start(parseResult.GetValue(CliTelemetry.TraceOption)) : null;
        int code = await parseResult.InvokeAsync(config, cancellationToken);
        return parseResult.Errors.Count > 0 ? UsageError : code;
    }
}
