using System.Text.Json;
using Microsoft.DurableTask;
using Trainyard.Core.Engine;

namespace Trainyard.Engine.Durable;

/// <summary>
/// The Durable data converter of every Trainyard host: inputs, outputs, events and custom status as JSON with
/// <see cref="EngineJson.Options"/> (camelCase, enums as strings, ordinal-sorted dictionaries), the same shape as the
/// local engine's journals. Hosts set it as the worker's and the client's <c>DataConverter</c>.
/// </summary>
public sealed class EngineDataConverter : DataConverter
{
    private EngineDataConverter()
    {
    }

    /// <summary>The one instance.</summary>
    public static EngineDataConverter Instance { get; } = new();

    /// <inheritdoc />
    public override string? Serialize(object? value)
        => value is null ? null : JsonSerializer.Serialize(value, value.GetType(), EngineJson.Options);

    /// <inheritdoc />
    public override object? Deserialize(string? data, Type targetType)
    {
        ArgumentNullException.ThrowIfNull(targetType);
        return data is null ? null : JsonSerializer.Deserialize(data, targetType, EngineJson.Options);
    }
}
