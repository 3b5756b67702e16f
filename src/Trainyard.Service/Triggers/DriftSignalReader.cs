using System.Text.Json;
using Trainyard.Execution.Contracts;

namespace Trainyard.Service;

/// <summary>A trigger payload that cannot be used: the field at fault and what is wrong with it. Retrying cannot help.</summary>
public sealed class TriggerPayloadException(string field, string message) : Exception(message)
{
    /// <summary>The payload field(s) at fault, comma-separated.</summary>
    public string Field { get; } = field;
}

/// <summary>Reads and validates a drift signal message (camelCase JSON of <see cref="DriftSignal"/>).</summary>
public static class DriftSignalReader
{
    private static readonly string[] TextFields = ["model", "feature", "metric", "window", "source"];
    private static readonly string[] NumberFields = ["value", "threshold"];

    /// <summary>
    /// A Service Bus message: its MessageId (which the sender sets to the signal id, for duplicate detection) wins over
    /// a body signalId. Throws <see cref="TriggerPayloadException"/> listing every missing or mistyped field.
    /// </summary>
    public static DriftSignal ReadServiceBus(BinaryData body, string? messageId) =>
        Read(Parse(body), string.IsNullOrWhiteSpace(messageId) ? null : messageId, preferBody: false);

    /// <summary>
    /// A Storage queue message: the body's signalId wins (every enqueue gets a new queue message id, so the same signal
    /// sent twice must be recognised by its own id), else the queue message id.
    /// </summary>
    public static DriftSignal ReadQueue(string body, string? queueMessageId) =>
        Read(Parse(BinaryData.FromString(body ?? "")), string.IsNullOrWhiteSpace(queueMessageId) ? null : queueMessageId, preferBody: true);

    private static JsonElement? Parse(BinaryData body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body.ToMemory(), new JsonDocumentOptions { MaxDepth = 16 });
            return doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new TriggerPayloadException("body", $"the drift signal is not JSON ({ex.Message}); send {{\"model\",\"feature\",\"metric\",\"value\",\"threshold\",\"window\",\"source\"}}");
        }
    }

    private static DriftSignal Read(JsonElement? body, string? transportId, bool preferBody)
    {
        if (body is not { ValueKind: JsonValueKind.Object } obj)
        {
            throw new TriggerPayloadException("body", "the drift signal is not a JSON object; send {\"model\",\"feature\",\"metric\",\"value\",\"threshold\",\"window\",\"source\"}");
        }

        var problems = new List<string>();
        var fields = new List<string>();
        var text = new Dictionary<string, string>();
        foreach (var f in TextFields)
        {
            var v = Property(obj, f);
            if (v is { ValueKind: JsonValueKind.String } s && !string.IsNullOrWhiteSpace(s.GetString()))
            {
                text[f] = s.GetString()!;
            }
            else
            {
                problems.Add(v is null ? $"'{f}' is missing" : $"'{f}' must be a non-empty string");
                fields.Add(f);
            }
        }

        var numbers = new Dictionary<string, double>();
        foreach (var f in NumberFields)
        {
            var v = Property(obj, f);
            if (v is { ValueKind: JsonValueKind.Number } n && n.TryGetDouble(out var d) && double.IsFinite(d))
            {
                numbers[f] = d;
            }
            else
            {
                problems.Add(v is null ? $"'{f}' is missing" : $"'{f}' must be a finite number");
                fields.Add(f);
            }
        }

        var bodyId = Property(obj, "signalId") is { ValueKind: JsonValueKind.String } id && !string.IsNullOrWhiteSpace(id.GetString()) ? id.GetString() : null;
        var signalId = preferBody ? bodyId ?? transportId : transportId ?? bodyId;
        if (signalId is null)
        {
            problems.Add("no signal id: set the message id (Service Bus MessageId) or 'signalId' in the body");
            fields.Add("signalId");
        }

        if (problems.Count > 0)
        {
            throw new TriggerPayloadException(string.Join(",", fields), "invalid drift signal: " + string.Join("; ", problems));
        }

        return new DriftSignal
        {
            SignalId = signalId!,
            Model = text["model"],
            Feature = text["feature"],
            Metric = text["metric"],
            Value = numbers["value"],
            Threshold = numbers["threshold"],
            Window = text["window"],
            Source = text["source"],
        };
    }

    /// <summary>A property by name, case-insensitively (senders differ in casing).</summary>
    private static JsonElement? Property(JsonElement obj, string name)
    {
        foreach (var p in obj.EnumerateObject())
        {
            if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return p.Value;
            }
        }

        return null;
    }
}
