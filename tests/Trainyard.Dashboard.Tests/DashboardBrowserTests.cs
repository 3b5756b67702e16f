using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Playwright;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Xunit.Abstractions;
using static Trainyard.Testing.TestPipelines;

namespace Trainyard.Dashboard.Tests;

/// <summary>
/// The dashboard in headless Chromium (issue 14 item 5): runs list, a succeeded and a failed diamond, live node states,
/// cancel from the page, the 1,000-task page, and the access rules (401, 421, no CORS). Screenshots go to
/// bin/…/screenshots/ beside the test assembly.
/// </summary>
public sealed class DashboardBrowserTests(DashboardHarness h, ITestOutputHelper output) : IClassFixture<DashboardHarness>
{
    [Fact]
    public async Task RunsList_ShowsTheRuns_WithStatusAndFilters()
    {
        var ok = await h.RunAsync(DashboardHarness.Diamond("listed"));
        var failed = await h.RunAsync(DashboardHarness.Diamond("listed", failing: "b"));

        var page = await h.PageAsync();
        await page.WaitForSelectorAsync($"tr[data-run='{failed.RunId}']");
        Assert.Equal(h.Url("/"), page.Url); // the token went into the cookie and out of the address bar
        await DashboardHarness.ShotAsync(page, "runs-list");

        Assert.Equal("succeeded", await page.GetAttributeAsync($"tr[data-run='{ok.RunId}']", "data-status"));
        Assert.Equal("failed", await page.GetAttributeAsync($"tr[data-run='{failed.RunId}']", "data-status"));
        await page.GotoAsync(h.Url("/?pipeline=listed&status=failed"));
        var rows = await page.Locator("tr[data-run]").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.run)");
        Assert.Equal([failed.RunId], rows);
        AssertNoScriptErrors();
    }

    [Fact]
    public async Task ASucceededDiamond_ShowsEveryNodeSucceeded_AndItsTimeline()
    {
        var run = await h.RunAsync(DashboardHarness.Diamond("green"));

        var page = await h.PageAsync($"/runs/{run.RunId}");
        var states = await page.Locator("#dag [data-step]").EvaluateAllAsync<string[]>("ns => ns.map(n => n.dataset.step + '=' + n.dataset.state)");
        await page.ClickAsync("[data-step='d']");
        await page.WaitForSelectorAsync("#task-panel:not([hidden]) h3");
        await DashboardHarness.ShotAsync(page, "run-succeeded-diamond");

        Assert.Equal(["a=succeeded", "b=succeeded", "c=succeeded", "d=succeeded"], states.Order(StringComparer.Ordinal));
        Assert.Equal("succeeded", await page.TextContentAsync("#run-status"));
        Assert.Equal(4, await page.Locator("#gantt .bar-row").CountAsync());
        Assert.Contains("Outputs", await page.TextContentAsync("#task-panel"), StringComparison.Ordinal);
        // Left to right: a's column is left of b and c, which are left of d.
        var x = await page.Locator("#dag [data-step]").EvaluateAllAsync<double[]>("ns => ns.map(n => n.offsetLeft)");
        Assert.True(x[0] < x[1] && x[1] == x[2] && x[2] < x[3], string.Join(",", x));
        AssertNoScriptErrors();
    }

    [Fact]
    public async Task AFailedRun_ShowsTheFailedNodeAndItsError_AndTheTaskLog()
    {
        var run = await h.RunAsync(DashboardHarness.Diamond("red", failing: "c"));

        var page = await h.PageAsync($"/runs/{run.RunId}");
        await page.ClickAsync("[data-step='c']");
        await page.WaitForSelectorAsync("#task-panel .task-error");
        await DashboardHarness.ShotAsync(page, "run-failed-diamond");

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Equal("failed", await page.GetAttributeAsync("[data-step='c']", "data-state"));
        Assert.Equal("succeeded", await page.GetAttributeAsync("[data-step='a']", "data-state"));
        Assert.Contains("step c broke on purpose", await page.TextContentAsync("#run-error"), StringComparison.Ordinal);
        Assert.Contains("step c broke on purpose", await page.TextContentAsync("#task-panel .task-error"), StringComparison.Ordinal);
        Assert.True(await page.IsEnabledAsync("#retry"));
        Assert.False(await page.IsEnabledAsync("#cancel"));
        AssertNoScriptErrors();
    }

    [Fact]
    public async Task ARunningPipeline_ChangesItsNodeStatesLive_WithoutAReload()
    {
        var request = DashboardHarness.WithText(Request("live", [Step("a", "echo"), Step("b", "sleep", new { duration = "4s" }, "a"), Step("c", "echo", null, "b")]));
        var run = await h.RunAsync(request, wait: false);

        var page = await h.PageAsync($"/runs/{run.RunId}");
        await page.EvaluateAsync("() => { window.__sameDocument = true; }");
        await page.WaitForSelectorAsync("[data-step='b'][data-state='running']");
        Assert.NotEqual("succeeded", await page.GetAttributeAsync("[data-step='c']", "data-state"));
        await DashboardHarness.ShotAsync(page, "run-live-running");
        await page.WaitForSelectorAsync("[data-step='c'][data-state='succeeded']");
        await page.WaitForSelectorAsync("#run-status.s-succeeded");
        await DashboardHarness.ShotAsync(page, "run-live-succeeded");

        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page was reloaded");
        Assert.Equal(RunStatus.Succeeded, (await h.FinalAsync(run.RunId)).Status);
        AssertNoScriptErrors();
    }

    [Fact]
    public async Task CancelFromThePage_AfterConfirmation_CancelsTheRun()
    {
        var request = DashboardHarness.WithText(Request("long", [Step("a", "echo"), Step("nap", "sleep", new { duration = "60s" }, "a"), Step("after", "echo", null, "nap")]));
        var run = await h.RunAsync(request, wait: false);
        var page = await h.PageAsync($"/runs/{run.RunId}");
        await page.WaitForSelectorAsync("[data-step='nap'][data-state='running']");

        await page.ClickAsync("#cancel"); // the harness accepts the confirmation dialog
        await page.WaitForSelectorAsync("#run-status.s-cancelled");
        await DashboardHarness.ShotAsync(page, "run-cancelled");

        var final = await h.FinalAsync(run.RunId);
        Assert.Equal(RunStatus.Cancelled, final.Status);
        Assert.Equal("cancelled", await page.GetAttributeAsync("[data-step='nap']", "data-state"));
        Assert.Contains("cancelled from the dashboard", final.Error, StringComparison.Ordinal);
        AssertNoScriptErrors();
    }

    [Fact]
    public async Task PipelinesAndModelsPages_Render()
    {
        await h.RunAsync(DashboardHarness.Diamond("shown"));
        var page = await h.PageAsync("/pipelines/shown");
        await DashboardHarness.ShotAsync(page, "pipeline-page");
        Assert.Equal(4, await page.Locator("#dag [data-step]").CountAsync());
        Assert.Contains("success rate", await page.TextContentAsync("#health"), StringComparison.Ordinal);
        await page.GotoAsync(h.Url("/models"));
        await DashboardHarness.ShotAsync(page, "models-page");
        Assert.Equal("Models", await page.TextContentAsync("h1"));
        AssertNoScriptErrors();
    }

    [Fact]
    public async Task ARunWith1000Tasks_LoadsItsPage_AndTheLoadTimeIsRecorded()
    {
        var items = JsonSerializer.SerializeToElement(Enumerable.Range(0, 1000));
        var request = DashboardHarness.WithText(Request("wide", [Step("start", "echo"), Step("fan", "echo", null, "start") with { Foreach = new ForeachSpec { Items = items } }, Step("join", "echo", null, "fan")]));
        var run = await h.RunAsync(request);
        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Equal(1003, run.Tasks.Count); // start, fan (its own task), 1,000 items, join

        var page = await h.PageAsync();
        var timings = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            var watch = Stopwatch.StartNew();
            await page.GotoAsync(h.Url($"/runs/{run.RunId}"), new PageGotoOptions { WaitUntil = WaitUntilState.Load });
            await page.WaitForSelectorAsync("#gantt .bar-row >> nth=1001");
            timings.Add(watch.Elapsed.TotalMilliseconds);
        }

        await page.ClickAsync("[data-step='fan'] summary");
        await DashboardHarness.ShotAsync(page, "run-1000-tasks");
        Assert.Equal(1000, await page.Locator("#dag li[data-task]").CountAsync());
        Assert.Equal(1000, await page.Locator("#dag li[data-task][data-state='succeeded']").CountAsync());
        var report = string.Create(CultureInfo.InvariantCulture, $"run page with 1,000 tasks (1,002 timeline rows): load {string.Join(" / ", timings.Select(t => t.ToString("0", CultureInfo.InvariantCulture)))} ms (3 loads, headless Chromium, localhost)");
        output.WriteLine(report);
        await File.WriteAllTextAsync(Path.Combine(DashboardHarness.Artefacts, "page-load-1000-tasks.txt"), report + "\n");
        AssertNoScriptErrors();
    }

    [Fact]
    public async Task WithoutTheToken_401_WithAForeignHost_421_AndNoCorsHeaders()
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { Timeout = DashboardHarness.Bound };

        using var bare = await http.GetAsync(h.Url("/api/runs"));
        using var wrong = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, h.Url("/")) { Headers = { { "Authorization", "Bearer not-the-token" } } });
        using var foreign = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, h.Url("/?token=" + h.Server.Token)) { Headers = { Host = $"attacker.example:{h.Server.Port}" } });
        using var byName = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, h.Url("/api/runs")) { Headers = { Host = $"localhost:{h.Server.Port}", Authorization = new("Bearer", h.Server.Token) } });
        using var preflight = await http.SendAsync(new HttpRequestMessage(HttpMethod.Options, h.Url("/api/runs")) { Headers = { { "Origin", "https://attacker.example" }, { "Access-Control-Request-Method", "POST" }, { "Authorization", "Bearer " + h.Server.Token } } });
        using var form = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, h.Url("/api/runs/x/cancel")) { Headers = { { "Authorization", "Bearer " + h.Server.Token } }, Content = new FormUrlEncodedContent([]) });
        using var first = await http.GetAsync(h.Url("/runs/x?token=" + h.Server.Token + "&tab=log"));

        Assert.Equal(HttpStatusCode.Unauthorized, bare.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.MisdirectedRequest, foreign.StatusCode);
        Assert.Equal(HttpStatusCode.OK, byName.StatusCode);
        Assert.NotEqual(HttpStatusCode.OK, preflight.StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        Assert.All(new[] { bare, foreign, byName, preflight, first }, r => Assert.False(r.Headers.Contains("Access-Control-Allow-Origin")));
        Assert.Equal(HttpStatusCode.SeeOther, first.StatusCode); // the token leaves the address bar
        Assert.Equal("/runs/x?tab=log", first.Headers.Location?.OriginalString);
        var cookie = Assert.Single(first.Headers.GetValues("Set-Cookie"));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Api_HasTheFunctionAppApiShapes()
    {
        var run = await h.RunAsync(DashboardHarness.Diamond("api", failing: "d"));
        using var http = new HttpClient { Timeout = DashboardHarness.Bound };
        http.DefaultRequestHeaders.Authorization = new("Bearer", h.Server.Token);

        using var list = JsonDocument.Parse(await http.GetStringAsync(h.Url("/api/runs?pipeline=api&limit=5")));
        using var one = JsonDocument.Parse(await http.GetStringAsync(h.Url($"/api/runs/{run.RunId}")));
        using var retry = await http.PostAsync(h.Url($"/api/runs/{run.RunId}/retry"), new StringContent("{}", null, "application/json"));
        using var missing = await http.GetAsync(h.Url("/api/runs/no-such-run"));
        using var badLimit = await http.GetAsync(h.Url("/api/runs?limit=0"));

        Assert.Equal(run.RunId, list.RootElement.GetProperty("runs")[0].GetProperty("runId").GetString());
        Assert.Equal("failed", one.RootElement.GetProperty("status").GetString());
        Assert.Equal("failed", one.RootElement.GetProperty("tasks").GetProperty("d").GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        using var retried = JsonDocument.Parse(await retry.Content.ReadAsStringAsync());
        Assert.Equal(run.RunId, retried.RootElement.GetProperty("retryOf").GetString());
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var error = JsonDocument.Parse(await missing.Content.ReadAsStringAsync());
        Assert.Equal("unknown_run", error.RootElement.GetProperty("code").GetString());
        Assert.Equal("runId", error.RootElement.GetProperty("field").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, badLimit.StatusCode);
        await h.FinalAsync(retried.RootElement.GetProperty("runId").GetString()!);
    }

    [Fact]
    public async Task Api_IsTheFunctionAppsApiHandler_PushStartAndEventsGoThroughTheEmbeddedEngine()
    {
        using var http = new HttpClient { Timeout = DashboardHarness.Bound };
        http.DefaultRequestHeaders.Authorization = new("Bearer", h.Server.Token);
        var yaml = "name: pushed\nsteps:\n  - id: hello\n    uses: echo\n    with: { message: hi }\n";

        using var push = await http.PostAsync(h.Url("/api/pipelines?source=pushed.yaml"), new StringContent(yaml, null, "application/json"));
        using var start = await http.PostAsync(h.Url("/api/pipelines/pushed/runs"), new StringContent("{\"runId\":\"pushed-1\"}", null, "application/json"));
        using var again = await http.PostAsync(h.Url("/api/pipelines/pushed/runs"), new StringContent("{\"runId\":\"pushed-1\"}", null, "application/json"));
        var final = await h.FinalAsync("pushed-1");
        using var late = await http.PostAsync(h.Url("/api/runs/pushed-1/events/approve"), new StringContent("{}", null, "application/json"));
        using var badSpec = await http.PostAsync(h.Url("/api/pipelines"), new StringContent("name: x\nsteps: 3\n", null, "application/json"));

        Assert.Equal(HttpStatusCode.Created, push.StatusCode);
        Assert.Equal(HttpStatusCode.Created, start.StatusCode);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode); // the same run id starts one run
        Assert.Equal(RunStatus.Succeeded, final.Status);
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badSpec.StatusCode);
        using var error = JsonDocument.Parse(await badSpec.Content.ReadAsStringAsync());
        Assert.Equal("invalid_spec", error.RootElement.GetProperty("code").GetString());
    }

    private void AssertNoScriptErrors()
    {
        lock (h.ScriptErrors)
        {
            Assert.True(h.ScriptErrors.Count == 0, "script errors: " + string.Join("\n", h.ScriptErrors));
        }
    }
}
