using System.Globalization;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Contracts;

namespace Trainyard.Execution.Builtins;

/// <summary>Typed access to a built-in step's `with` inputs; bad input fails the task for good, naming the input.</summary>
public static class StepInputs
{
    /// <summary>A required string input.</summary>
    public static string RequireString(TaskWorkItem work, string name)
        => GetString(work, name) ?? throw Missing(work, name, "a string");

    /// <summary>An optional string input (numbers and booleans are accepted as their text).</summary>
    public static string? GetString(TaskWorkItem work, string name)
    {
        if (!TryGet(work, name, out var v))
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => v.GetRawText(),
            _ => throw WrongType(work, name, "a string", v),
        };
    }

    /// <summary>An optional integer input (a JSON number or a numeric string).</summary>
    public static long? GetInteger(TaskWorkItem work, string name)
    {
        if (!TryGet(work, name, out var v))
        {
            return null;
        }

        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n))
        {
            return n;
        }

        if (v.ValueKind == JsonValueKind.String && long.TryParse(v.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out n))
        {
            return n;
        }

        throw WrongType(work, name, "an integer", v);
    }

    /// <summary>
    /// A required duration input, read by Core's <see cref="Duration"/> (the parser `validate` uses): "500ms", "2s",
    /// "1h30m", "2d" or ISO-8601 "PT5M". A bare number is refused (seconds or milliseconds? write the unit).
    /// </summary>
    public static TimeSpan RequireDuration(TaskWorkItem work, string name)
    {
        if (!TryGet(work, name, out var v))
        {
            throw Missing(work, name, "a duration such as 2s");
        }

        if (v.ValueKind == JsonValueKind.String && Duration.TryParse(v.GetString(), out var d))
        {
            return d;
        }

        throw WrongType(work, name, "a duration such as 500ms, 2s, 1h30m, 2d or PT5M", v);
    }

    private static bool TryGet(TaskWorkItem work, string name, out JsonElement value)
    {
        ArgumentNullException.ThrowIfNull(work);
        return work.Inputs.TryGetValue(name, out value) && value.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined);
    }

    private static StepFailedException Missing(TaskWorkItem work, string name, string expected)
        => new($"Step '{work.StepId}' ({work.Uses}): input '{name}' is required ({expected}); add it under `with:`.");

    private static StepFailedException WrongType(TaskWorkItem work, string name, string expected, JsonElement v)
        => new($"Step '{work.StepId}' ({work.Uses}): input '{name}' must be {expected}, got {v.ValueKind.ToString().ToLowerInvariant()} {Preview(v)}; fix it under `with:`.");

    private static string Preview(JsonElement v)
    {
        var raw = v.GetRawText();
        return raw.Length <= 40 ? raw : raw[..40] + "...";
    }
}
