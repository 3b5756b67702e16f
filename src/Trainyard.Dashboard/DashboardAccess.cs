using Microsoft.AspNetCore.Http;
using Trainyard.Execution.Security;

namespace Trainyard.Dashboard;

/// <summary>
/// Who may talk to the dashboard, checked on every request before anything else (docs/observability.md, "Dashboard"):
/// the Host header must be 127.0.0.1:PORT or localhost:PORT (else 421: DNS rebinding), the access token must come as
/// `?token=` (then kept in an HttpOnly SameSite=Strict cookie and removed from the URL by a redirect), the cookie, or `Authorization: Bearer` (else 401), and
/// state-changing requests must be JSON (a form post from another site cannot be). No CORS headers are ever sent, so
/// other origins cannot read answers. Host, origin, preflight, token, content type and body size are decided by the
/// shared <see cref="LoopbackGuard"/> (docs/security.md); this class adds what a browser needs on top: the token from
/// the URL once, then from an HttpOnly cookie.
/// </summary>
internal sealed class DashboardAccess(string token, Func<int> port)
{
    /// <summary>Cookie that carries the token after the first visit.</summary>
    public const string CookieName = "trainyard_token";

    private LoopbackGuard? _guard;

    /// <summary>Null when the request may go on; otherwise the refusal (status and message), or a 303 whose message is the Location.</summary>
    public (int Status, string Message)? Check(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Request;
        // The port is known once the server has bound (port 0 picks a free one): the guard is made on the first request.
        var guard = _guard ??= new LoopbackGuard(port(), token);
        var fromQuery = request.Query["token"].ToString();
        var presented = fromQuery.Length > 0 ? fromQuery
            : request.Headers.Authorization.ToString() is { } auth && auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth["Bearer ".Length..].Trim()
            : request.Cookies[CookieName] ?? "";
        var decision = guard.Check(new LoopbackRequest(
            request.Method,
            request.Host.HasValue ? request.Host.Value : null,
            "Bearer " + presented,
            request.ContentType,
            request.ContentLength,
            request.Headers.Origin.ToString() is { Length: > 0 } origin ? origin : null)
        {
            RemoteAddress = context.Connection.RemoteIpAddress,
            Chunked = request.Headers.TransferEncoding.ToString().Contains("chunked", StringComparison.OrdinalIgnoreCase),
        });
        if (!decision.Allowed)
        {
            return decision.StatusCode == System.Net.HttpStatusCode.Unauthorized
                ? (StatusCodes.Status401Unauthorized, "open the URL `trainyard ui` printed (it carries the access token), or send Authorization: Bearer <token>")
                : ((int)decision.StatusCode, decision.Reason ?? "refused");
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

        if (!(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsPost(request.Method)))
        {
            return (StatusCodes.Status405MethodNotAllowed, $"{request.Method} is not supported here");
        }

        return null;
    }
}
