using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Trainyard.Testing.AzureDoubles;

/// <summary>Starts a Kestrel app for an HTTP double: HTTPS on 127.0.0.1, a free port, no logging.</summary>
public static class HttpsDoubleHost
{
    /// <summary>Builds, maps (<paramref name="map"/>) and starts the app; returns it with its base URL.</summary>
    public static async Task<(WebApplication App, Uri Endpoint)> StartAsync(TestCertificate certificate, Action<WebApplication> map, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(certificate.Certificate)));
        var app = builder.Build();
        map(app);
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new Uri(address));
    }
}
