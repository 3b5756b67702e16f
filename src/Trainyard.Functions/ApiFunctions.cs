using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Trainyard.Service;

namespace Trainyard.Functions;

/// <summary>
/// The HTTP API (function keys; route prefix api/): one function per route, each handing the request to
/// <see cref="ApiHandler"/>, which answers JSON (errors as <c>{code, message, field}</c>) and never hands out Durable's
/// management URLs.
/// </summary>
public sealed class ApiFunctions(ServiceHandlers service)
{
    /// <summary>POST api/pipelines: push a pipeline spec (YAML body).</summary>
    [Function("PushPipeline")]
    public Task<IActionResult> PushPipeline([HttpTrigger(AuthorizationLevel.Function, "post", Route = "pipelines")] HttpRequest req, [DurableClient] DurableTaskClient client) =>
        RespondAsync(req, client);

    /// <summary>GET api/pipelines: every pushed pipeline.</summary>
    [Function("ListPipelines")]
    public Task<IActionResult> ListPipelines([HttpTrigger(AuthorizationLevel.Function, "get", Route = "pipelines")] HttpRequest req, [DurableClient] DurableTaskClient client) =>
        RespondAsync(req, client);

    /// <summary>GET api/pipelines/{name}: a pipeline's versions and triggers.</summary>
    [Function("ShowPipeline")]
    public Task<IActionResult> ShowPipeline([HttpTrigger(AuthorizationLevel.Function, "get", Route = "pipelines/{name}")] HttpRequest req, [DurableClient] DurableTaskClient client) =>
        RespondAsync(req, client);

    /// <summary>GET api/pipelines/{name}/versions/{hash}: one version with its spec text.</summary>
    [Function("ShowPipelineVersion")]
    public Task<IActionResult> ShowPipelineVersion([HttpTrigger(AuthorizationLevel.Function, "get", Route = "pipelines/{name}/versions/{hash}")] HttpRequest req, [DurableClient] DurableTaskClient client) =>
        RespondAsync(req, client);

    /// <summary>POST api/pipelines/{name}/runs: start a run ({version?, params?, runId?}).</summary>
    [Function("StartRun")]
    public Task<IActionResult> StartRun([HttpTrigger(AuthorizationLevel.Function, "post", Route = "pipelines/{name}/runs")] HttpRequest req, [DurableClient] DurableTaskClient client) =>
        RespondAsync(req, client);

    /// <summary>GET api/runs: runs, newest first (?pipeline=&amp;status=&amp;limit=).</summary>
    [Function("ListRuns")]
    public Task<IActionResult> ListRuns([HttpTrigger(AuthorizationLevel.Function, "get", Route = "runs")] HttpRequest req, [DurableClient] DurableTaskClient client) =>
        RespondAsync(req, client);

    /// <summary>GET api/runs/{runId}: one run with its tasks.</summary>
    [Function("ShowRun")]
    public Task<IActionResult> ShowRun([HttpTrigger(AuthorizationLevel.Function, "get", Route = "runs/{runId}")] HttpRequest req, [DurableClient] DurableTaskClient client) =>
        RespondAsync(req, client);

    /// <summary>POST api/runs/{runId}/cancel: ask a run to cancel ({reason?}).</summary>
    [Function("CancelRun")]
    public Task<IActionResult> CancelRun([HttpTrigger(AuthorizationLevel.Function, "post", Route = "runs/{runId}/cancel")] HttpRequest req, [DurableClient] DurableTaskClient client) =>
        RespondAsync(req, client);

    /// <summary>POST api/runs/{runId}/retry: retry a failed or cancelled run, reusing its succeeded tasks.</summary>
    [Function("RetryRun")]
    public Task<IActionResult> RetryRun([HttpTrigger(AuthorizationLevel.Function, "post", Route = "runs/{runId}/retry")] HttpRequest req, [DurableClient] DurableTaskClient client) =>
        RespondAsync(req, client);

    /// <summary>POST api/runs/{runId}/events/{name}: raise an external event (approval); Idempotency-Key header de-duplicates.</summary>
    [Function("RaiseEvent")]
    public Task<IActionResult> RaiseEvent([HttpTrigger(AuthorizationLevel.Function, "post", Route = "runs/{runId}/events/{name}")] HttpRequest req, [DurableClient] DurableTaskClient client) =>
        RespondAsync(req, client);

    private async Task<IActionResult> RespondAsync(HttpRequest req, DurableTaskClient client)
    {
        var request = await Trainyard.Dashboard.ApiHttp.ReadAsync(req);
        var response = request is null
            ? ApiResponse.BodyTooLarge()
            : await service.Api(client).HandleAsync(request, req.HttpContext.RequestAborted);
        return HttpApi.ToResult(response);
    }
}
