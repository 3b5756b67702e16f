using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Engine.Durable;
using Trainyard.Engine.Durable.Hosting;
using Trainyard.Execution.Contracts;
using Trainyard.Service;
using Trainyard.Storage.Azure;
using Trainyard.Testing;

namespace Trainyard.Functions.Tests;

/// <summary>
/// The app's Dashboard function (api/ui/) over its own task hub on Azurite: the orchestrator and the app's own activities
/// hosted in-process, the function called with the request the Functions host would hand it.
/// </summary>
public sealed class DashboardFunctionTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    private const string Diamond = """
        name: app-diamond
        steps:
          - { id: a, uses: echo }
          - { id: b, uses: echo, needs: [a] }
          - { id: c, uses: fail, needs: [a] }
          - { id: d, uses: echo, needs: [b, c] }
        """;

    [AzuriteFact]
    public async Task TheDashboard_ShowsTheTaskHubsRuns_WithTheSamePagesAndApi_BehindAppServiceAuthentication()
    {
        await using var app = await AppOnAzurite.StartAsync(azurite, authEnabled: true);
        var runId = await app.RunAsync(Diamond);

        var list = await app.CallAsync("GET", "/api/ui/");
        var page = await app.CallAsync("GET", $"/api/ui/runs/{runId}");
        var api = await app.CallAsync("GET", $"/api/ui/api/runs/{runId}");
        var script = await app.CallAsync("GET", "/api/ui/static/app.js");
        var missing = await app.CallAsync("GET", "/api/ui/api/runs/no-such-run");

        Assert.Equal(200, list.Status);
        Assert.Contains("<base href=\"/api/ui/\">", list.Body, StringComparison.Ordinal);
        Assert.Contains($"href=\"runs/{runId}\"", list.Body, StringComparison.Ordinal);
        Assert.Equal(200, page.Status);
        Assert.Contains("data-step=\"a\" data-state=\"succeeded\"", page.Body, StringComparison.Ordinal);
        Assert.Contains("data-step=\"c\" data-state=\"failed\"", page.Body, StringComparison.Ordinal);
        Assert.Contains("data-step=\"d\" data-state=\"cancelled\"", page.Body, StringComparison.Ordinal);
        Assert.Contains("Content-Security-Policy", page.Headers, StringComparer.Ordinal);
        using (var json = JsonDocument.Parse(api.Body))
        {
            Assert.Equal("failed", json.RootElement.GetProperty("status").GetString());
            Assert.Equal("failed", json.RootElement.GetProperty("tasks").GetProperty("c").GetProperty("status").GetString());
        }

        Assert.StartsWith("text/javascript", script.Type, StringComparison.Ordinal);
        Assert.Equal(404, missing.Status);
        Assert.Contains("unknown_run", missing.Body, StringComparison.Ordinal);
    }

    [AzuriteFact]
    public async Task Actions_ComeOnlyFromTheAppsOwnOrigin_AsJson_AndRetryStartsARun()
    {
        await using var app = await AppOnAzurite.StartAsync(azurite, authEnabled: true);
        var runId = await app.RunAsync(Diamond);

        var noOrigin = await app.CallAsync("POST", $"/api/ui/api/runs/{runId}/retry", "{}");
        var foreign = await app.CallAsync("POST", $"/api/ui/api/runs/{runId}/retry", "{}", origin: "https://evil.example");
        var notJson = await app.CallAsync("POST", $"/api/ui/api/runs/{runId}/retry", "{}", origin: AppOnAzurite.Origin, contentType: "text/plain");
        var retry = await app.CallAsync("POST", $"/api/ui/api/runs/{runId}/retry", "{}", origin: AppOnAzurite.Origin);

        Assert.Equal((403, 403, 415), (noOrigin.Status, foreign.Status, notJson.Status));
        Assert.Contains("cross_origin", foreign.Body, StringComparison.Ordinal);
        Assert.Equal(201, retry.Status);
        using var json = JsonDocument.Parse(retry.Body);
        Assert.Equal(runId, json.RootElement.GetProperty("retryOf").GetString());
    }

    [AzuriteFact]
    public async Task WithoutAppServiceAuthentication_EveryRequestIsRefused_SayingHowToTurnItOn_AndWithoutASignInToo()
    {
        await using (var off = await AppOnAzurite.StartAsync(azurite, authEnabled: false))
        {
            var page = await off.CallAsync("GET", "/api/ui/");
            Assert.Equal(403, page.Status);
            Assert.Contains("App Service Authentication", page.Body, StringComparison.Ordinal);
        }

        await using var on = await AppOnAzurite.StartAsync(azurite, authEnabled: true);
        var anonymous = await on.CallAsync("GET", "/api/ui/", signedIn: false);
        Assert.Equal(401, anonymous.Status);
    }

    /// <summary>The app's services on an Azurite task hub, its orchestrator and activities hosted in-process.</summary>
    private sealed class AppOnAzurite : IAsyncDisposable
    {
        public const string Origin = "https://ty-app.azurewebsites.net";

        private ServiceProvider _provider = null!;
        private TrainyardDurableHost _host = null!;
        private AzureBlobStores _stores = null!;
        private DashboardFunctions _function = null!;

        public static async Task<AppOnAzurite> StartAsync(AzuriteFixture azurite, bool authEnabled)
        {
            azurite.EnsureAvailable();
            var hub = AzuriteFixture.NewTaskHub();
            var settings = new Dictionary<string, string>
            {
                [AppSettings.Storage] = "UseDevelopmentStorage=true",
                [AppSettings.TaskHub] = hub,
                [AppSettings.WorkDir] = Path.Combine(Path.GetTempPath(), "ty-dashfn-" + hub),
            };
            if (authEnabled)
            {
                settings[DashboardGate.AuthEnabledSetting] = "True";
            }

            var services = new ServiceCollection();
            services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
            services.AddSingleton(typeof(ILogger<>), typeof(NullLogger<>));
            services.AddTrainyardFunctions(name => settings.GetValueOrDefault(name));
            var app = new AppOnAzurite { _provider = services.BuildServiceProvider() };
            app._stores = app._provider.GetRequiredService<AzureBlobStores>();
            await app._stores.EnsureCreatedAsync(CancellationToken.None);
            app._host = await TrainyardDurableHost.StartAsync(
                new DurableHostOptions { Store = DurableStore.AzureStorage(azurite.ConnectionString, hub) },
                app._provider.GetRequiredService<IDurableActivities>());
            app._function = ActivatorUtilities.CreateInstance<DashboardFunctions>(app._provider);
            return app;
        }

        public async Task<string> RunAsync(string yaml)
        {
            var spec = PipelineLoader.LoadOrThrow(yaml, "pipeline.yaml");
            var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(yaml)));
            await _stores.Pipelines.SavePipelineAsync(new PipelineVersion(spec.Name, hash, yaml, DateTimeOffset.UtcNow), CancellationToken.None);
            var runId = spec.Name + "-" + Guid.NewGuid().ToString("N")[..8];
            await new DurableRunControl(_host.Client, NullLogger<DurableRunControl>.Instance)
                .StartAsync(new RunPipelineInput { RunId = runId, PipelineName = spec.Name, PipelineHash = hash, Trigger = new TriggerInfo("manual") }, CancellationToken.None);
            using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            await _host.Client.WaitForInstanceCompletionAsync(runId, getInputsAndOutputs: false, limit.Token);
            return runId;
        }

        /// <summary>Calls the function as the Functions host does after App Service Authentication let the request in.</summary>
        public async Task<(int Status, string Type, string Body, IReadOnlyCollection<string> Headers)> CallAsync(
            string method, string pathAndQuery, string? body = null, string? origin = null, string contentType = "application/json", bool signedIn = true)
        {
            var uri = new Uri(Origin + pathAndQuery);
            var context = new DefaultHttpContext();
            context.Request.Method = method;
            context.Request.Scheme = uri.Scheme;
            context.Request.Host = new HostString(uri.Authority);
            context.Request.Path = PathString.FromUriComponent(uri.AbsolutePath);
            context.Request.QueryString = new QueryString(uri.Query);
            if (signedIn)
            {
                context.Request.Headers[DashboardGate.PrincipalHeader] = "00000000-0000-0000-0000-0000000000aa";
            }

            if (origin is not null)
            {
                context.Request.Headers.Origin = origin;
            }

            if (body is not null)
            {
                var bytes = Encoding.UTF8.GetBytes(body);
                context.Request.Body = new MemoryStream(bytes);
                context.Request.ContentLength = bytes.Length;
                context.Request.ContentType = contentType;
            }

            var output = new MemoryStream();
            context.Response.Body = output;
            var result = await _function.Dashboard(context.Request, _host.Client);
            if (result is ContentResult content)
            {
                return (content.StatusCode ?? 200, content.ContentType ?? "", content.Content ?? "", []);
            }

            Assert.IsType<EmptyResult>(result);
            return (context.Response.StatusCode, context.Response.ContentType ?? "", Encoding.UTF8.GetString(output.ToArray()), context.Response.Headers.Keys.ToList());
        }

        public async ValueTask DisposeAsync()
        {
            await _host.StopAndDeleteTaskHubAsync();
            await _host.DisposeAsync();
            await _stores.DeleteAllAsync(CancellationToken.None);
            await _provider.DisposeAsync();
        }
    }
}
