using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Trainyard.Core.Engine;
using Trainyard.Execution;
using Trainyard.Execution.Contracts;

namespace Trainyard.Runtime;

/// <summary>
/// Serializes run snapshots exactly as <see cref="EngineJson.Options"/> does, but reuses the JSON of every task state
/// that did not change since the last commit. Task states are immutable records, so a state object always has the
/// same JSON; a commit of a 1,000-task run then serializes the few tasks it changed and copies the rest.
/// </summary>
internal static class SnapshotWriter
{
    // Runs whose task maps are remembered at most (runs that finish elsewhere are never told to leave).
    private const int MaxRemembered = 4096;

    private static readonly ConditionalWeakTable<TaskState, byte[]> Tasks = new();
    private static readonly JsonSerializerOptions Options = Create();

    // Per running run: the task map its last snapshot wrote, entry by entry. The next snapshot copies the runs of
    // entries whose task state is the same object in one block, instead of looking each one up (on a busy host those
    // lookups miss the CPU cache and cost more than the copy).
    private static readonly ConcurrentDictionary<string, TaskMapJson> Maps = new(StringComparer.Ordinal);

    // The task map JSON of the state being serialized on this thread, picked up by the map converter.
    [ThreadStatic]
    private static TaskMapJson? _current;

    /// <summary>The snapshot JSON of <paramref name="state"/> (byte for byte what <see cref="EngineJson.Options"/> writes).</summary>
    public static string Serialize(RunState state)
    {
        var map = WriteTasks(state.Tasks, Maps.GetValueOrDefault(state.RunId));
        if (state.Status == RunStatus.Running)
        {
            if (Maps.Count >= MaxRemembered)
            {
                Maps.Clear();
            }

            Maps[state.RunId] = map;
        }
        else
        {
            Maps.TryRemove(state.RunId, out _);
        }

        _current = map;
        try
        {
            return JsonSerializer.Serialize(state, Options);
        }
        finally
        {
            _current = null;
        }
    }

    private static JsonSerializerOptions Create()
    {
        var o = new JsonSerializerOptions(EngineJson.Options);
        o.Converters.Insert(0, new TaskStateConverter());
        o.Converters.Insert(0, new TaskMapConverter());
        o.MakeReadOnly(populateMissingResolver: true);
        return o;
    }

    private static byte[] Json(TaskState task) => Tasks.GetValue(task, static t => JsonSerializer.SerializeToUtf8Bytes(t, EngineJson.Options));

    /// <summary>The JSON object of a task map, copying unchanged entries from <paramref name="previous"/> (same key, same state object).</summary>
    private static TaskMapJson WriteTasks(ImmutableSortedDictionary<string, TaskState> tasks, TaskMapJson? previous)
    {
        var count = tasks.Count;
        var keys = new string[count];
        var states = new TaskState[count];
        var starts = new int[count];
        var ends = new int[count];
        var buffer = new byte[Math.Max(64, (previous?.Length ?? 0) + 256)];
        var length = 0;
        Put(ref buffer, ref length, "{"u8);
        var i = 0;
        var p = 0;

        // A block of previous entries [blockFrom, p) being copied; flushed when the next entry differs.
        var blockFrom = -1;
        var blockAt = 0;
        foreach (var (key, task) in tasks)
        {
            if (previous is not null)
            {
                while (p < previous.Keys.Length && !ReferenceEquals(previous.Keys[p], key) && string.CompareOrdinal(previous.Keys[p], key) < 0)
                {
                    Flush(ref buffer, ref length, previous, ref blockFrom, p, starts, ends, blockAt);
                    p++;
                }
            }

            keys[i] = key;
            states[i] = task;
            if (previous is not null && p < previous.Keys.Length && ReferenceEquals(previous.States[p], task) && string.Equals(previous.Keys[p], key, StringComparison.Ordinal))
            {
                if (blockFrom < 0 || blockAt + (p - blockFrom) != i)
                {
                    Flush(ref buffer, ref length, previous, ref blockFrom, p, starts, ends, blockAt);
                    blockFrom = p;
                    blockAt = i;
                }

                p++;
                i++;
                continue;
            }

            Flush(ref buffer, ref length, previous, ref blockFrom, p, starts, ends, blockAt);
            if (i > 0)
            {
                Put(ref buffer, ref length, ","u8);
            }

            starts[i] = length;
            Put(ref buffer, ref length, "\""u8);
            Put(ref buffer, ref length, JsonEncodedText.Encode(key, EngineJson.Options.Encoder).EncodedUtf8Bytes);
            Put(ref buffer, ref length, "\":"u8);
            Put(ref buffer, ref length, Json(task));
            ends[i] = length;
            i++;
        }

        Flush(ref buffer, ref length, previous, ref blockFrom, p, starts, ends, blockAt);
        Put(ref buffer, ref length, "}"u8);
        return new TaskMapJson(tasks, keys, states, starts, ends, buffer, length);
    }

