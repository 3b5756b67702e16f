using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Playwright;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Engine.Durable;
using Trainyard.Engine.Durable.Hosting;
using Trainyard.Execution;
using Trainyard.Execution.Caching;
using Trainyard.Execution.Contracts;
using Trainyard.Execution.Builtins;
using Trainyard.Service;
using Trainyard.Storage.Azure;
using Trainyard.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Trainyard.Dashboard.Tests;

/// <summary>
/// The dashboard over a Durable task hub on Azurite: runs executed by the RunPipeline orchestrator hosted in-process (as
/// `trainyard run --engine durable` does), shown through a client-only connection (as `trainyard ui --store azure:...` does).
/// </summary>
[Collection(AzuriteDashboardCollection.Name)]
public sealed class DurableDashboardTests(AzuriteFixture azurite, ITestOutputHelper output)
{
    private const string Diamond = """
        name: durable-diamond
        steps:
          - id: a
            uses: echo
            with: { message: a }
          - id: b
            uses: echo
            needs: [a]
            with: { message: b }
          - id: c
            uses: echo
            needs: [a]
            with: { message: c }
          - id: d
            uses: echo
            needs: [b, c]
            with: { message: d }
        """;

    private const string Live = """
        name: durable-live
        steps:
          - id: a
            uses: echo
          - id: b
            uses: sleep
            needs: [a]
            with: { duration: 4s }
          - id: each
            uses: echo
            needs: [b]
            foreach: { items: [1, 2, 3] }
          - id: c
            uses: echo
            needs: [each]
        """;

    [AzuriteFact]
    public async Task ADurableRunOnAzurite_IsListed_AndEveryNodeOfItsDiamondShowsSucceeded()
    {
        await using var env = await DurableEnv.StartAsync(azurite, output, NewBlobs());
        var runId = await env.RunAsync(Diamond, "durable-diamond-1");

        var page = await env.PageAsync("/");
        await page.Locator($"a[href='runs/{runId}']").WaitForAsync();
        await page.GotoAsync(env.Url($"/runs/{runId}"));
        foreach (var step in new[] { "a", "b", "c", "d" })
        {
            Assert.Equal("succeeded", await page.Locator($"[data-step='{step}']").First.GetAttributeAsync("data-state"));
        }

        await DashboardHarness.ShotAsync(page, "durable-diamond");
        output.WriteLine("screenshot: " + Path.Combine(DashboardHarness.Artefacts, "durable-diamond.png"));
        Assert.Empty(env.ScriptErrors);
    }

    [AzuriteFact]
    public async Task ARunningDurableRun_ChangesItsNodeStatesLive_AndTakesItsTimelineWhenFinished_WithoutAReload()
    {
        await using var env = await DurableEnv.StartAsync(azurite, output, NewBlobs());
        var runId = await env.StartAsync(Live, "durable-live-1");

        var page = await env.PageAsync($"/runs/{runId}");
        await page.EvaluateAsync("() => { window.__sameDocument = true; }");
        await page.WaitForSelectorAsync("[data-step='b'][data-state='running']");
        Assert.Equal("succeeded", await page.GetAttributeAsync("[data-step='a']", "data-state"));
        Assert.Equal("pending", await page.GetAttributeAsync("[data-step='c']", "data-state"));
        await DashboardHarness.ShotAsync(page, "durable-live-running");
        await page.WaitForSelectorAsync("[data-step='c'][data-state='succeeded']");
        await page.WaitForSelectorAsync("#run-status.s-succeeded");
        Assert.Matches(@"^(\d+m\d\ds|([4-9]|[1-5]\d)\.\ds)$", await page.TextContentAsync("#run-duration")); // b alone sleeps 4 s

        // The final state brings the foreach items and the attempts' timeline into the same document.
        await page.WaitForSelectorAsync("#timeline #gantt .bar-row >> nth=5");
        Assert.Equal(3, await page.Locator("[data-step='each'] li[data-task]").CountAsync());
        Assert.Equal("3/3", await page.Locator("[data-step='each'] span.items").TextContentAsync());
        await page.ClickAsync("[data-step='c']");
        await page.WaitForSelectorAsync("#task-panel:not([hidden]) h3");
        await DashboardHarness.ShotAsync(page, "durable-live-succeeded");
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page was reloaded");
        Assert.Empty(env.ScriptErrors);
    }

