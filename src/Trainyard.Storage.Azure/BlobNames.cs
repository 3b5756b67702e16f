using System.Security.Cryptography;
using System.Text;

namespace Trainyard.Storage.Azure;

/// <summary>
/// Blob names for arbitrary text (scopes, keys, hashes): letters, digits, '-' and '_' stay as they are, every other
/// UTF-8 byte becomes <c>~xx</c> (lowercase hex), so '/', '.', '..', '\', '?', '#', '%', spaces, control characters
/// and non-ASCII text can neither change the blob's path nor collide. The empty string is <c>~</c> (no escape is a
/// lone '~'); a segment longer than <see cref="MaxSegment"/> once encoded is <c>~sha256~</c> + the SHA-256 of the text
/// (no escape starts with "~s"), which keeps every name under the service's 1,024 characters.
/// </summary>
internal static class BlobNames
{
    /// <summary>Longest encoded segment kept readable; two of them and a '/' stay under 1,024.</summary>
    public const int MaxSegment = 500;

    public static string Segment(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return "~";
        }

        var builder = new StringBuilder(text.Length);
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            if (b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9') or (byte)'-' or (byte)'_')
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append('~').Append(Convert.ToHexStringLower([b]));
            }

            if (builder.Length > MaxSegment)
            {
                return "~sha256~" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
            }
        }

        return builder.ToString();
    }
}
