using System.Globalization;
using System.Text;

namespace Trainyard.Storage.Azure;

/// <summary>Makes any string a valid PartitionKey/RowKey (no '/', '\', '#', '?', control characters), reversibly.</summary>
internal static class TableKeys
{
    public static string Encode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        StringBuilder? sb = null;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is '%' or '/' or '\\' or '#' or '?' or '\'' || char.IsControl(c))
            {
                sb ??= new StringBuilder(value, 0, i, value.Length + 8);
                sb.Append('%').Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
            }
            else
            {
                sb?.Append(c);
            }
        }

        var encoded = sb?.ToString() ?? value;
        if (Encoding.UTF8.GetByteCount(encoded) > 512)
        {
            throw new ArgumentException($"Key '{value[..Math.Min(60, value.Length)]}...' is too long for a table key: keep ids under 500 characters.", nameof(value));
        }

        return encoded;
    }

    /// <summary>RowKey that sorts by a sequence number.</summary>
    public static string Sequence(char kind, long sequence) => kind + sequence.ToString("D19", CultureInfo.InvariantCulture);

    /// <summary>RowKey that sorts newest first.</summary>
    public static string NewestFirst(DateTimeOffset at, string id) =>
        (DateTimeOffset.MaxValue.UtcTicks - at.UtcTicks).ToString("D19", CultureInfo.InvariantCulture) + "_" + Encode(id);
}
