using System.Text.Json;
using Trainyard.FunctionApp.Protocol;

namespace Trainyard.FunctionApp.Triggers;

/// <summary>
/// Reads a blobTrigger invocation. The blob content in <c>Data.blob</c> is ignored; the identity comes from Metadata:
/// <c>name</c> (the <c>{name}</c> of the binding path), <c>Uri</c> and <c>Properties.ETag</c>. The host drops metadata
/// keys ending in "Trigger" (so <c>BlobTrigger</c> never arrives).
/// </summary>
internal static class BlobEventReader
{
    /// <summary>Reads the arrival; throws <see cref="InvocationFormatException"/> when the blob cannot be identified.</summary>
    public static BlobArrival Read(InvocationRequest invocation, string dataContainer)
    {
        var uri = invocation.MetadataText("Uri");
        var name = invocation.MetadataText("name");
        string container = dataContainer;
        if (uri is not null && Uri.TryCreate(uri, UriKind.Absolute, out var parsed) && SplitUri(parsed) is { } fromUri)
        {
            container = fromUri.Container;
            name ??= fromUri.Path;
        }

        if (string.IsNullOrEmpty(name))
        {
            throw new InvocationFormatException("Metadata.name", "the blob event names no blob: expected Metadata.name (from the binding path {name}) or Metadata.Uri");
        }

        var etag = ETag(invocation.MetadataValue("Properties"))
            ?? throw new InvocationFormatException("Metadata.Properties", $"the blob event for '{name}' has no Properties.ETag (nor LastModified and ContentLength) to tell blob versions apart");
        return new BlobArrival(container, name, etag, uri);
    }

    private static string? ETag(JsonElement? properties)
    {
        if (properties is not { } p)
        {
            return null;
        }

        var obj = p.ValueKind == JsonValueKind.String ? InvocationRequest.UnwrapJson(p) : p;
        if (obj is not { ValueKind: JsonValueKind.Object } o)
        {
            return null;
        }

        switch (InvocationRequest.Property(o, "ETag"))
        {
            case { ValueKind: JsonValueKind.String } s when !string.IsNullOrEmpty(s.GetString()):
                return s.GetString()!.Trim('"');
            case { ValueKind: JsonValueKind.Object } e when e.EnumerateObject().Any():
                return e.GetRawText();
        }

        // Azure.ETag may serialize as {}: fall back on what identifies a blob version just as well.
        var modified = InvocationRequest.Property(o, "LastModified");
        var length = InvocationRequest.Property(o, "ContentLength");
        return modified is null || length is null ? null : $"{modified.Value.GetRawText()}|{length.Value.GetRawText()}";
    }

    private static (string Container, string Path)? SplitUri(Uri uri)
    {
        var segments = uri.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToList();

        // Path-style addressing (Azurite, IP hosts): /{account}/{container}/{blob}.
        if ((uri.IsLoopback || System.Net.IPAddress.TryParse(uri.Host, out _)) && segments.Count >= 3)
        {
            segments.RemoveAt(0);
        }

        return segments.Count >= 2 ? (segments[0], string.Join('/', segments.Skip(1))) : null;
    }
}
