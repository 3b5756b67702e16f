using System.Text.Json;
using Trainyard.FunctionApp.Protocol;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.FunctionApp.Triggers;

/// <summary>Reads and validates a drift signal message body (camelCase JSON of <see cref="DriftSignal"/>).</summary>
internal static class DriftSignalReader
{
    private static readonly string[] TextFields = ["model", "feature", "metric", "window", "source"];
    private static readonly string[] NumberFields = ["value", "threshold"];

    /// <summary>
    /// Parses a signal; <paramref name="messageId"/> (the Service Bus MessageId) wins over a body signalId.
    /// Throws <see cref="InvocationFormatException"/> listing every missing or mistyped field.
    /// </summary>
    public static DriftSignal Read(JsonElement? body, string? messageId)
    {
        if (body is not { ValueKind: JsonValueKind.Object } obj)
        {
            throw new InvocationFormatException("message", "the drift signal is not a JSON object; send {\"model\",\"feature\",\"metric\",\"value\",\"threshold\",\"window\",\"source\"}");
        }

        var problems = new List<string>();
        var fields = new List<string>();
        var text = new Dictionary<string, string>();
        foreach (var f in TextFields)
        {
            var v = InvocationRequest.Property(obj, f);
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
            var v = InvocationRequest.Property(obj, f);
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

        var bodyId = InvocationRequest.Property(obj, "signalId") is { ValueKind: JsonValueKind.String } id ? id.GetString() : null;
        var signalId = !string.IsNullOrWhiteSpace(messageId) ? messageId : bodyId;
        if (string.IsNullOrWhiteSpace(signalId))
        {
            problems.Add("no message id: set the Service Bus MessageId (or 'signalId' in the body)");
            fields.Add("MessageId");
        }

        if (problems.Count > 0)
        {
            throw new InvocationFormatException(string.Join(",", fields), "invalid drift signal: " + string.Join("; ", problems));
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
}
