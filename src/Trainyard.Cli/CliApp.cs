using System.CommandLine;
using System.Net.Http;
using System.Net.Sockets;
using Trainyard.Core.Text;
using Trainyard.Runtime;

namespace Trainyard.Cli;

/// <summary>
/// Builds and runs the `trainyard` command line; Program and in-process tests both go through here. It is the one
/// top-level error handler: whatever a command throws ends as one escaped message and a documented exit code, never a
/// stack trace (set TRAINYARD_DEBUG=1 to see one for an internal error).
/// </summary>
internal static class CliApp
{
    /// <summary>Exit code: success (the command did what it was asked; a run succeeded).</summary>
    public const int Ok = 0;

    /// <summary>Exit code: the run failed or was cancelled.</summary>
    public const int RunFailed = 1;

    /// <summary>Exit code: a usage error (bad argument or option value, unknown run id, a file that cannot be read).</summary>
    public const int UsageError = 2;

    /// <summary>Exit code: the pipeline file is invalid (validation errors, too large); nothing was run or stored.</summary>
    public const int InvalidSpec = 3;

    /// <summary>Exit code: the store cannot be reached (network, endpoint down).</summary>
    public const int StoreUnreachable = 4;

    /// <summary>Exit code: a bug in trainyard (an unexpected exception); the message says how to report it.</summary>
    public const int InternalError = 70;

    /// <summary>Exit code: interrupted by Ctrl+C / SIGTERM; a run is left resumable.</summary>
    public const int Interrupted = 130;

    /// <summary>Set to 1 to print the stack trace of an internal error.</summary>
    public const string DebugVariable = "TRAINYARD_DEBUG";

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
        try
        {
            var parseResult = CreateRoot().Parse(args);
            var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
            using var telemetry = parseResult.Errors.Count == 0 ? CliTelemetry.Start(parseResult.GetValue(CliTelemetry.TraceOption)) : null;
            int code = await parseResult.InvokeAsync(config, cancellationToken);
            return parseResult.Errors.Count > 0 ? UsageError : code;
        }
#pragma warning disable CA1031 // The one top-level handler: every failure becomes a message and an exit code.
        catch (Exception e)
#pragma warning restore CA1031
        {
            var (code, message) = Classify(e, cancellationToken);
            error.WriteLine("error: " + Printable.Escape(message));
            if (code == InternalError && Environment.GetEnvironmentVariable(DebugVariable) == "1")
            {
                error.WriteLine(Printable.Escape(e.ToString(), keepNewlines: true));
            }

            return code;
        }
    }

    /// <summary>The exit code and message for a failure that reached the top (the same mistake gets the same code in every command).</summary>
    internal static (int Code, string Message) Classify(Exception e, CancellationToken cancellationToken = default)
    {
        switch (e)
        {
            case CliInputException or RunRequestException:
                return (UsageError, e.Message);
            case CliSpecException or PipelineFileTooLargeException:
                return (InvalidSpec, e.Message);
            case OperationCanceledException when cancellationToken.IsCancellationRequested:
                return (Interrupted, "interrupted; a run is left as it was: resume or cancel it");
        }

        if (Unreachable(e) is { } network)
        {
            return (StoreUnreachable, $"cannot reach the store: {network.Message} Check that the storage endpoint named by --store is up " +
                "(locally: Azurite on 127.0.0.1:10000-10002) and reachable from this machine, then run the command again.");
        }

        if (FromNamespace(e, "System.CommandLine"))
        {
            // A value the parser could not convert (a word for a number): a usage error, not a crash.
            return (UsageError, $"{e.Message} Run the command with --help for the accepted values.");
        }

        if (FromNamespace(e, "Azure"))
        {
            return (UsageError, $"the store could not be opened: {e.Message} Check the connection string or URL given to --store.");
        }

        return (InternalError, $"internal error ({e.GetType().Name}): {e.Message} This is a bug in trainyard: report it with the command you ran; " +
            $"{DebugVariable}=1 prints the stack trace.");
    }

    private static Exception? Unreachable(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is HttpRequestException or SocketException)
            {
                return x;
            }

            if (x is AggregateException a && a.InnerExceptions.Select(Unreachable).FirstOrDefault(u => u is not null) is { } inner)
            {
                return inner;
            }
        }

        return null;
    }

    private static bool FromNamespace(Exception e, string prefix)
        => e.TargetSite?.DeclaringType?.Namespace is { } ns && (ns == prefix || ns.StartsWith(prefix + ".", StringComparison.Ordinal));
}

/// <summary>The pipeline file is invalid; its diagnostics were printed already. Exit <see cref="CliApp.InvalidSpec"/>.</summary>
internal sealed class CliSpecException(string message) : Exception(message);
