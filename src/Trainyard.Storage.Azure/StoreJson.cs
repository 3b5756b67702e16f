using System.Text.Json;
using System.Text.Json.Serialization;

namespace Trainyard.Storage.Azure;

/// <summary>JSON shape of the rows' JSON values (journal chunks, outbox items): camelCase, enums as text, no nulls.</summary>
internal static class StoreJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };
}
