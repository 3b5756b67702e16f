using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trainyard.FunctionApp.Protocol;

/// <summary>
/// The HTTP request an httpTrigger binding carries in <c>Data.req</c>: Url, Method, Query (object, or its JSON text in
/// older hosts), Headers (name to values), Params (route values) and Body (the raw text).
/// </summary>
internal sealed record HttpTriggerRequest(string Method, string Path, IReadOnlyDictionary<string, string> Query, IReadOnlyDictionary<string, string> Headers, string Body)
{
    /// <summary>Reads <c>Data.{binding}</c>; <paramref name="routeParam"/> names the catch-all route value holding the path.</summary>
    public static HttpTriggerRequest FromInvocation(InvocationRequest invocation, string binding, string routeParam)
    {
        var req = invocation.Binding(binding) is { } raw ? (raw.ValueKind == JsonValueKind.Object ? raw : InvocationRequest.UnwrapJson(raw)) : null;
        if (req is not { ValueKind: JsonValueKind.Object } r)
        {
            throw new InvocationFormatException($"Data.{binding}", $"the HTTP trigger value Data.{binding} is missing or not an object with Url, Method and Body");
        }

        var method = Text(InvocationRequest.Property(r, "Method")) ?? "GET";
        var url = Text(InvocationRequest.Property(r, "Url")) ?? "";
        var routeValues = StringMap(InvocationRequest.Property(r, "Params"));
        var path = routeValues.TryGetValue(routeParam, out var p) ? p : PathAfterApi(url);
        return new HttpTriggerRequest(
            method.ToUpperInvariant(),
            path.Trim('/'),
            StringMap(InvocationRequest.Property(r, "Query")),
            StringMap(InvocationRequest.Property(r, "Headers")),
            Text(InvocationRequest.Property(r, "Body")) ?? "");
    }

    private static string PathAfterApi(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return "";
        }

        var path = uri.AbsolutePath;
        return path.StartsWith("/api/", StringComparison.OrdinalIgnoreCase) ? path[5..] : path.TrimStart('/');
    }

    private static string? Text(JsonElement? e) => e switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } s => s.GetString(),
        { ValueKind: JsonValueKind.Null } => null,
        var other => other.Value.GetRawText(),
    };

    private static Dictionary<string, string> StringMap(JsonElement? e)
    {
        var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var obj = e is { ValueKind: JsonValueKind.String } ? InvocationRequest.UnwrapJson(e.Value) : e;
        if (obj is not { ValueKind: JsonValueKind.Object } o)
        {
            return map;
        }

        foreach (var prop in o.EnumerateObject())
        {
            map[prop.Name] = prop.Value.ValueKind switch
            {
                JsonValueKind.String => prop.Value.GetString()!,
                JsonValueKind.Array => string.Join(",", prop.Value.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText())),
                JsonValueKind.Null => "",
                _ => prop.Value.GetRawText(),
            };
        }

        return map;
    }
}

/// <summary>An HTTP API answer: status code plus a JSON body.</summary>
internal sealed record ApiResponse(int StatusCode, JsonNode Body)
{
    /// <summary>A JSON error <c>{code, message, field}</c> (plus extra members such as diagnostics).</summary>
    public static ApiResponse Error(int status, string code, string message, string? field = null, JsonArray? diagnostics = null)
    {
        var body = new JsonObject { ["code"] = code, ["message"] = message, ["field"] = field };
        if (diagnostics is not null)
        {
            body["diagnostics"] = diagnostics;
        }

        return new ApiResponse(status, body);
    }

    /// <summary>The <c>res</c> output for the host's http output binding: statusCode, status, body (JSON text), headers.</summary>
    public JsonObject ToHttpOutput()
    {
        var code = StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new JsonObject
        {
            ["statusCode"] = code,
            ["status"] = code,
            ["body"] = Body.ToJsonString(),
            ["headers"] = new JsonObject { ["Content-Type"] = "application/json; charset=utf-8" },
        };
    }

    /// <summary>UTF-8 JSON of the body.</summary>
    public byte[] BodyBytes() => Encoding.UTF8.GetBytes(Body.ToJsonString());
}
