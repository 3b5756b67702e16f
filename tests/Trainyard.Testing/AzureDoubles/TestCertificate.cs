using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Azure.Core;
using Azure.Core.Pipeline;

namespace Trainyard.Testing.AzureDoubles;

/// <summary>
/// A throw-away self-signed certificate for HTTPS doubles on 127.0.0.1. Azure.Core refuses to send bearer tokens over
/// plain HTTP, so doubles of token-authenticated services speak HTTPS, and clients trust exactly this certificate.
/// </summary>
public sealed class TestCertificate : IDisposable
{
    private TestCertificate(X509Certificate2 certificate) => Certificate = certificate;

    /// <summary>The certificate (with private key).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Creates a certificate for 127.0.0.1 and localhost, valid for a day.</summary>
    public static TestCertificate Create()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
        // Re-load from PFX so the private key is usable by SslStream on every platform.
        return new TestCertificate(X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pfx), password: null));
    }

    /// <summary>An Azure.Core transport that trusts this certificate only.</summary>
    public HttpPipelineTransport CreateTransport() => new HttpClientTransport(CreateHandler());

    /// <summary>An HTTP handler that trusts this certificate only.</summary>
    public HttpClientHandler CreateHandler()
    {
        var thumbprint = Certificate.Thumbprint;
        return new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, cert, _, _) => cert is not null && cert.Thumbprint == thumbprint,
        };
    }

    /// <inheritdoc />
    public void Dispose() => Certificate.Dispose();
}

/// <summary>A token credential returning a fixed, fake token (no secrets), recording the scopes asked for.</summary>
public sealed class FixedTokenCredential(string token = "test-token") : TokenCredential
{
    private readonly List<string> _scopes = [];

    /// <summary>Scopes requested so far.</summary>
    public IReadOnlyList<string> Scopes
    {
        get
        {
            lock (_scopes)
            {
                return [.. _scopes];
            }
        }
    }

    /// <inheritdoc />
    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        lock (_scopes)
        {
            _scopes.AddRange(requestContext.Scopes);
        }

        return new AccessToken(token, DateTimeOffset.UtcNow.AddHours(1));
    }

    /// <inheritdoc />
    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        ValueTask.FromResult(GetToken(requestContext, cancellationToken));
}
