using Trainyard.Core.Spec;
using Trainyard.Core.Steps;
using Trainyard.Core.Text;
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
        string text;
        try
        {
            text = ReadText(path);
        }
        catch (PipelineFileTooLargeException e)
        {
            return new LoadResult(null, [new Diagnostic(Severity.Error, DiagnosticCodes.Limit, path, 1, 1, null, "", e.Problem, e.Help)]);
        }

        return PipelineLoader.Load(text, path, catalog);
    }

    /// <summary>
    /// The text of a pipeline file, read in bounded chunks: more than <see cref="PipelineLoader.MaxFileBytes"/> is
    /// refused as soon as it is seen, so a huge file, a device or an endless pipe (`/dev/zero`, `yes |`) never fills
    /// memory (a length check up front cannot see how long a pipe is).
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="PipelineFileTooLargeException">Over the limit.</exception>
    public static string ReadText(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            throw new IOException($"'{Printable.Escape(path)}' is a folder; give the pipeline's YAML file inside it (e.g. {Printable.Escape(Path.Combine(path, "pipeline.yaml"))})");
        }

        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"pipeline file '{Printable.Escape(path)}' does not exist: check the path", path, e);
        }

        using var owned = stream;
        using var copy = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            if (copy.Length + read > PipelineLoader.MaxFileBytes)
            {
                throw new PipelineFileTooLargeException(path);
            }

            copy.Write(buffer, 0, read);
        }

        copy.Position = 0;
        using var reader = new StreamReader(copy, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// The spec and text; throws <see cref="CliInputException"/> when the file cannot be read and
    /// <see cref="CliSpecException"/> (after printing every diagnostic) when it is invalid.
    /// </summary>
    public static LoadedPipeline Load(string path, TextWriter output, TextWriter error)
    {
        string text;
        try
        {
            // Read once: the text that is validated is the text stored and hashed as the pipeline version.
            text = ReadText(path);
        }
        catch (Exception ex) when (ex is (IOException and not PipelineFileTooLargeException) or UnauthorizedAccessException)
        {
            throw new CliInputException($"{path}: cannot read the pipeline file: {ex.Message}");
        }

        var result = PipelineLoader.Load(text, path);

        if (!result.Succeeded)
        {
            ValidateCommands.WriteDiagnostics(result.Diagnostics, error);
            throw new CliSpecException($"{path}: {result.Errors.Count()} error(s); fix them and run again (`trainyard validate {path}` checks without running).");
        }

        // Warnings do not stop a run, but people should see them before it starts.
        ValidateCommands.WriteDiagnostics(result.Warnings, output);
        return new LoadedPipeline(result.Spec!, text);
    }
}

/// <summary>A pipeline file (or pipe) longer than <see cref="PipelineLoader.MaxFileBytes"/>; nothing past the limit was read.</summary>
internal sealed class PipelineFileTooLargeException(string path) : IOException($"'{Printable.Escape(path)}': {ProblemText}; {HelpText}")
{
    private const string ProblemText = "the file is larger than 1 MiB, the limit for pipeline files (reading stopped there)";
    private const string HelpText = "split the pipeline, or move large values into artifacts the steps read";

    /// <summary>What is wrong, for a diagnostic.</summary>
    public string Problem => ProblemText;

    /// <summary>What to do, for a diagnostic.</summary>
    public string Help => HelpText;
}
