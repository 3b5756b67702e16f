using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Trainyard.Dashboard;
using Trainyard.Storage.Azure;

namespace Trainyard.Functions;

/// <summary>
/// The web dashboard of `trainyard ui`, served by the app below <c>api/ui/</c> over its own task hub: the same pages,
/// static files and JSON API (<see cref="DashboardHandler"/> over <see cref="Trainyard.Service.DurableRunControl"/>),
/// behind App Service Authentication (<see cref="DashboardGate"/>).
/// </summary>
public sealed class DashboardFunctions(AzureBlobStores stores, AppSettingsValues settings, ILoggerFactory loggers)
{
    /// <summary>The dashboard's root (host.json's route prefix `api`, then the function's route).</summary>
    public const string BasePath = "/api/ui/";

    /// <summary>GET api/ui/...: pages and static files; GET and POST api/ui/api/...: the JSON API the pages call.</summary>
    [Function(FunctionNames.Dashboard)]
    public async Task<IActionResult> Dashboard(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", Route = "ui/{*path}")] HttpRequest req,
        [DurableClient] DurableTaskClient client)
    {
        ArgumentNullException.ThrowIfNull(req);
        if (DashboardGate.Check(req, settings.Lookup) is { } refused)
        {
            return new ContentResult
            {
                StatusCode = refused.Status,
                ContentType = "application/json; charset=utf-8",
                Content = new JsonObject { ["code"] = refused.Code, ["message"] = refused.Message, ["field"] = null }.ToJsonString(),
            };
        }

        var source = new DurableDashboardSource(new Trainyard.Service.DurableRunControl(client, loggers.CreateLogger<Trainyard.Service.DurableRunControl>()), stores.Pipelines, stores.Values, stores.Artifacts);
        await new DashboardHandler(source, BasePath, loggers.CreateLogger("Trainyard.Dashboard")).HandleAsync(req.HttpContext, PathBelowBase(req));
        return new EmptyResult();
    }

    /// <summary>The request's path below <see cref="BasePath"/>, still escaped.</summary>
    internal static string PathBelowBase(HttpRequest req)
    {
        var full = (req.PathBase + req.Path).ToUriComponent();
        var root = BasePath.TrimEnd('/');
        return full.StartsWith(root, StringComparison.OrdinalIgnoreCase) ? "/" + full[root.Length..].TrimStart('/') : "/";
    }
}

/// <summary>
/// Who may use the app's dashboard. Function keys cannot ride along with a browser's page loads, so the dashboard is
/// served only behind App Service Authentication (Easy Auth), which signs users in and strips spoofed identity headers
/// before a request reaches the app: without it (`WEBSITE_AUTH_ENABLED` is not true) every request gets 403 saying how
/// to turn it on; with it, a request without a signed-in principal gets 401. Easy Auth's session cookie goes with
/// cross-site requests, so a state-changing request must come from the app's own origin (Origin header) as JSON.
/// </summary>
public static class DashboardGate
{
    /// <summary>The app setting App Service sets when Authentication is on.</summary>
    public const string AuthEnabledSetting = "WEBSITE_AUTH_ENABLED";

    /// <summary>The header Easy Auth sets to the signed-in principal's id.</summary>
    public const string PrincipalHeader = "X-MS-CLIENT-PRINCIPAL-ID";

    /// <summary>Null when the request may go on; else the refusal.</summary>
    public static (int Status, string Code, string Message)? Check(HttpRequest req, Func<string, string?> setting)
    {
        ArgumentNullException.ThrowIfNull(req);
        ArgumentNullException.ThrowIfNull(setting);
        if (!string.Equals(setting(AuthEnabledSetting), "true", StringComparison.OrdinalIgnoreCase))
        {
            return (403, "authentication_off", "the dashboard is served only behind App Service Authentication: turn it on for this Function App (Authentication > Add identity provider > Microsoft, require authentication), then open /api/ui/ again; or use `trainyard ui --store azure:...` on your machine (docs/function-app.md)");
        }

        if (string.IsNullOrWhiteSpace(req.Headers[PrincipalHeader].ToString()))
        {
            return (401, "unauthorized", "sign in: App Service Authentication did not identify this request (allow unauthenticated requests must be off)");
        }

        if (HttpMethods.IsGet(req.Method) || HttpMethods.IsHead(req.Method))
        {
            return null;
        }

        var origin = req.Headers.Origin.ToString();
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var from) || !string.Equals(from.Authority, req.Host.Value, StringComparison.OrdinalIgnoreCase))
        {
            return (403, "cross_origin", "actions must come from the dashboard's own pages (the Origin header is missing or names another site)");
        }

        if (req.ContentType is not { } type || !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return (415, "unsupported_media_type", "send actions as application/json");
        }

        return null;
    }
}
