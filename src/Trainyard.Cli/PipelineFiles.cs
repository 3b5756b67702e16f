using Trainyard.Core.Spec;

namespace Trainyard.Cli;

/// <summary>A pipeline file loaded for a run: the validated spec and the exact text (its hash is the version).</summary>
internal sealed record LoadedPipeline(PipelineSpec Spec, string Text);

/// <summary>Loads pipeline files for `run`, reporting problems exactly as `validate` does.</summary>
internal static class PipelineFiles
{
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
