using Trainyard.Core.Spec;
using Trainyard.Core.Steps;
using Trainyard.Core.Validation;

namespace Trainyard.Cli;

/// <summary>A pipeline file loaded for a run: the validated spec and the exact text (its hash is the version).</summary>
internal sealed record LoadedPipeline(PipelineSpec Spec, string Text);

/// <summary>Loads pipeline files for `run`, reporting problems exactly as `validate` does.</summary>
internal static class PipelineFiles
{
    /// <summary>Reads and loads a file. Throws <see cref="IOException"/> (or a subclass); Core reads no files, so hosts read them here when the file cannot be read.</summary>
    public static LoadResult LoadFile(string path, StepCatalog? catalog = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"pipeline file '{path}' does not exist: check the path", path);
        }

        if (info.Length > PipelineLoader.MaxFileBytes)
        {
            // Refuse before reading, so a huge file never enters memory.
            return new LoadResult(null, [new Diagnostic(Severity.Error, DiagnosticCodes.Limit, path, 1, 1, null, "",
                $"the file is {info.Length} bytes; the limit is {PipelineLoader.MaxFileBytes} bytes (1 MiB)", "split the pipeline, or move large values into artifacts the steps read")]);
        }

        return PipelineLoader.Load(File.ReadAllText(path), path, catalog);
    }

    /// <summary>The spec and text, or null after printing why not (unreadable file or validation errors).</summary>
    public static LoadedPipeline? Load(string path, TextWriter output, TextWriter error)
    {
        string text;
        try
        {
            // Read once: the text that is validated is the text stored and hashed as the pipeline version.
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"error: {path}: cannot read the pipeline file: {ex.Message}");
            return null;
        }

        var result = PipelineLoader.Load(text, path);

        if (!result.Succeeded)
        {
            ValidateCommands.WriteDiagnostics(result.Diagnostics, error);
            error.WriteLine($"{path}: {result.Errors.Count()} error(s); fix them and run again (`trainyard validate {path}` checks without running).");
            return null;
        }

        // Warnings do not stop a run, but people should see them before it starts.
        ValidateCommands.WriteDiagnostics(result.Warnings, output);
        return new LoadedPipeline(result.Spec!, text);
    }
}