    [AzuriteFact]
    public async Task UnderTheFunctionAppsBasePath_LinksTheScriptAndLiveUpdatesWork()
    {
        // As the Function App's Dashboard function serves it: below /api/ui/, links relative to <base href>.
        await using var env = await DurableEnv.StartAsync(azurite, output, NewBlobs());
        var root = await env.ServeBelowAsync("/api/ui/");
        var runId = await env.StartAsync(Live, "durable-base-1");

        var page = await env.BrowserPageAsync(root);
        var failed = new List<string>();
        page.Response += (_, r) => { if (r.Status >= 400) { lock (failed) { failed.Add($"{r.Status} {r.Url}"); } } };
        await page.ClickAsync($"a[href='runs/{runId}']");
        await page.WaitForURLAsync(root + "runs/" + runId);
        await page.WaitForSelectorAsync("[data-step='c'][data-state='succeeded']");
        await page.WaitForSelectorAsync("#timeline #gantt .bar-row");
        await page.ClickAsync("[data-step='c']");
        await page.WaitForSelectorAsync("#task-panel:not([hidden]) h3");
        await DashboardHarness.ShotAsync(page, "durable-below-api-ui");
        await page.ClickAsync("nav a[href='pipelines']");
        await page.WaitForURLAsync(root + "pipelines");
        await page.WaitForSelectorAsync("tr[data-pipeline='durable-live']");

        Assert.Empty(failed);
        Assert.Empty(env.ScriptErrors);
    }

    [AzuriteFact]
    public async Task PageLoad_OfADurableRunWithAThousandTasks_IsMeasured()
    {
        var items = string.Join(", ", Enumerable.Range(1, 1000));
        var spec = """
            name: durable-wide
            steps:
              - id: fan
                uses: echo
                foreach: { items: [ITEMS] }
                with: { message: "${{ item }}" }
              - id: done
                uses: echo
                needs: [fan]
                with: { message: done }
            """.Replace("ITEMS", items, StringComparison.Ordinal);
        await using var env = await DurableEnv.StartAsync(azurite, output, NewBlobs(), activities: 50);
        var runId = await env.RunAsync(spec, "durable-wide-1", TimeSpan.FromMinutes(10));

        var page = await env.PageAsync("/");
        var times = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            var watch = Stopwatch.StartNew();
            await page.GotoAsync(env.Url($"/runs/{runId}"));
            await page.Locator("[data-step='done']").First.WaitForAsync();
            times.Add(watch.Elapsed.TotalMilliseconds);
        }

