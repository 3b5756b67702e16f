using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Trainyard.Dashboard;

/// <summary>
/// Who may talk to the dashboard, checked on every request before anything else (docs/observability.md, "Dashboard"):
/// the Host header must be 127.0.0.1:PORT or localhost:PORT (else 421: DNS rebinding), the access token must come as
/// `?token=` (then kept in an HttpOnly SameSite=Strict cookie and removed from the URL by a redirect), the cookie, or `Authorization: Bearer` (else 401), and
/// state-changing requests must be JSON (a form post from another site cannot be). No CORS headers are ever sent, so
/// other origins cannot read answers. The one place a shared loopback-listener policy plugs in.
/// </summary>
internal sealed class DashboardAccess(string token, Func<int> port)
{
    /// <summary>Cookie that carries the token after the first visit.</summary>
    public const string CookieName = "trainyard_token";

    private readonly byte[] _token = Encoding.UTF8.GetBytes(token);

    /// <summary>Null when the request may go on; otherwise the refusal (status and message), or a 303 whose message is the Location.</summary>
    public (int Status, string Message)? Check(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Request;
        var host = request.Host;
        var p = port();
        if (!host.HasValue || host.Port != p || !(host.Host is "127.0.0.1" or "localhost"))
        {
            return (StatusCodes.Status421MisdirectedRequest, $"this dashboard answers only to http://127.0.0.1:{p} and http://localhost:{p}");
        }

        var fromQuery = request.Query["token"].ToString();
        var presented = fromQuery.Length > 0 ? fromQuery
            : request.Headers.Authorization.ToString() is { } auth && auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth["Bearer ".Length..].Trim()
            : request.Cookies[CookieName] ?? "";
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), _token))
        {
            return (StatusCodes.Status401Unauthorized, "open the URL `trainyard ui` printed (it carries the access token), or send Authorization: Bearer <token>");
        }

        if (fromQuery.Length > 0)
        {
            context.Response.Cookies.Append(CookieName, fromQuery, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/", IsEssential = true });
            if (HttpMethods.IsGet(request.Method))
            {
                // Once the cookie holds it, take the token out of the address bar and the browser history.
                var rest = request.Query.Where(q => q.Key != "token").Select(q => Uri.EscapeDataString(q.Key) + "=" + Uri.EscapeDataString(q.Value.ToString()));
                var query = string.Join("&", rest);
                return (StatusCodes.Status303SeeOther, request.PathBase + request.Path + (query.Length > 0 ? "?" + query : ""));
            }
        }

        if (HttpMethods.IsPost(request.Method) && !(request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) ?? false))
        {
            return (StatusCodes.Status415UnsupportedMediaType, "send JSON (Content-Type: application/json)");
        }

        if (!(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsPost(request.Method)))
        {
            return (StatusCodes.Status405MethodNotAllowed, $"{request.Method} is not supported here");
        }

        return null;
    }
}
