using System.Security.Cryptography;
using System.Text;
using Trainyard.Core.Steps;
using Trainyard.Core.Validation;
using YamlDotNet.Core;

namespace Trainyard.Core.Spec;

/// <summary>The outcome of loading a pipeline file: the spec when it is valid, and every diagnostic either way.</summary>
/// <param name="Spec">The spec; null when any error was found.</param>
/// <param name="Diagnostics">Errors and warnings, errors first, each in file order.</param>
public sealed record LoadResult(PipelineSpec? Spec, IReadOnlyList<Diagnostic> Diagnostics)
{
    /// <summary>Where fields of the file are (null when the YAML did not parse).</summary>
    public SpecSourceMap? SourceMap { get; init; }

    /// <summary>Lower-case hex SHA-256 of the text (also set on a file that does not validate).</summary>
    public string ContentHash { get; init; } = "";

    /// <summary>True when there is no error (warnings allowed).</summary>
    public bool Succeeded => Spec is not null;

    /// <summary>The errors.</summary>
    public IEnumerable<Diagnostic> Errors => Diagnostics.Where(d => d.Severity == Severity.Error);

    /// <summary>The warnings.</summary>
    public IEnumerable<Diagnostic> Warnings => Diagnostics.Where(d => d.Severity == Severity.Warning);
}

/// <summary>A pipeline file that does not validate; the message lists every error with its place.</summary>
public sealed class PipelineLoadException : Exception
{
    /// <summary>Creates the exception from the diagnostics of a failed load.</summary>
    public PipelineLoadException(IReadOnlyList<Diagnostic> diagnostics)
        : base(BuildMessage(diagnostics)) => Diagnostics = diagnostics;

    /// <summary>Every diagnostic of the failed load.</summary>
    public IReadOnlyList<Diagnostic> Diagnostics { get; }

    private static string BuildMessage(IReadOnlyList<Diagnostic> diagnostics)
    {
        ArgumentNullException.ThrowIfNull(diagnostics);
        var errors = diagnostics.Where(d => d.Severity == Severity.Error).ToList();
        return $"the pipeline has {errors.Count} error(s); fix them and load it again (`trainyard validate` lists them):\n"
            + string.Join('\n', errors.Select(e => e.Format()));
    }
}

/// <summary>Loads pipeline YAML into a validated <see cref="PipelineSpec"/>, reporting every problem with file:line:column.</summary>
public static class PipelineLoader
{
    /// <summary>Largest pipeline file accepted (1 MiB).</summary>
    public const int MaxFileBytes = 1024 * 1024;

    /// <summary>Most steps in one pipeline.</summary>
    public const int MaxSteps = 10_000;

    /// <summary>Deepest nesting of mappings and lists.</summary>
    public const int MaxDepth = YamlTree.MaxDepth;

    /// <summary>Loads and validates YAML text. <paramref name="file"/> names the source in diagnostics.</summary>
    /// <param name="text">The YAML text.</param>
    /// <param name="file">File name (or other source name) for diagnostics.</param>
    /// <param name="catalog">Built-in steps `uses` may name; <see cref="StandardSteps.Catalog"/> when null.</param>
    public static LoadResult Load(string text, string file, StepCatalog? catalog = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(file);
        var hash = Hash(text);
        var diagnostics = new List<Diagnostic>();
        int bytes = Encoding.UTF8.GetByteCount(text);
        if (bytes > MaxFileBytes)
        {
            diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCodes.Limit, file, 1, 1, null, "",
                $"the file is {bytes} bytes; the limit is {MaxFileBytes} bytes (1 MiB)", "split the pipeline, or move large values (expectations, configs) into artifacts the steps read"));
            return new LoadResult(null, diagnostics) { ContentHash = hash };
        }

        YNode? root;
        try
        {
            root = YamlTree.Read(text);
        }
        catch (YamlLimitException ex)
        {
            diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCodes.Limit, file, Line(ex.At), Column(ex.At), null, "", ex.Message,
                "flatten the structure: pipeline files never need deep nesting or large alias expansions"));
            return new LoadResult(null, diagnostics) { ContentHash = hash };
        }
        catch (YamlException ex)
        {
            diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCodes.YamlSyntax, file, Line(ex.Start), Column(ex.Start), null, "", CleanYamlMessage(ex.Message),
                "fix the YAML here: check indentation (spaces, not tabs), a missing ':' or an unclosed quote or bracket"));
            return new LoadResult(null, diagnostics) { ContentHash = hash };
        }

        var map = new SpecSourceMap(file, text, root);
        if (root is null)
        {
            diagnostics.Add(new Diagnostic(Severity.Error, DiagnosticCodes.MissingField, file, 1, 1, null, "name", "the file is empty",
                "write a pipeline: `name:`, optional `params:` and `triggers:`, and a `steps:` list"));
            return new LoadResult(null, diagnostics) { SourceMap = map, ContentHash = hash };
        }

        var spec = new SpecReader(file, diagnostics).Read(root) with { ContentHash = hash, Source = file };
        diagnostics.AddRange(PipelineValidator.Validate(spec, catalog, map));
        var ordered = Order(diagnostics);
        bool ok = !ordered.Any(d => d.Severity == Severity.Error);
        return new LoadResult(ok ? spec : null, ordered) { SourceMap = map, ContentHash = hash };
    }

    /// <summary>Loads and returns the spec, or throws <see cref="PipelineLoadException"/> listing every error.</summary>
    public static PipelineSpec LoadOrThrow(string text, string file, StepCatalog? catalog = null)
    {
        var result = Load(text, file, catalog);
        return result.Spec ?? throw new PipelineLoadException(result.Diagnostics);
    }

    /// <summary>Lower-case hex SHA-256 of the UTF-8 text: the pipeline version.</summary>
    public static string Hash(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    internal static List<Diagnostic> Order(IEnumerable<Diagnostic> diagnostics) =>
        [.. diagnostics.Distinct().OrderBy(d => d.Severity).ThenBy(d => d.Line).ThenBy(d => d.Column).ThenBy(d => d.Code, StringComparer.Ordinal)];

    private static int Line(Mark m) => Math.Max(1, (int)m.Line);

    private static int Column(Mark m) => Math.Max(1, (int)m.Column);

    private static string CleanYamlMessage(string message)
    {
        // YamlDotNet prefixes "(Line: 3, Col: 5, Idx: 40) - (Line: ...): "; the diagnostic carries the position already.
        int i = message.IndexOf("): ", StringComparison.Ordinal);
        var m = i >= 0 && message.StartsWith('(') ? message[(i + 3)..] : message;
        return m.TrimEnd('.');
    }
}
