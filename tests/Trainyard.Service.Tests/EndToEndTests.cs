using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Engine.Durable;
using Trainyard.Engine.Durable.Hosting;
using Trainyard.Execution;
using Trainyard.Execution.Artifacts;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Registry;
using Trainyard.Runtime.InMemory;

namespace Trainyard.Service.Tests;

/// <summary>
/// The API and the triggers against the real RunPipeline orchestrator and DurableActivities, hosted in-process on the
/// Durable Task Framework (in-memory task hub): what DurableRunControl starts, reads and signals is what the real
/// orchestrator takes, publishes and obeys.
/// </summary>
public sealed class RealEngine : IAsyncLifetime
{
    private readonly string _work = Directory.CreateTempSubdirectory("ty-service-e2e-").FullName;
    private TrainyardDurableHost? _host;

    public InMemoryRunStore Store { get; } = new();

    public PipelineRegistry Registry { get; private set; } = null!;

    public ServiceHandlers Handlers { get; private set; } = null!;

    public TrainyardDurableHost Host => _host ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        Registry = new PipelineRegistry(Store, Store);
        Handlers = new ServiceHandlers(Registry, Store, new TriggerOptions { Retention = null }, TimeProvider.System, NullLoggerFactory.Instance);
        var runner = new AttemptRunner(new AttemptRunnerOptions
        {
            Artifacts = new InMemoryArtifactStore(),
            Claims = Store,
            Executors = [new BuiltinExecutor(BuiltinStepRegistry.CreateStandard())],
            WorkRoot = _work,
        });
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        _host = await TrainyardDurableHost.StartAsync(new DurableHostOptions(), new DurableActivities(runner, Store), null, limit.Token);
    }

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        Directory.Delete(_work, recursive: true);
    }
}

/// <summary>End-to-end: HTTP API handler -> DurableRunControl -> the real orchestrator and activities.</summary>
public sealed class EndToEndTests(RealEngine engine) : IClassFixture<RealEngine>
{
    private ApiHandler Api => engine.Handlers.Api(engine.Host.Client);

    // The drift pipeline also runs through the real engine: a signal starts one run, and it succeeds.
    [Fact]
    public async Task DriftSignalTwice_StartsOneRealRun_ThatSucceeds()
    {
        var (pushed, _) = await Call("POST", "pipelines", TestSpecs.DriftPipeline.Replace("name: retrain", "name: e2e-drift", StringComparison.Ordinal));
        var triggers = engine.Handlers.Triggers(engine.Host.Client);

        var first = await triggers.OnDriftAsync(TestSpecs.Signal(0.4, "e2e-signal"), CancellationToken.None);
        var second = await triggers.OnDriftAsync(TestSpecs.Signal(0.4, "e2e-signal"), CancellationToken.None);
        var run = await WaitAsync(Assert.Single(first.Runs), Finished);

        Assert.Equal(201, pushed);
        Assert.Equal(first.Runs, second.Runs);
        Assert.Equal(("succeeded", "drift"), (run["status"]!.GetValue<string>(), run["trigger"]!["kind"]!.GetValue<string>()));
    }

    private async Task<(int Status, JsonObject Body)> Call(string method, string path, string body = "")
    {
        var response = await Api.HandleAsync(new ApiRequest(method, path, new Dictionary<string, string>(), new Dictionary<string, string>(), body), CancellationToken.None);
        return (response.StatusCode, response.Body.AsObject());
    }

    private async Task<string> PushAndStartAsync(string yaml)
    {
        var (pushed, pushBody) = await Call("POST", "pipelines", yaml);
        Assert.True(pushed is 200 or 201, pushBody.ToJsonString());
        var (started, body) = await Call("POST", $"pipelines/{pushBody["name"]!.GetValue<string>()}/runs", "{}");
        Assert.Equal(201, started);
        return body["runId"]!.GetValue<string>();
    }

    private async Task<JsonObject> WaitAsync(string runId, Func<JsonObject, bool> until)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var (status, run) = await Call("GET", $"runs/{runId}");
            if (status == 200 && until(run))
            {
                return run;
            }

