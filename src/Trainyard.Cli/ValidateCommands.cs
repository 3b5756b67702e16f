using System.CommandLine;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Core.Text;
using Trainyard.Core.Validation;

namespace Trainyard.Cli;

/// <summary>`trainyard validate FILE...`: every error and warning of pipeline files, for people or (with --json) tools.</summary>
internal static class ValidateCommands
{
    public static Command Create()
    {
        var files = new Argument<string[]>("files") { Arity = ArgumentArity.OneOrMore, Description = "Pipeline YAML files to check" };
        var json = new Option<bool>("--json") { Description = "Print a JSON array of diagnostics (for editors and CI) instead of text" };
        var command = new Command("validate", "Check pipeline files; exit 0 when valid, 3 when any has an error, 2 when a file cannot be read");
        command.Arguments.Add(files);
        command.Options.Add(json);
        command.SetAction(parseResult => Run(
            parseResult.GetValue(files) ?? [],
            parseResult.GetValue(json),
            parseResult.InvocationConfiguration.Output,
            parseResult.InvocationConfiguration.Error));
        return command;
    }

    internal static int Run(IReadOnlyList<string> files, bool json, TextWriter output, TextWriter error)
    {
        var all = new List<Diagnostic>();
        bool ioError = false;
        int valid = 0;
        foreach (var file in files)
        {
            if (TryLoad(file, error) is not { } result)
            {
                ioError = true;
                continue;
            }

            all.AddRange(result.Diagnostics);
            if (result.Succeeded)
            {
                valid++;
                if (!json)
                {
                    output.WriteLine($"{Printable.Escape(file)}: ok ({result.Spec!.Steps.Count} steps, {result.Warnings.Count()} warnings)");
                }
            }
        }

        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(all, EngineJson.Options));
        }
        else
        {
            WriteDiagnostics(all, output);
            int errors = all.Count(d => d.Severity == Severity.Error);
            int warnings = all.Count - errors;
            output.WriteLine($"{files.Count} file(s) checked, {valid} valid: {errors} error(s), {warnings} warning(s)");
        }

        return ioError ? CliApp.UsageError : all.Any(d => d.Severity == Severity.Error) ? CliApp.InvalidSpec : CliApp.Ok;
    }

    /// <summary>Loads a file, writing a one-line message and returning null when it cannot be read.</summary>
    internal static LoadResult? TryLoad(string file, TextWriter error)
    {
        try
        {
            return PipelineFiles.LoadFile(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"error: {Printable.Escape(file)}: cannot read the file: {Printable.Escape(ex.Message)}");
            return null;
        }
    }

    /// <summary>Errors first, then warnings, each with its help line.</summary>
    internal static void WriteDiagnostics(IEnumerable<Diagnostic> diagnostics, TextWriter output)
    {
        foreach (var d in diagnostics.OrderBy(d => d.Severity))
        {
            // Messages quote spec text (ids, values): escaped so a crafted file cannot drive the terminal.
            output.WriteLine(Printable.Escape(d.Format(), keepNewlines: true));
        }
    }
}
