using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Trainyard.Core.Engine;

namespace Trainyard.Runtime;

/// <summary>
/// Serializes run snapshots exactly as <see cref="EngineJson.Options"/> does, but reuses the JSON of every task state
/// that did not change since the last commit. Task states are immutable records, so a state object always has the
/// same JSON; a commit of a 1,000-task run then serializes the few tasks it changed and copies the rest.
/// </summary>
internal static class SnapshotWriter
{
    private static readonly ConditionalWeakTable<TaskState, byte[]> Tasks = new();
    private static readonly JsonSerializerOptions Options = Create();

    /// <summary>The snapshot JSON of <paramref name="state"/> (byte for byte what <see cref="EngineJson.Options"/> writes).</summary>
    public static string Serialize(RunState state) => JsonSerializer.Serialize(state, Options);

    private static JsonSerializerOptions Create()
    {
        var o = new JsonSerializerOptions(EngineJson.Options);
        o.Converters.Insert(0, new TaskStateConverter());
        o.MakeReadOnly(populateMissingResolver: true);
        return o;
    }

    private sealed class TaskStateConverter : JsonConverter<TaskState>
    {
        public override TaskState? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
            => JsonSerializer.Deserialize<TaskState>(ref reader, EngineJson.Options);

        public override void Write(Utf8JsonWriter writer, TaskState value, JsonSerializerOptions options)
            => writer.WriteRawValue(Tasks.GetValue(value, static t => JsonSerializer.SerializeToUtf8Bytes(t, EngineJson.Options)), skipInputValidation: true);
    }
}
