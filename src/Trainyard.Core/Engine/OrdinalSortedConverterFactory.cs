using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Trainyard.Core.Engine;

/// <summary>
/// Reads string-keyed sorted immutable collections back with the ordinal comparer they were written with.
/// The built-in handling uses the culture-aware default comparer, which is slower and can reorder keys, so a
/// snapshot read back would neither serialize to the same bytes nor look up at ordinal speed.
/// </summary>
internal sealed class OrdinalSortedConverterFactory : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert)
        => typeToConvert.IsGenericType
            && ((typeToConvert.GetGenericTypeDefinition() == typeof(ImmutableSortedDictionary<,>) && typeToConvert.GetGenericArguments()[0] == typeof(string))
                || typeToConvert == typeof(ImmutableSortedSet<string>));

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options)
        => typeToConvert == typeof(ImmutableSortedSet<string>)
            ? new SetConverter()
            : (JsonConverter)Activator.CreateInstance(typeof(DictionaryConverter<>).MakeGenericType(typeToConvert.GetGenericArguments()[1]))!;

    private sealed class DictionaryConverter<T> : JsonConverter<ImmutableSortedDictionary<string, T>>
    {
        public override ImmutableSortedDictionary<string, T> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new JsonException($"expected a JSON object for {typeToConvert.Name}, found {reader.TokenType}");
            }

            var builder = ImmutableSortedDictionary.CreateBuilder<string, T>(StringComparer.Ordinal);
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                var key = reader.GetString()!;
                reader.Read();
                builder[key] = JsonSerializer.Deserialize<T>(ref reader, options)!;
            }

            return builder.ToImmutable();
        }

        public override void Write(Utf8JsonWriter writer, ImmutableSortedDictionary<string, T> value, JsonSerializerOptions options)
        {
            writer.WriteStartObject();
            foreach (var (key, item) in value)
            {
                writer.WritePropertyName(key);
                JsonSerializer.Serialize(writer, item, options);
            }

            writer.WriteEndObject();
        }
    }

    private sealed class SetConverter : JsonConverter<ImmutableSortedSet<string>>
    {
        public override ImmutableSortedSet<string> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.StartArray)
            {
                throw new JsonException($"expected a JSON array of strings, found {reader.TokenType}");
            }

            var builder = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                builder.Add(reader.GetString() ?? throw new JsonException("expected a string, found null"));
            }

            return builder.ToImmutable();
        }

        public override void Write(Utf8JsonWriter writer, ImmutableSortedSet<string> value, JsonSerializerOptions options)
        {
            writer.WriteStartArray();
            foreach (var item in value)
            {
                writer.WriteStringValue(item);
            }

            writer.WriteEndArray();
        }
    }
}
