using System.Globalization;
using System.Text.Json;
using Trainyard.Core.Validation;

namespace Trainyard.Core.Spec;

/// <summary>Resolved run params: a value for every declared param (null when optional and not given), or the errors.</summary>
/// <param name="Values">Param name to value, for every declared param.</param>
/// <param name="Errors">What was wrong with the supplied values.</param>
public sealed record ParamResolution(IReadOnlyDictionary<string, JsonElement> Values, IReadOnlyList<Diagnostic> Errors)
{
    /// <summary>True when there are no errors.</summary>
    public bool Succeeded => Errors.Count == 0;
}

/// <summary>Checks and fills in the params of a run: supplied values, then defaults; unknown or missing ones are errors.</summary>
public static class ParamResolver
{
    /// <summary>Resolves text values (as given on a command line, `--param k=v`), converting each to its param's type.</summary>
    public static ParamResolution ResolveText(PipelineSpec spec, IReadOnlyDictionary<string, string> supplied)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(supplied);
        var errors = new List<Diagnostic>();
        var typed = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var (name, text) in supplied)
        {
            var param = spec.Params.FirstOrDefault(p => p.Name == name);
            if (param is null)
            {
                typed[name] = JsonSerializer.SerializeToElement(text);
                continue;
            }

            if (TryConvert(text, param.Type, out var value))
            {
                typed[name] = value;
            }
            else
            {
                errors.Add(Error(spec, param, DiagnosticCodes.ParamType, $"params.{name}",
                    $"'{text}' is not {Describe(param.Type)}", $"give {name} {Describe(param.Type)}{Example(param.Type)}"));
            }
        }

        var rest = Resolve(spec, typed);
        return new ParamResolution(rest.Values, [.. errors, .. rest.Errors.Where(e => !errors.Any(x => x.Field == e.Field))]);
    }

    /// <summary>Resolves typed values (HTTP API, trigger params).</summary>
    public static ParamResolution Resolve(PipelineSpec spec, IReadOnlyDictionary<string, JsonElement> supplied)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(supplied);
        var errors = new List<Diagnostic>();
        var values = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        var declared = spec.Params.Select(p => p.Name).ToList();
        foreach (var name in supplied.Keys.Where(k => !declared.Contains(k)).Order(StringComparer.Ordinal))
        {
            errors.Add(new Diagnostic(Severity.Error, DiagnosticCodes.RunParam, spec.Source ?? "pipeline", 1, 1, null, $"params.{name}",
                $"the pipeline declares no param '{name}'{Suggest.DidYouMean(name, declared)}",
                declared.Count == 0 ? "this pipeline takes no params" : $"declared params: {string.Join(", ", declared)}"));
        }

        foreach (var p in spec.Params)
        {
            if (supplied.TryGetValue(p.Name, out var v))
            {
                if (!Matches(p.Type, v))
                {
                    errors.Add(Error(spec, p, DiagnosticCodes.ParamType, $"params.{p.Name}", $"{DescribeValue(v)} is not {Describe(p.Type)}", $"give {p.Name} {Describe(p.Type)}{Example(p.Type)}"));
                }

                values[p.Name] = v;
            }
            else if (p.Default is { } d)
            {
                values[p.Name] = d;
            }
            else if (p.Required)
            {
                errors.Add(Error(spec, p, DiagnosticCodes.RunParam, $"params.{p.Name}", $"required param '{p.Name}' has no value",
                    $"pass it, e.g. --param {p.Name}=<{p.Type.ToString().ToLowerInvariant()}>, or give it a default in the pipeline"));
            }
            else
            {
                values[p.Name] = JsonSerializer.SerializeToElement<object?>(null);
            }
        }

        return new ParamResolution(values, errors);
    }

    /// <summary>Whether a JSON value has the param type (integers must be whole numbers).</summary>
    public static bool Matches(ParamType type, JsonElement value) => type switch
    {
        ParamType.String => value.ValueKind == JsonValueKind.String,
        ParamType.Number => value.ValueKind == JsonValueKind.Number,
        ParamType.Integer => value.ValueKind == JsonValueKind.Number && (value.TryGetInt64(out _) || Math.Floor(value.GetDouble()) == value.GetDouble()),
        ParamType.Boolean => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        ParamType.List => value.ValueKind == JsonValueKind.Array,
        _ => false,
    };

    /// <summary>Converts command-line text to a param type: numbers invariant, booleans true/false, lists as JSON arrays or comma-separated.</summary>
    public static bool TryConvert(string text, ParamType type, out JsonElement value)
    {
        ArgumentNullException.ThrowIfNull(text);
        value = default;
        switch (type)
        {
            case ParamType.String:
                value = JsonSerializer.SerializeToElement(text);
                return true;
            case ParamType.Integer when long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l):
                value = JsonSerializer.SerializeToElement(l);
                return true;
            case ParamType.Number when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d):
                value = JsonSerializer.SerializeToElement(d);
                return true;
            case ParamType.Boolean when bool.TryParse(text, out bool b):
                value = JsonSerializer.SerializeToElement(b);
                return true;
            case ParamType.List when text.TrimStart().StartsWith('['):
                try
                {
                    using var doc = JsonDocument.Parse(text);
                    value = doc.RootElement.Clone();
                    return value.ValueKind == JsonValueKind.Array;
                }
                catch (JsonException)
                {
                    // Not JSON: read YAML-ish flow lists such as [a, b] as strings.
                    var inner = text.Trim();
                    if (!inner.EndsWith(']'))
                    {
                        return false;
                    }

                    inner = inner[1..^1];
                    value = JsonSerializer.SerializeToElement(inner.Trim().Length == 0 ? [] : inner.Split(',', StringSplitOptions.TrimEntries).Select(x => x.Trim('"', '\'')).ToArray());
                    return true;
                }

            case ParamType.List:
                value = JsonSerializer.SerializeToElement(text.Length == 0 ? [] : text.Split(',', StringSplitOptions.TrimEntries));
                return true;
            default:
                return false;
        }
    }

    /// <summary>"a string", "an integer", ...</summary>
    public static string Describe(ParamType type) => type switch
    {
        ParamType.String => "a string",
        ParamType.Number => "a number",
        ParamType.Integer => "an integer",
        ParamType.Boolean => "a boolean (true or false)",
        _ => "a list",
    };

    internal static string DescribeValue(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => $"the string '{v.GetString()}'",
        JsonValueKind.Number => $"the number {v.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {v.GetRawText()}",
        JsonValueKind.Null => "null",
        JsonValueKind.Array => "a list",
        _ => "a mapping",
    };

    internal static string Example(ParamType type) => type switch
    {
        ParamType.String => " such as \"text\" (quote values that look like numbers or booleans)",
        ParamType.Number => " such as 0.5",
        ParamType.Integer => " such as 3 (no decimals, no quotes)",
        ParamType.Boolean => ": true or false without quotes",
        _ => " such as [a, b]",
    };

    private static Diagnostic Error(PipelineSpec spec, ParamSpec p, string code, string field, string message, string help)
    {
        var loc = p.Location;
        return new Diagnostic(Severity.Error, code, loc?.File ?? spec.Source ?? "pipeline", loc?.Line ?? 1, loc?.Column ?? 1, null, field, message, help);
    }
}
