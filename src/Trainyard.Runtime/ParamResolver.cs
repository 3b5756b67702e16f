using System.Text.Json;
using Trainyard.Core.Spec;
using Trainyard.Execution;
using Trainyard.Execution.Contracts;
using CoreParams = Trainyard.Core.Spec.ParamResolver;

namespace Trainyard.Runtime;

/// <summary>A run request that cannot start: the message names every bad param and what to do.</summary>
public sealed class RunRequestException(string message) : Exception(message);

/// <summary>Resolves run params against a pipeline's declarations: defaults, required checks, types.</summary>
public static class ParamResolver
{
    /// <summary>
    /// Applies defaults and checks types. Throws <see cref="RunRequestException"/> listing every unknown, missing or
    /// mistyped param.
    /// </summary>
    public static Dictionary<string, JsonElement> Resolve(PipelineSpec spec, IReadOnlyDictionary<string, JsonElement> given)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(given);
        var errors = new List<string>();
        var result = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var name in given.Keys.Where(k => spec.Params.All(p => p.Name != k)).Order(StringComparer.Ordinal))
        {
            errors.Add($"param '{name}' is not declared by pipeline '{spec.Name}'{Declared(spec)}");
        }

        foreach (var p in spec.Params)
        {
            if (given.TryGetValue(p.Name, out var v) && v.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined))
            {
                if (!Matches(p.Type, v))
                {
                    errors.Add($"param '{p.Name}' must be {Describe(p.Type)}, got {v.ValueKind.ToString().ToLowerInvariant()} {v.GetRawText()}{At(p)}");
                }
                else
                {
                    result[p.Name] = v.Clone();
                }
            }
            else if (p.Default is { } d)
            {
                result[p.Name] = d;
            }
            else if (p.Required)
            {
                errors.Add($"param '{p.Name}' ({Describe(p.Type)}) is required and has no default; pass --param {p.Name}=<value>{At(p)}");
            }
        }

        if (errors.Count > 0)
        {
            throw new RunRequestException($"Cannot start pipeline '{spec.Name}': {string.Join("; ", errors)}.");
        }

        return result;
    }

    /// <summary>
    /// Turns `name=value` text (command line) into typed values by each param's declared type: numbers, integers and
    /// booleans are parsed, lists take JSON (`[1,2]`) or comma-separated text. Throws <see cref="RunRequestException"/>.
    /// </summary>
    public static Dictionary<string, JsonElement> ParseAssignments(PipelineSpec spec, IEnumerable<string> assignments)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(assignments);
        var errors = new List<string>();
        var result = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var a in assignments)
        {
            var eq = a.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                errors.Add($"'{a}' is not name=value");
                continue;
            }

            var name = a[..eq];
            var text = a[(eq + 1)..];
            var p = spec.Params.FirstOrDefault(x => x.Name == name);
            if (p is null)
            {
                errors.Add($"param '{name}' is not declared by pipeline '{spec.Name}'{Declared(spec)}");
                continue;
            }

            if (TryConvert(p.Type, text, out var value))
            {
                result[name] = value;
            }
            else
            {
                errors.Add($"param '{name}' must be {Describe(p.Type)}, got '{text}'{At(p)}");
            }
        }

        if (errors.Count > 0)
        {
            throw new RunRequestException($"Cannot start pipeline '{spec.Name}': {string.Join("; ", errors)}.");
        }

        return result;
    }

    // One parser and one type check per concept, in Core: `plan`, `validate` and the HTTP API read params the same way.
    private static bool TryConvert(ParamType type, string text, out JsonElement value) => CoreParams.TryConvert(text, type, out value);

    private static bool Matches(ParamType type, JsonElement v) => CoreParams.Matches(type, v);

    private static string Describe(ParamType type) => CoreParams.Describe(type);

    private static string At(ParamSpec p) => p.Location is { } l ? $" (declared at {l})" : "";

    private static string Declared(PipelineSpec spec)
        => spec.Params.Count == 0 ? " (it declares no params)" : $" (declared: {string.Join(", ", spec.Params.Select(p => p.Name))})";
}
