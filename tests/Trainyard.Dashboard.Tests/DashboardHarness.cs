using System.Text.Json;
using Microsoft.Playwright;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Builtins;
using Trainyard.Runtime;
using Trainyard.Storage.Sqlite;
using static Trainyard.Testing.TestPipelines;

namespace Trainyard.Dashboard.Tests;

/// <summary>
/// One dashboard over a real SQLite store with a worker executing runs, and one headless Chromium (Debian's, driven by
/// Playwright) for every test of a class. Cleans up the browser, the server, the worker and the store folder.
/// </summary>
public sealed class DashboardHarness : IAsyncLifetime
{
    /// <summary>Bound of every wait in these tests.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    /// <summary>Where screenshots and measurements go (the test output folder).</summary>
    public static readonly string Artefacts = Path.Combine(AppContext.BaseDirectory, "screenshots");

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ty-dashboard-" + Guid.NewGuid().ToString("N"));
    private readonly CancellationTokenSource _stop = new();
    private SqliteBackend? _backend;
    private Task _worker = Task.CompletedTask;
    private IPlaywright? _playwright;

    public RunEngine Engine { get; private set; } = null!;

    public DashboardServer Server { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Page errors and console errors seen by any page of this harness.</summary>
    public List<string> ScriptErrors { get; } = [];

    public string Url(string path) => $"http://127.0.0.1:{Server.Port}{path}";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        Directory.CreateDirectory(Artefacts);
        _backend = SqliteBackend.Open(Path.Combine(_dir, "trainyard.db"));
        Engine = new RunEngine(_backend, new RunEngineOptions
        {
            WorkRoot = Path.Combine(_dir, "work"),
            Executors = [new BuiltinExecutor(BuiltinStepRegistry.CreateStandard())],
            InlineBuiltins = true,
            SpecParser = v => PipelineLoader.LoadOrThrow(v.SpecText, v.Name),
        });
        var worker = new LocalWorker(Engine, new LocalWorkerOptions { Workers = 4, MinIdleDelay = TimeSpan.FromMilliseconds(5), MaxIdleDelay = TimeSpan.FromMilliseconds(100) });
        _worker = worker.RunAsync(_stop.Token);
        Server = await DashboardServer.StartAsync(new DashboardOptions { Engine = Engine }, CancellationToken.None);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Args = ["--no-sandbox", "--disable-gpu"],
            Timeout = (float)Bound.TotalMilliseconds,
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }

        await _stop.CancelAsync();
        await _worker.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await Engine.StopInlineAsync(TimeSpan.FromSeconds(10));
        if (_backend is not null)
        {
            await _backend.DisposeAsync();
        }

        _stop.Dispose();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    /// <summary>A page that already holds the access cookie (it opened the tokened URL) and records script errors.</summary>
    public async Task<IPage> PageAsync(string path = "/")
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        context.SetDefaultTimeout((float)Bound.TotalMilliseconds);
        var page = await context.NewPageAsync();
        page.PageError += (_, e) => { lock (ScriptErrors) { ScriptErrors.Add(e); } };
        page.Console += (_, m) =>
        {
            if (m.Type == "error")
            {
                lock (ScriptErrors)
                {
                    ScriptErrors.Add(m.Text);
                }
            }
        };
        page.Dialog += async (_, d) => await d.AcceptAsync();
        await page.GotoAsync(Server.Url.ToString());
        if (path != "/")
        {
            await page.GotoAsync(Url(path));
        }

        return page;
    }

    public static async Task ShotAsync(IPage page, string name) => await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Artefacts, name + ".png"), FullPage = true });

    /// <summary>Starts a run and (unless told not to) waits until it is final.</summary>
    public async Task<RunState> RunAsync(StartRunRequest request, bool wait = true)
    {
        using var cts = new CancellationTokenSource(Bound);
        var id = await Engine.StartRunAsync(request, cts.Token);
        return wait ? await FinalAsync(id) : await Engine.GetRunAsync(id, cts.Token) ?? throw new InvalidOperationException("run vanished");
    }

    /// <summary>Waits until a run is final.</summary>
    public async Task<RunState> FinalAsync(string runId)
    {
        using var cts = new CancellationTokenSource(Bound);
        while (true)
        {
            var state = await Engine.GetRunAsync(runId, cts.Token) ?? throw new InvalidOperationException("run vanished");
            if (state.Status != RunStatus.Running)
            {
                return state;
            }

            await Task.Delay(50, cts.Token);
        }
    }

    /// <summary>a -> (b, c) -> d, all echo unless <paramref name="failing"/> names a step that fails.</summary>
    public static StartRunRequest Diamond(string name = "diamond", string? failing = null)
    {
        StepSpec S(string id, params string[] needs) => id == failing ? Step(id, "fail", new { message = $"step {id} broke on purpose" }, needs) : Step(id, "echo", new { message = id }, needs);
        return WithText(Request(name, [S("a"), S("b", "a"), S("c", "a"), S("d", "b", "c")]));
    }

    /// <summary>A request whose stored spec text parses back to the same pipeline (the dashboard draws from the stored version).</summary>
    public static StartRunRequest WithText(StartRunRequest request)
    {
        var text = PipelineYaml(request.Spec) + $"# {Guid.NewGuid():N}\n";
        return request with { SpecText = text, Spec = request.Spec with { ContentHash = "" } };
    }

    private static string PipelineYaml(PipelineSpec spec)
    {
        var sb = new System.Text.StringBuilder($"name: {spec.Name}\nsteps:\n");
        foreach (var s in spec.Steps)
        {
            sb.Append($"  - id: {s.Id}\n    uses: {s.Uses}\n");
            if (s.Needs.Count > 0)
            {
                sb.Append($"    needs: [{string.Join(", ", s.Needs)}]\n");
            }

            if (s.With.Count > 0)
            {
                sb.Append($"    with: {JsonSerializer.Serialize(s.With)}\n");
            }

            if (s.Foreach is { } fe)
            {
                sb.Append($"    foreach: {fe.Items.GetRawText()}\n");
            }
        }

        return sb.ToString();
    }
}
