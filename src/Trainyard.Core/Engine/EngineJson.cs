using System.Text.Json;
using System.Text.Json.Serialization;

namespace Trainyard.Core.Engine;

/// <summary>The one JSON shape for journals, snapshots and queue messages (camelCase, enums as strings).</summary>
public static class EngineJson
{
    /// <summary>Serializer options shared by every backend and host.</summary>
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var o = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            WriteIndented = false,
        };
        o.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase));
        o.Converters.Add(new OrdinalSortedConverterFactory());
        o.MakeReadOnly(populateMissingResolver: true);
        return o;
    }
}