    /// <summary>Copies the pending block of previous entries [blockFrom, blockEnd) to entries from <paramref name="blockAt"/> on.</summary>
    private static void Flush(ref byte[] buffer, ref int length, TaskMapJson? previous, ref int blockFrom, int blockEnd, int[] starts, int[] ends, int blockAt)
    {
        if (blockFrom < 0 || previous is null || blockEnd <= blockFrom)
        {
            blockFrom = -1;
            return;
        }

        if (blockAt > 0)
        {
            Put(ref buffer, ref length, ","u8);
        }

        var shift = length - previous.Starts[blockFrom];
        Put(ref buffer, ref length, previous.Json.AsSpan(previous.Starts[blockFrom], previous.Ends[blockEnd - 1] - previous.Starts[blockFrom]));
        for (var k = blockFrom; k < blockEnd; k++)
        {
            starts[blockAt + k - blockFrom] = previous.Starts[k] + shift;
            ends[blockAt + k - blockFrom] = previous.Ends[k] + shift;
        }

        blockFrom = -1;
    }

    private static void Put(ref byte[] buffer, ref int length, ReadOnlySpan<byte> bytes)
    {
        if (length + bytes.Length > buffer.Length)
        {
            Array.Resize(ref buffer, Math.Max(buffer.Length * 2, length + bytes.Length));
        }

        bytes.CopyTo(buffer.AsSpan(length));
        length += bytes.Length;
    }

    private sealed record TaskMapJson(ImmutableSortedDictionary<string, TaskState> Map, string[] Keys, TaskState[] States, int[] Starts, int[] Ends, byte[] Json, int Length);

    // The task map is written here rather than through the serializer once per task: a serializer call per value
    // costs more than copying that value's cached JSON.
    private sealed class TaskMapConverter : JsonConverter<ImmutableSortedDictionary<string, TaskState>>
    {
        public override ImmutableSortedDictionary<string, TaskState>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
            => JsonSerializer.Deserialize<ImmutableSortedDictionary<string, TaskState>>(ref reader, EngineJson.Options);

        public override void Write(Utf8JsonWriter writer, ImmutableSortedDictionary<string, TaskState> value, JsonSerializerOptions options)
        {
            var map = _current is { } current && ReferenceEquals(current.Map, value) ? current : WriteTasks(value, null);
            writer.WriteRawValue(map.Json.AsSpan(0, map.Length), skipInputValidation: true);
        }
    }

    private sealed class TaskStateConverter : JsonConverter<TaskState>
    {
        public override TaskState? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
            => JsonSerializer.Deserialize<TaskState>(ref reader, EngineJson.Options);

        public override void Write(Utf8JsonWriter writer, TaskState value, JsonSerializerOptions options)
            => writer.WriteRawValue(Json(value), skipInputValidation: true);
    }
}
