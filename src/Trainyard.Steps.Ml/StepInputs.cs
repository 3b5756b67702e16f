using System.Globalization;
using System.Text.Json;
using Trainyard.Core.Steps;
using Trainyard.Core.Text;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml;

/// <summary>Typed access to a built-in step's resolved `with` inputs; errors name the step and the field.</summary>
internal sealed class StepInputs(string step, IReadOnlyDictionary<string, JsonElement> values)
{
    public string Step => step;

    public static StepInputs Of(string step, StepContext context) => new(step, context.Work.Inputs);

    public bool Has(string name) => values.TryGetValue(name, out var v) && v.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined);

    public JsonElement? Raw(string name) => Has(name) ? values[name] : null;

    public string RequiredString(string name) => OptionalString(name) ?? throw Bad(name, "is required (a string)");

    public string? OptionalString(string name)
    {
        if (!Has(name))
        {
            return null;
        }

        var v = values[name];
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString() is { Length: > 0 } s ? s : throw Bad(name, "must not be empty"),
            JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => v.GetRawText(),
            _ => throw Bad(name, $"must be a string, got {Describe(v)}"),
        };
    }

    public double Number(string name, double fallback) => Has(name) ? ToNumber(values[name], name) : fallback;

    public double? OptionalNumber(string name) => Has(name) ? ToNumber(values[name], name) : null;

    public int Integer(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        if (!Has(name))
        {
            return fallback;
        }

        var d = ToNumber(values[name], name);
        if (d != Math.Floor(d) || d < min || d > max)
        {
            throw Bad(name, $"must be a whole number in [{min}, {max}], got {values[name].GetRawText()}");
        }

        return (int)d;
    }

    public bool Boolean(string name, bool fallback)
    {
        if (!Has(name))
        {
            return fallback;
        }

        var v = values[name];
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.String when bool.TryParse(v.GetString(), out var b) => b,
            _ => throw Bad(name, $"must be true or false, got {v.GetRawText()}"),
        };
    }

    public IReadOnlyList<string> StringList(string name)
    {
        if (!Has(name))
        {
            return [];
        }

        var v = values[name];
        if (v.ValueKind == JsonValueKind.String)
        {
            return [.. v.GetString()!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        }

        if (v.ValueKind != JsonValueKind.Array)
        {
            throw Bad(name, $"must be a list of strings, got {Describe(v)}");
        }

        return [.. v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText())];
    }

    public JsonElement Object(string name)
    {
        var v = Raw(name) ?? throw Bad(name, "is required (an object)");
        return v.ValueKind == JsonValueKind.Object ? v : throw Bad(name, $"must be an object, got {Describe(v)}");
    }

    public JsonElement? OptionalObject(string name) => Has(name) ? Object(name) : null;

    /// <summary>
    /// <paramref name="value"/> (given for input <paramref name="name"/>) checked against <paramref name="rule"/>: a
    /// path that would leave its root fails the step for good, naming the field, before anything is read or written.
    /// </summary>
    public string Checked(string name, string value, InputRule rule)
        => InputRules.Problem(rule, value) is { } problem ? throw Bad(name, $"{Printable.Quote(value)} {problem}; {InputRules.Hint(rule)}") : value;

    /// <summary>A required artifact path input.</summary>
    public string RequiredPath(string name) => Checked(name, RequiredString(name), InputRule.ArtifactPath);

    /// <summary>A list of artifact paths (a single string is a one-element list).</summary>
    public IReadOnlyList<string> PathList(string name) => [.. StringList(name).Select(p => Checked(name, p, InputRule.ArtifactPath))];

    public StepFailedException Bad(string name, string problem) =>
        new($"{step}: input '{name}' {problem}. Fix the step's `with.{name}` in the pipeline file.");

    public double ToNumber(JsonElement v, string name) => v.ValueKind switch
    {
        JsonValueKind.Number => v.GetDouble(),
        JsonValueKind.String when double.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        _ => throw Bad(name, $"must be a number, got {v.GetRawText()}"),
    };

    internal static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => $"the string \"{v.GetString()}\"",
        _ => v.GetRawText(),
    };
}