        Assert.Equal("succeeded", await page.Locator("[data-step='done']").First.GetAttributeAsync("data-state"));
        await DashboardHarness.ShotAsync(page, "durable-1000-tasks");
        output.WriteLine($"page load (navigation to DAG rendered) of a durable run with 1,001 tasks: {string.Join(", ", times.Select(t => $"{t:0} ms"))}");
        Assert.Empty(env.ScriptErrors);
    }

    private static string NewBlobs() => AzuriteFixture.NewTaskHub();

    private sealed class DurableEnv : IAsyncDisposable
    {
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "trainyard-durdash-" + Path.GetRandomFileName());
        private TrainyardDurableHost _host = null!;
        private DurableTaskClientHolder _client = null!;
        private DashboardServer _server = null!;
        private IPlaywright _playwright = null!;
        private IBrowser _browser = null!;
        private AzureBlobStores _stores = null!;
        private WebApplication? _below;

        public List<string> ScriptErrors { get; } = [];

        public string Url(string path) => $"http://127.0.0.1:{_server.Port}{path}";

        public static async Task<DurableEnv> StartAsync(AzuriteFixture azurite, ITestOutputHelper output, string hub, int activities = 10)
        {
            azurite.EnsureAvailable();
            var env = new DurableEnv();
            Directory.CreateDirectory(env._dir);
            Directory.CreateDirectory(DashboardHarness.Artefacts);
            env._stores = new AzureBlobStores(AzureStorageOptions.Parse($"azure:{azurite.ConnectionString};TaskHub={hub}"));
            await env._stores.EnsureCreatedAsync(CancellationToken.None);
            var steps = BuiltinStepRegistry.CreateStandard();
            var runner = new AttemptRunner(new AttemptRunnerOptions
            {
                Artifacts = env._stores.Artifacts,
                Claims = env._stores.Values,
                Executors = [new BuiltinExecutor(steps)],
                TaskCache = new StepCache(env._stores.Values, env._stores.Artifacts, steps.Catalog),
                WorkRoot = Path.Combine(env._dir, "work"),
            });
            var store = DurableStore.AzureStorage(azurite.ConnectionString, hub);
            env._host = await TrainyardDurableHost.StartAsync(new DurableHostOptions { Store = store, MaxConcurrentActivities = activities }, new DurableActivities(runner, env._stores.Pipelines, steps.Catalog));
            env._client = new DurableTaskClientHolder(await TrainyardDurableHost.ConnectClientAsync(store));
            var runs = new DurableRunControl(env._client.Client, NullLogger<DurableRunControl>.Instance);
            env._server = await DashboardServer.StartAsync(new DashboardOptions { Durable = new DurableDashboardSource(runs, env._stores.Pipelines, env._stores.Values, env._stores.Artifacts), LoggerProvider = new TestOutputLoggerProvider(output) }, CancellationToken.None);
            env._playwright = await Playwright.CreateAsync();
            env._browser = await env._playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = "/usr/bin/chromium", Args = ["--no-sandbox", "--disable-gpu"], Timeout = 90_000 });
            return env;
        }

        /// <summary>Serves the dashboard below <paramref name="basePath"/> on 127.0.0.1, as a host that did its own access check.</summary>
        public async Task<string> ServeBelowAsync(string basePath)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
            _below = builder.Build();
            var runs = new DurableRunControl(_client.Client, NullLogger<DurableRunControl>.Instance);
            var handler = new DashboardHandler(new DurableDashboardSource(runs, _stores.Pipelines, _stores.Values, _stores.Artifacts), basePath, NullLogger.Instance);
            var root = basePath.TrimEnd('/');
            _below.Run(c =>
            {
                var path = c.Request.Path.ToUriComponent();
                return path.StartsWith(root, StringComparison.Ordinal) ? handler.HandleAsync(c, path[root.Length..]) : Task.CompletedTask;
            });
            await _below.StartAsync();
            var address = _below.Urls.First();
            return address.TrimEnd('/') + basePath;
        }

        public async Task<IPage> BrowserPageAsync(string url)
        {
            var context = await _browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
            context.SetDefaultTimeout(90_000);
            var page = await context.NewPageAsync();
            page.PageError += (_, e) => { lock (ScriptErrors) { ScriptErrors.Add(e); } };
            await page.GotoAsync(url);
            return page;
        }

        public async Task<string> StartAsync(string yaml, string runId)
        {
            var loaded = PipelineLoader.LoadOrThrow(yaml, "pipeline.yaml");
            var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(yaml)));
            await _stores.Pipelines.SavePipelineAsync(new PipelineVersion(loaded.Name, hash, yaml, DateTimeOffset.UtcNow), CancellationToken.None);
            var runs = new DurableRunControl(_host.Client, NullLogger<DurableRunControl>.Instance);
            await runs.StartAsync(new RunPipelineInput { RunId = runId, PipelineName = loaded.Name, PipelineHash = hash, Trigger = new TriggerInfo("manual") }, CancellationToken.None);
            return runId;
        }

        public async Task<string> RunAsync(string yaml, string runId, TimeSpan? bound = null)
        {
            await StartAsync(yaml, runId);
            using var cts = new CancellationTokenSource(bound ?? TimeSpan.FromMinutes(3));
            var done = await _host.Client.WaitForInstanceCompletionAsync(runId, getInputsAndOutputs: true, cts.Token);
            Assert.True(done.RuntimeStatus == Microsoft.DurableTask.Client.OrchestrationRuntimeStatus.Completed, done.SerializedOutput ?? done.FailureDetails?.ErrorMessage);
            return runId;
        }

        public async Task<IPage> PageAsync(string path)
        {
            var context = await _browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
            context.SetDefaultTimeout(90_000);
            var page = await context.NewPageAsync();
            page.PageError += (_, e) => { lock (ScriptErrors) { ScriptErrors.Add(e); } };
            await page.GotoAsync(_server.Url.ToString());
            if (path != "/")
            {
                await page.GotoAsync(Url(path));
            }

            return page;
        }

        public async ValueTask DisposeAsync()
        {
            if (_browser is not null)
            {
                await _browser.DisposeAsync();
            }

            _playwright?.Dispose();
            if (_below is not null)
            {
                await _below.StopAsync();
                await _below.DisposeAsync();
            }

            if (_server is not null)
            {
                await _server.DisposeAsync();
            }

            if (_host is not null)
            {
                await _host.StopAndDeleteTaskHubAsync();
                await _host.DisposeAsync();
            }

            if (_stores is not null)
            {
                await _stores.DeleteAllAsync(CancellationToken.None);
            }

            if (Directory.Exists(_dir))
            {
                Directory.Delete(_dir, recursive: true);
            }
        }
    }

    private sealed record DurableTaskClientHolder(Microsoft.DurableTask.Client.DurableTaskClient Client);
}

/// <summary>Azurite for the dashboard's durable tests.</summary>
[CollectionDefinition(Name)]
public sealed class AzuriteDashboardCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "azurite-dashboard";
}
