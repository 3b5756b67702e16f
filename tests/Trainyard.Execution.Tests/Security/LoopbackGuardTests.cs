using System.Net;
using Trainyard.Execution.Security;

namespace Trainyard.Execution.Tests.Security;

/// <summary>The local listener policy against what a hostile web page (or another user's process) can send.</summary>
public sealed class LoopbackGuardTests
{
    private const int Port = 7071;
    private static readonly LoopbackGuard Guard = new(Port);
    private static readonly string Bearer = "Bearer " + Guard.Token;

    private static LoopbackRequest Get(string? host = "127.0.0.1:7071", string? auth = null) => new("GET", host, auth ?? Bearer);

    [Theory]
    [InlineData("127.0.0.1:7071")]
    [InlineData("localhost:7071")]
    [InlineData("LocalHost:7071")]
    public void TokenAndLoopbackHost_AreAllowed(string host)
        => Assert.True(Guard.Check(Get(host)).Allowed);

    [Fact]
    public void JsonPostWithTokenWithinTheLimit_IsAllowed()
        => Assert.True(Guard.Check(new LoopbackRequest("POST", "localhost:7071", Bearer, "application/json; charset=utf-8", 1200, "http://localhost:7071")).Allowed);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("evil.example")]
    [InlineData("evil.example:7071")]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    [InlineData("127.0.0.1:7072")]
    [InlineData("127.0.0.1.evil.example:7071")]
    [InlineData("127.0.0.1:7071.evil.example")]
    [InlineData("[::1]:7071")]
    [InlineData("0.0.0.0:7071")]
    [InlineData("127.0.0.1:7071 ")]
    public void HostThatIsNotThisListener_IsRefused_DnsRebinding(string? host)
    {
        var decision = Guard.Check(Get(host));

        Assert.False(decision.Allowed);
        Assert.Equal(HttpStatusCode.MisdirectedRequest, decision.StatusCode);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Bearer")]
    [InlineData("Bearer ")]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Bearer wrong-token-of-some-length")]
    public void MissingOrWrongToken_IsRefused_EvenForReads(string? authorization)
    {
        var decision = Guard.Check(new LoopbackRequest("GET", "127.0.0.1:7071", authorization));

        Assert.False(decision.Allowed);
        Assert.Equal(HttpStatusCode.Unauthorized, decision.StatusCode);
        Assert.DoesNotContain(Guard.Token, decision.Reason!, StringComparison.Ordinal);
    }

    [Fact]
    public void TokenPrefixOrTokenWithExtra_IsRefused()
    {
        Assert.False(Guard.Check(Get(auth: "Bearer " + Guard.Token[..^1])).Allowed);
        Assert.False(Guard.Check(Get(auth: "Bearer " + Guard.Token + "x")).Allowed);
        Assert.False(Guard.Check(Get(auth: "Bearer " + Guard.Token.ToUpperInvariant() + "!")).Allowed);
    }

    [Fact]
    public void AnotherGuardsToken_IsRefused()
        => Assert.False(new LoopbackGuard(Port).Check(Get()).Allowed);

    [Theory]
    [InlineData(null)]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData("application/jsonx")]
    [InlineData("application/json-patch+json")]
    [InlineData("text/json")]
    public void BodyThatIsNotDeclaredJson_IsRefused_NoSimpleRequestCsrf(string? contentType)
    {
        var decision = Guard.Check(new LoopbackRequest("POST", "127.0.0.1:7071", Bearer, contentType, 10));

        Assert.False(decision.Allowed);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, decision.StatusCode);
    }

    [Fact]
    public void ChunkedBodyWithoutJsonContentType_IsRefused()
        => Assert.Equal(HttpStatusCode.UnsupportedMediaType, Guard.Check(new LoopbackRequest("GET", "127.0.0.1:7071", Bearer) { Chunked = true }).StatusCode);

    [Fact]
    public void BodyOverTheLimit_IsRefusedBeforeReading()
    {
        var decision = Guard.Check(new LoopbackRequest("POST", "127.0.0.1:7071", Bearer, "application/json", LoopbackGuard.DefaultMaxBodyBytes + 1));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, decision.StatusCode);
    }

    [Fact]
    public void CorsPreflight_IsRefused_EvenWithTheToken()
    {
        var decision = Guard.Check(new LoopbackRequest("OPTIONS", "127.0.0.1:7071", Bearer, Origin: "http://127.0.0.1:7071"));

        Assert.Equal(HttpStatusCode.MethodNotAllowed, decision.StatusCode);
        Assert.DoesNotContain(LoopbackGuard.ResponseHeaders.Keys, k => k.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase));
    }

    [Theory]
    [InlineData("https://evil.example")]
    [InlineData("http://127.0.0.1:7072")]
    [InlineData("null")]
    public void CrossOriginRequest_IsRefused(string origin)
        => Assert.Equal(HttpStatusCode.Forbidden, Guard.Check(new LoopbackRequest("GET", "127.0.0.1:7071", Bearer, Origin: origin)).StatusCode);

    [Fact]
    public void RemotePeer_IsRefused()
        => Assert.Equal(HttpStatusCode.Forbidden, Guard.Check(Get() with { RemoteAddress = IPAddress.Parse("192.168.1.20") }).StatusCode);

    [Fact]
    public void Tokens_AreRandomLongAndPrintedInTheBanner()
    {
        var tokens = Enumerable.Range(0, 50).Select(_ => new LoopbackGuard(Port).Token).ToList();

        Assert.Equal(50, tokens.Distinct(StringComparer.Ordinal).Count());
        Assert.All(tokens, t => Assert.True(t.Length >= 40));
        Assert.Contains(Guard.Token, Guard.Banner, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:7071", Guard.Banner, StringComparison.Ordinal);
        Assert.Equal(IPAddress.Loopback, LoopbackGuard.BindAddress);
        Assert.Throws<ArgumentException>(() => new LoopbackGuard(Port, "short"));
    }
}
