using System.Text;
using Microsoft.AspNetCore.Http;
using Trainyard.Service;

namespace Trainyard.Dashboard;

/// <summary>
/// Between an ASP.NET Core request and the host-neutral <see cref="ApiRequest"/> of the HTTP API, for every host that
/// serves it (the Function App's HTTP functions and its dashboard, `trainyard ui`, `trainyard serve`): the body is read
/// no further than <see cref="ApiHandler.MaxBodyBytes"/> whether or not it declares its length (a chunked body included).
/// </summary>
public static class ApiHttp
{
    /// <summary>The API's route prefix.</summary>
    public const string RoutePrefix = "/api";

    /// <summary>Reads a request under <see cref="RoutePrefix"/>; null when its body is over <see cref="ApiHandler.MaxBodyBytes"/>.</summary>
    public static Task<ApiRequest?> ReadAsync(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return ReadAsync(request, (request.Path.StartsWithSegments(RoutePrefix, StringComparison.OrdinalIgnoreCase, out var rest) ? rest : request.Path).ToUriComponent());
    }

    /// <summary>Reads a request whose API path (below the route prefix, still escaped) is <paramref name="apiPath"/>; null when its body is too large.</summary>
    public static async Task<ApiRequest?> ReadAsync(HttpRequest request, string apiPath)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(apiPath);
        if (request.ContentLength > ApiHandler.MaxBodyBytes)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > ApiHandler.MaxBodyBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        // Still escaped: ApiHandler unescapes each segment once.
        return new ApiRequest(
            request.Method.ToUpperInvariant(),
            apiPath.Trim('/'),
            request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.OrdinalIgnoreCase),
            request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
            Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }
}
