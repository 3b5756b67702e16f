using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Trainyard.Service;

namespace Trainyard.Functions;

/// <summary>Between ASP.NET Core's request/response and the host-neutral <see cref="ApiRequest"/>/<see cref="ApiResponse"/>.</summary>
internal static class HttpApi
{
    /// <summary>The route prefix of host.json's http section.</summary>
    public const string RoutePrefix = "/api/";

    /// <summary>Reads a request; null when its body is over <see cref="ApiHandler.MaxBodyBytes"/> (read no further than that).</summary>
    public static async Task<ApiRequest?> ReadAsync(HttpRequest req)
    {
        if (req.ContentLength > ApiHandler.MaxBodyBytes)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await req.Body.ReadAsync(chunk, req.HttpContext.RequestAborted)) > 0)
        {
            if (buffer.Length + read > ApiHandler.MaxBodyBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        // Still escaped: ApiHandler unescapes each segment once.
        var path = req.Path.ToUriComponent();
        path = path.StartsWith(RoutePrefix, StringComparison.OrdinalIgnoreCase) ? path[RoutePrefix.Length..] : path.TrimStart('/');
        return new ApiRequest(
            req.Method.ToUpperInvariant(),
            path.Trim('/'),
            req.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.OrdinalIgnoreCase),
            req.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
            Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    /// <summary>The JSON answer as an action result.</summary>
    public static ContentResult ToResult(ApiResponse response) => new()
    {
        StatusCode = response.StatusCode,
        ContentType = "application/json; charset=utf-8",
        Content = response.Body.ToJsonString(),
    };
}
