using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Trainyard.Execution.Security;

/// <summary>
/// The policy every local listener (`trainyard serve`, the dashboard) applies to each request before routing it.
/// A page in a browser on the same machine can reach 127.0.0.1, resolve its own domain to it (DNS rebinding) and send
/// simple cross-site requests (a form post, text/plain); pushing a pipeline is running code, so the listener must let
/// none of that through: bind <see cref="BindAddress"/> only, print <see cref="Token"/> at start (<see cref="Banner"/>),
/// and answer whatever <see cref="Check"/> refuses with its status code and reason, before reading the body.
/// </summary>
public sealed class LoopbackGuard
{
    /// <summary>Largest request body accepted by default (pipeline specs are at most 1 MiB; JSON around them is small).</summary>
    public const long DefaultMaxBodyBytes = 2 * 1024 * 1024;

    private const string BearerPrefix = "Bearer ";
    private readonly byte[] _tokenHash;
    private readonly string[] _hosts;
    private readonly string[] _origins;

    /// <summary>A guard for a listener on 127.0.0.1:<paramref name="port"/> with a fresh random token (or <paramref name="token"/>).</summary>
    /// <param name="port">The port the listener bound (after binding port 0, the one the OS chose).</param>
    /// <param name="token">A token to require; null makes a random 256-bit one.</param>
    public LoopbackGuard(int port, string? token = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        if (token is not null && token.Length < 16)
        {
            throw new ArgumentException("a listener token must be at least 16 characters; pass null for a random one", nameof(token));
        }

        Port = port;
        Token = token ?? Base64Url(RandomNumberGenerator.GetBytes(32));
        _tokenHash = SHA256.HashData(Encoding.UTF8.GetBytes(Token));
        var p = port.ToString(CultureInfo.InvariantCulture);
        _hosts = [$"127.0.0.1:{p}", $"localhost:{p}"];
        _origins = [$"http://127.0.0.1:{p}", $"http://localhost:{p}"];
    }

    /// <summary>The only address a local listener binds.</summary>
    public static IPAddress BindAddress => IPAddress.Loopback;

    /// <summary>The port the listener is on.</summary>
    public int Port { get; }

    /// <summary>The token every request must carry as `Authorization: Bearer &lt;token&gt;`; print it at start, never log it elsewhere.</summary>
    public string Token { get; }

    /// <summary>Largest accepted request body; larger ones are refused from their Content-Length, before reading.</summary>
    public long MaxBodyBytes { get; init; } = DefaultMaxBodyBytes;

    /// <summary>The line to print at start: where to connect and the token to send.</summary>
    public string Banner => $"listening on http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)} (this machine only); send `Authorization: Bearer {Token}` with every request";

    /// <summary>Headers to add to every response: no caching of answers, no content sniffing, and no CORS headers at all.</summary>
    public static IReadOnlyDictionary<string, string> ResponseHeaders { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["Cache-Control"] = "no-store",
        ["X-Content-Type-Options"] = "nosniff",
    };

    /// <summary>Whether <paramref name="request"/> may be served; when not, the status code and a reason safe to send back.</summary>
    public GuardDecision Check(LoopbackRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.RemoteAddress is { } remote && !IPAddress.IsLoopback(remote))
        {
            return GuardDecision.Refuse(HttpStatusCode.Forbidden, "only this machine may call this listener");
        }

        if (request.Host is not { } host || !_hosts.Contains(host, StringComparer.OrdinalIgnoreCase))
        {
            // DNS rebinding: a page on evil.example that resolves to 127.0.0.1 still sends Host: evil.example.
            return GuardDecision.Refuse(HttpStatusCode.MisdirectedRequest, $"the Host header must be 127.0.0.1:{Port} or localhost:{Port}");
        }

        if (string.Equals(request.Method, "OPTIONS", StringComparison.OrdinalIgnoreCase))
        {
            return GuardDecision.Refuse(HttpStatusCode.MethodNotAllowed, "CORS preflights are refused: this listener serves no other origin");
        }

        if (request.Origin is { } origin && !_origins.Contains(origin, StringComparer.OrdinalIgnoreCase))
        {
            return GuardDecision.Refuse(HttpStatusCode.Forbidden, "cross-origin requests are refused");
        }

        if (!HasToken(request.Authorization))
        {
            return GuardDecision.Refuse(HttpStatusCode.Unauthorized, "send the token printed at start as `Authorization: Bearer <token>`");
        }

        var hasBody = request.ContentLength is > 0 || request.Chunked;
        if (hasBody || request.Method.ToUpperInvariant() is "POST" or "PUT" or "PATCH")
        {
            if (!IsJson(request.ContentType))
            {
                // Forms and text/plain are what a cross-site page can send without a preflight; JSON is not.
                return GuardDecision.Refuse(HttpStatusCode.UnsupportedMediaType, "request bodies must be sent as Content-Type: application/json");
            }

            if (request.ContentLength is { } length && length > MaxBodyBytes)
            {
                return GuardDecision.Refuse(HttpStatusCode.RequestEntityTooLarge, $"the body is {length} bytes; the limit is {MaxBodyBytes}");
            }
        }

        return GuardDecision.Allow;
    }

    private bool HasToken(string? authorization)
    {
        if (authorization is null || !authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // Hashes have one length, so the comparison takes the same time whatever was sent (no length or prefix oracle).
        var sent = SHA256.HashData(Encoding.UTF8.GetBytes(authorization[BearerPrefix.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(sent, _tokenHash);
    }

    private static bool IsJson(string? contentType)
    {
        if (contentType is null)
        {
            return false;
        }

        var media = contentType.Split(';', 2)[0].Trim();
        return string.Equals(media, "application/json", StringComparison.OrdinalIgnoreCase);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>What <see cref="LoopbackGuard"/> needs of a request: its method and headers, read before the body.</summary>
/// <param name="Method">HTTP method.</param>
/// <param name="Host">The Host header (with port), or null when absent.</param>
/// <param name="Authorization">The Authorization header, or null.</param>
/// <param name="ContentType">The Content-Type header, or null.</param>
/// <param name="ContentLength">The Content-Length header, or null.</param>
/// <param name="Origin">The Origin header, or null.</param>
public sealed record LoopbackRequest(string Method, string? Host, string? Authorization, string? ContentType = null, long? ContentLength = null, string? Origin = null)
{
    /// <summary>The peer's address, when the listener knows it.</summary>
    public IPAddress? RemoteAddress { get; init; }

    /// <summary>True for a chunked body (no Content-Length).</summary>
    public bool Chunked { get; init; }
}

/// <summary>The guard's answer: allowed, or the status code and reason to send back.</summary>
/// <param name="Allowed">True when the request may be served.</param>
/// <param name="StatusCode">The status to answer a refused request with.</param>
/// <param name="Reason">Why it was refused (safe to send: it names no secret).</param>
public sealed record GuardDecision(bool Allowed, HttpStatusCode StatusCode, string? Reason)
{
    /// <summary>The request may be served.</summary>
    public static GuardDecision Allow { get; } = new(true, HttpStatusCode.OK, null);

    /// <summary>A refusal.</summary>
    public static GuardDecision Refuse(HttpStatusCode status, string reason) => new(false, status, reason);
}
