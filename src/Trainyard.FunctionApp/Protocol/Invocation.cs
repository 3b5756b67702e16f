using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trainyard.FunctionApp.Protocol;

/// <summary>
/// One invocation from the Functions host: <c>{"Data": {binding: value}, "Metadata": {...}}</c>.
/// Names are matched case-insensitively because the host serializes with Newtonsoft defaults.
/// </summary>
internal sealed class InvocationRequest
{
    private InvocationRequest(JsonElement data, JsonElement metadata)
    {
        Data = data;
        Metadata = metadata;
    }

    /// <summary>Trigger and input binding values by binding name.</summary>
    public JsonElement Data { get; }

    /// <summary>Trigger metadata (queue Id/DequeueCount, Service Bus MessageId, blob Uri/Properties, sys...).</summary>
    public JsonElement Metadata { get; }

    /// <summary>Parses an invocation body; throws <see cref="InvocationFormatException"/> naming what is wrong.</summary>
    public static InvocationRequest Parse(ReadOnlySpan<byte> body)
    {
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
            root = doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new InvocationFormatException("body", $"the invocation body is not JSON ({ex.Message}); the Functions host sends {{\"Data\":{{...}},\"Metadata\":{{...}}}}");
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new InvocationFormatException("body", "the invocation body must be a JSON object with Data and Metadata");
        }

        var data = Property(root, "Data");
        if (data is not { ValueKind: JsonValueKind.Object })
        {
            throw new InvocationFormatException("Data", "the invocation has no Data object; the host puts each trigger and input binding value under Data.<binding name>");
        }

        var metadata = Property(root, "Metadata");
        return new InvocationRequest(data.Value, metadata is { ValueKind: JsonValueKind.Object } ? metadata.Value : EmptyObject);
    }

    /// <summary>The raw value of a binding, or null.</summary>
    public JsonElement? Binding(string name) => Property(Data, name);

    /// <summary>
    /// A binding's value as JSON. The host sends string trigger values JSON-encoded a second time
    /// (<c>"\"{...}\""</c>); both that and the single-encoded form are unwrapped until a non-string JSON value
    /// remains. Returns null when the binding is absent or its text is not JSON.
    /// </summary>
    public JsonElement? BindingJson(string name)
    {
        var value = Binding(name);
        return value is null ? null : UnwrapJson(value.Value);
    }

    /// <summary>A binding's value as text (one level of string encoding removed).</summary>
    public string? BindingText(string name)
    {
        var value = Binding(name);
        if (value is null)
        {
            return null;
        }

        if (value.Value.ValueKind != JsonValueKind.String)
        {
            return value.Value.GetRawText();
        }

        var s = value.Value.GetString()!;
        if (s.Length >= 2 && s[0] == '"' && TryParse(s) is { ValueKind: JsonValueKind.String } inner)
        {
            return inner.GetString();
        }

        return s;
    }

    /// <summary>A metadata value as text (strings unwrapped, other values as raw JSON), or null.</summary>
    public string? MetadataText(string name)
    {
        var value = Property(Metadata, name);
        return value switch
        {
            null => null,
            { ValueKind: JsonValueKind.Null } => null,
            { ValueKind: JsonValueKind.String } v => UnquoteOnce(v.GetString()!),
            var v => v.Value.GetRawText(),
        };
    }

    /// <summary>A metadata value, or null.</summary>
    public JsonElement? MetadataValue(string name) => Property(Metadata, name);

    /// <summary>Case-insensitive property lookup (exact match first).</summary>
    public static JsonElement? Property(JsonElement obj, string name)
    {
        if (obj.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (obj.TryGetProperty(name, out var exact))
        {
            return exact;
        }

        foreach (var p in obj.EnumerateObject())
        {
            if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return p.Value;
            }
        }

        return null;
    }

    /// <summary>Removes string layers until a structured JSON value remains; null when a layer is not JSON.</summary>
    public static JsonElement? UnwrapJson(JsonElement value)
    {
        var current = value;
        for (int depth = 0; depth < 3 && current.ValueKind == JsonValueKind.String; depth++)
        {
            var parsed = TryParse(current.GetString()!);
            if (parsed is null)
            {
                return null;
            }

            current = parsed.Value;
        }

        return current.ValueKind == JsonValueKind.String ? null : current;
    }

    private static string UnquoteOnce(string s) =>
        s.Length >= 2 && s[0] == '"' && TryParse(s) is { ValueKind: JsonValueKind.String } inner ? inner.GetString()! : s;

    private static JsonElement? TryParse(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();
}

/// <summary>The invocation (or one of its values) does not have the shape the function needs.</summary>
internal sealed class InvocationFormatException(string field, string message) : Exception(message)
{
    /// <summary>The part at fault (binding or metadata name, or "body").</summary>
    public string Field { get; } = field;
}

/// <summary>
/// The answer to the host: <c>{"Outputs": {...}, "Logs": [...], "ReturnValue": ...}</c>. Every output is a JSON object
/// or array, never a bare string: the host base64-decodes string outputs that look like base64.
/// </summary>
internal sealed class InvocationResult
{
    /// <summary>Output binding values by name.</summary>
    public Dictionary<string, JsonNode?> Outputs { get; } = new(StringComparer.Ordinal);

    /// <summary>Lines the host writes to the invocation log (never payloads or secrets).</summary>
    public List<string> Logs { get; } = [];

    /// <summary>Value for a <c>$return</c> binding (none of ours declares one).</summary>
    public JsonNode? ReturnValue { get; set; }

    /// <summary>Adds a log line and returns this.</summary>
    public InvocationResult Log(string line)
    {
        Logs.Add(line);
        return this;
    }

    /// <summary>Serializes the result with the property names the host expects.</summary>
    public byte[] ToJsonBytes()
    {
        var outputs = new JsonObject();
        foreach (var (k, v) in Outputs)
        {
            outputs[k] = v?.DeepClone();
        }

        var logs = new JsonArray();
        foreach (var l in Logs)
        {
            logs.Add(l);
        }

        var root = new JsonObject
        {
            ["Outputs"] = outputs,
            ["Logs"] = logs,
            ["ReturnValue"] = ReturnValue?.DeepClone(),
        };
        return Encoding.UTF8.GetBytes(root.ToJsonString());
    }
}
