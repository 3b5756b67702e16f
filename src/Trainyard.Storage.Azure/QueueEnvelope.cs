using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Trainyard.Storage.Azure;

/// <summary>
/// The text of every Trainyard queue message: base64 of UTF-8 JSON (the Functions host's default queue
/// <c>messageEncoding</c>, so a queue-triggered function receives the JSON below unchanged), of the form
/// <c>{"id":"&lt;message id&gt;","body":&lt;the body JSON&gt;}</c>. A body that is not JSON goes in <c>"text"</c>
/// instead of <c>"body"</c>; <c>"notBefore"</c> (ISO 8601) marks a delay longer than a queue can hide a message.
/// Messages written by others (plain JSON, or not base64 at all) are still read: their body is the decoded text and
/// their id the queue's message id, so they reach the runtime (and, if unusable, its poison handling).
/// </summary>
public static class QueueEnvelope
{
    /// <summary>A decoded message.</summary>
    public sealed record Decoded(string Id, string Body, DateTimeOffset? NotBefore);

    /// <summary>Encodes a message for the queue.</summary>
    public static string Encode(string id, string body, DateTimeOffset? notBefore = null)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(body);
        var buffer = new ArrayBufferWriter<byte>(body.Length + id.Length + 64);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("id", id);
            if (IsJson(body))
            {
                writer.WritePropertyName("body");
                writer.WriteRawValue(body, skipInputValidation: true);
            }
            else
            {
                writer.WriteString("text", body);
            }

            if (notBefore is { } due)
            {
                writer.WriteString("notBefore", due.ToUniversalTime());
            }

            writer.WriteEndObject();
        }

        return Convert.ToBase64String(buffer.WrittenSpan);
    }

    /// <summary>Decodes queue message text; <paramref name="queueMessageId"/> is the id used when the text carries none.</summary>
    public static Decoded Decode(string text, string queueMessageId)
    {
        ArgumentNullException.ThrowIfNull(text);
        var bytes = new byte[(text.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(text, bytes, out var length))
        {
            return new Decoded(queueMessageId, text, null);
        }

        var json = bytes.AsMemory(0, length);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException)
        {
            // Base64 by accident (plain words often are): hand on the original text.
            return new Decoded(queueMessageId, text, null);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String)
            {
                string? body = root.TryGetProperty("body", out var b) ? b.GetRawText()
                    : root.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                if (body is not null)
                {
                    DateTimeOffset? due = root.TryGetProperty("notBefore", out var nb) && nb.TryGetDateTimeOffset(out var at) ? at : null;
                    return new Decoded(id.GetString()!, body, due);
                }
            }
        }

        return new Decoded(queueMessageId, Encoding.UTF8.GetString(json.Span), null);
    }

    private static bool IsJson(string body)
    {
        if (body.Length == 0)
        {
            return false;
        }

        try
        {
            using var _ = JsonDocument.Parse(body);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
