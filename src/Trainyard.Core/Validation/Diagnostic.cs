using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;

namespace Trainyard.Core.Validation;

/// <summary>How bad a diagnostic is.</summary>
public enum Severity
{
    /// <summary>The pipeline cannot run.</summary>
    Error,

    /// <summary>The pipeline runs, but probably not as meant.</summary>
    Warning,
}

/// <summary>One finding about a pipeline file: where it is, what is wrong and what to do.</summary>
/// <param name="Severity">Error or warning.</param>
/// <param name="Code">Stable code (see <see cref="DiagnosticCodes"/>).</param>
/// <param name="File">File name as given to the loader.</param>
/// <param name="Line">1-based line.</param>
/// <param name="Column">1-based column.</param>
/// <param name="StepId">The step concerned, when there is one.</param>
/// <param name="Field">Path of the field, e.g. `steps[3].retry.backoffCoefficient`.</param>
/// <param name="Message">What is wrong.</param>
/// <param name="Help">What to do about it.</param>
public sealed record Diagnostic(
    Severity Severity,
    string Code,
    string File,
    int Line,
    int Column,
    string? StepId,
    string Field,
    string Message,
    string Help)
{
    /// <summary>The field as shown to people: `steps[3].needs` becomes `steps.train.needs` when the step id is known.</summary>
    [JsonIgnore]
    public string DisplayField
    {
        get
        {
            if (StepId is { Length: > 0 } && Field.StartsWith("steps[", StringComparison.Ordinal))
            {
                int close = Field.IndexOf(']', StringComparison.Ordinal);
                if (close > 0)
                {
                    return "steps." + StepId + Field[(close + 1)..];
                }
            }

            return Field;
        }
    }

    /// <summary>`file:line:col: error TY012: steps.train.needs: unknown step 'traim' — did you mean 'train'?` plus the help on a second line.</summary>
    public string Format(bool includeHelp = true)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{File}:{Line}:{Column}: {(Severity == Severity.Error ? "error" : "warning")} {Code}: ");
        if (DisplayField.Length > 0)
        {
            sb.Append(DisplayField).Append(": ");
        }

        sb.Append(Message);
        if (includeHelp && Help.Length > 0)
        {
            sb.Append("\n    help: ").Append(Help);
        }

        return sb.ToString();
    }

    /// <inheritdoc />
    public override string ToString() => Format(includeHelp: false);
}

/// <summary>The stable diagnostic codes. Errors are TY0xx, warnings TY1xx; codes are never reused.</summary>
public static class DiagnosticCodes
{
    /// <summary>The file is not valid YAML.</summary>
    public const string YamlSyntax = "TY001";

    /// <summary>A size limit is exceeded (file size, steps, nesting depth, nodes).</summary>
    public const string Limit = "TY002";

    /// <summary>A field name the format does not know.</summary>
    public const string UnknownField = "TY003";

    /// <summary>A required field is missing.</summary>
    public const string MissingField = "TY004";

    /// <summary>A value has the wrong YAML type (e.g. a string where a number belongs).</summary>
    public const string WrongType = "TY005";

    /// <summary>A value is not one of the allowed values.</summary>
    public const string InvalidValue = "TY006";

    /// <summary>A duration cannot be parsed.</summary>
    public const string InvalidDuration = "TY007";

    /// <summary>An id or name does not match its pattern.</summary>
    public const string InvalidId = "TY008";

    /// <summary>Two steps (or triggers) share an id.</summary>
    public const string DuplicateId = "TY009";

    /// <summary>A mapping holds the same key twice.</summary>
    public const string DuplicateKey = "TY010";

    /// <summary>A step sets both or neither of `uses` and `run`.</summary>
    public const string UsesOrRun = "TY011";

    /// <summary>`needs` names a step that does not exist.</summary>
    public const string UnknownNeed = "TY012";

    /// <summary>A step needs itself.</summary>
    public const string SelfNeed = "TY013";

    /// <summary>Steps depend on each other in a cycle.</summary>
    public const string Cycle = "TY014";

    /// <summary>An expression does not parse.</summary>
    public const string ExpressionSyntax = "TY015";

    /// <summary>An expression references something that does not exist (param, root, run field).</summary>
    public const string UnknownReference = "TY016";

    /// <summary>An expression references a step that does not exist.</summary>
    public const string UnknownStepReference = "TY017";

    /// <summary>An expression references an output the step does not produce.</summary>
    public const string UnknownOutput = "TY018";

    /// <summary>An expression references a step that is not upstream (not reachable through needs).</summary>
    public const string NotUpstream = "TY019";

    /// <summary>`item` used outside a foreach step.</summary>
    public const string ItemOutsideForeach = "TY020";

    /// <summary>A param default (or supplied value) does not match the param's type.</summary>
    public const string ParamType = "TY021";

    /// <summary>A cron expression is invalid.</summary>
    public const string InvalidCron = "TY022";

    /// <summary>A time zone id is unknown.</summary>
    public const string InvalidTimeZone = "TY023";

    /// <summary>A retry setting is out of bounds.</summary>
    public const string RetryBounds = "TY024";

    /// <summary>`uses` names no known built-in step.</summary>
    public const string UnknownBuiltin = "TY025";

    /// <summary>A built-in step misses a required `with` input.</summary>
    public const string MissingInput = "TY026";

    /// <summary>A built-in step gets a `with` input it does not accept.</summary>
    public const string UnknownInput = "TY027";

    /// <summary>An executor cannot honour the step (e.g. `run` on builtin, pool without batch).</summary>
    public const string ExecutorMismatch = "TY028";

    /// <summary>`foreach` is given something that is not a list.</summary>
    public const string ForeachNotList = "TY029";

    /// <summary>A number or duration is out of its range (maxParallel, timeouts, resources, ...).</summary>
    public const string OutOfRange = "TY030";

    /// <summary>A trigger is invalid (container name, path pattern, params it sets).</summary>
    public const string InvalidTrigger = "TY031";

    /// <summary>A literal `with` input has the wrong type for the built-in step.</summary>
    public const string InputType = "TY032";

    /// <summary>A run was given a param the pipeline does not declare, or lacks a required one.</summary>
    public const string RunParam = "TY033";

    /// <summary>A param is declared but never referenced.</summary>
    public const string UnusedParam = "TY101";

    /// <summary>A declared output is never referenced.</summary>
    public const string UnusedOutput = "TY102";

    /// <summary>A step can never run (its condition is always false, or it only follows such steps).</summary>
    public const string AlwaysSkipped = "TY103";

    /// <summary>Resources the executor ignores (e.g. gpu on local).</summary>
    public const string IgnoredResource = "TY104";

    /// <summary>A setting that has no effect (required with a default, image on local).</summary>
    public const string NoEffect = "TY105";
}