            await Task.Delay(100, limit.Token);
        }
    }

    private static bool Finished(JsonObject run) => run["status"]!.GetValue<string>() is "succeeded" or "failed" or "cancelled";

    private static string TaskStatus(JsonObject run, string task) => run["tasks"]![task]!["status"]!.GetValue<string>();

    [Fact]
    public async Task StartedThroughTheApi_TheRealOrchestratorRunsItToSucceeded()
    {
        var runId = await PushAndStartAsync("""
            name: e2e-chain
            steps:
              - { id: a, uses: echo, with: { message: one } }
              - { id: b, uses: echo, needs: [a], with: { message: two } }
            """);

        var run = await WaitAsync(runId, Finished);

        Assert.Equal("succeeded", run["status"]!.GetValue<string>());
        Assert.Equal(("succeeded", "succeeded"), (TaskStatus(run, "a"), TaskStatus(run, "b")));
        var list = await engine.Handlers.Runs(engine.Host.Client).ListAsync(new RunListQuery { Pipeline = "e2e-chain", Status = RunStatuses.Succeeded }, CancellationToken.None);
        Assert.Equal(["e2e-chain"], list.Where(r => r.RunId == runId).Select(r => r.Pipeline));
    }

    [Fact]
    public async Task ApprovalRaisedThroughTheApi_ReachesTheRunItWaitsOn()
    {
        var runId = await PushAndStartAsync("""
            name: e2e-approval
            steps:
              - { id: build, uses: sleep, with: { duration: 3s } }
              - { id: deploy, uses: echo, needs: [build], when: "events.approval.ok == true", with: { message: "${{ events.approval.by }}" } }
            """);
        await WaitAsync(runId, r => r["progress"]?["waiting"]?.AsArray().Any(w => w!.GetValue<string>() == "approval") == true);

        var (raised, _) = await Call("POST", $"runs/{runId}/events/approval", """{"ok":true,"by":"ana"}""");
        var run = await WaitAsync(runId, Finished);

        Assert.Equal(202, raised);
        Assert.Equal(("succeeded", "succeeded"), (run["status"]!.GetValue<string>(), TaskStatus(run, "deploy")));
    }

    [Fact]
    public async Task CancelThroughTheApi_StopsTheRealRun()
    {
        var runId = await PushAndStartAsync("""
            name: e2e-cancel
            steps:
              - { id: first, uses: echo }
              - { id: slow, uses: sleep, needs: [first], with: { duration: 120s } }
            """);
        await WaitAsync(runId, r => r["status"]!.GetValue<string>() == "running" && r["progress"] is not null);

        var (cancel, _) = await Call("POST", $"runs/{runId}/cancel", """{"reason":"not needed"}""");
        var run = await WaitAsync(runId, Finished);

        Assert.Equal(202, cancel);
        Assert.Equal("cancelled", run["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task RetryOfAFailedRun_ReusesItsSucceededTasks()
    {
        var runId = await PushAndStartAsync("""
            name: e2e-retry
            steps:
              - { id: good, uses: echo, with: { message: kept } }
              - { id: bad, uses: fail, needs: [good], with: { message: broken } }
            """);
        var failed = await WaitAsync(runId, Finished);

        var (retried, body) = await Call("POST", $"runs/{runId}/retry");
        var retryId = body["runId"]!.GetValue<string>();
        var retry = await WaitAsync(retryId, Finished);

        Assert.Equal(("failed", "succeeded", "failed"), (failed["status"]!.GetValue<string>(), TaskStatus(failed, "good"), TaskStatus(failed, "bad")));
        Assert.Equal(201, retried);
        Assert.Equal(runId, retry["retryOf"]!.GetValue<string>());
        Assert.Equal("failed", retry["status"]!.GetValue<string>());
        Assert.NotEqual("pending", TaskStatus(retry, "good"));
        Assert.Equal("failed", TaskStatus(retry, "bad"));
    }
}
