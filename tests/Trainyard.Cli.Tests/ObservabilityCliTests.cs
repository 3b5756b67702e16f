namespace Trainyard.Cli.Tests;

/// <summary>The CLI's observability commands and options, as a user sees them: `--trace console`, `trainyard stats`.</summary>
public sealed class ObservabilityCliTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);
    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    private string Diamond(string name = "diamond") => _cli.WriteFile(name + ".yaml", $$"""
        name: {{name}}
        steps:
          - id: a
            uses: echo
          - id: b
            needs: [a]
            uses: echo
          - id: c
            needs: [a]
            uses: echo
          - id: d
            needs: [b, c]
            uses: echo
        """);

    [Fact]
    public async Task Run_WithTraceConsole_PrintsTheRunSpanAndASpanPerAttempt_InOneTrace()
    {
        var result = await _cli.RunAsync(["run", Diamond(), "--trace", "console"], Limit);

        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (var task in new[] { "a", "b", "c", "d" })
        {
            Assert.Contains($"Activity.DisplayName:        attempt {task}", result.Stdout, StringComparison.Ordinal);
        }

        Assert.Contains("Activity.DisplayName:        run diamond", result.Stdout, StringComparison.Ordinal);
        var traces = System.Text.RegularExpressions.Regex.Matches(result.Stdout, @"Activity\.TraceId:\s+([0-9a-f]{32})").Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.True(traces.Count == 1, result.ToString());
        Assert.Contains("trainyard.run.duration", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Trace_WithAnUnknownExporter_IsAUsageError()
    {
        var result = await _cli.RunAsync(["run", Diamond(), "--trace", "zipkin"], Limit);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("zipkin", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_SumsUpThePipelinesRuns_AsTextAndJson()
    {
        var file = _cli.WriteFile("flaky.yaml", """
            name: flaky
            params:
              fail: { type: boolean, default: false }
            steps:
              - id: prepare
                uses: sleep
                with: { duration: 300ms }
              - id: check
                needs: [prepare]
                uses: fail
                when: ${{ params.fail }}
              - id: publish
                needs: [prepare]
                uses: echo
            """);
        Assert.Equal(0, (await _cli.RunAsync(["run", file], Limit)).ExitCode);
        Assert.Equal(0, (await _cli.RunAsync(["run", file], Limit)).ExitCode);
        Assert.Equal(1, (await _cli.RunAsync(["run", file, "--param", "fail=true"], Limit)).ExitCode);

        var json = await _cli.RunAsync(["stats", "flaky", "--json"], Limit);
        var text = await _cli.RunAsync(["stats", "flaky", "--since", "1h"], Limit);
        var none = await _cli.RunAsync(["stats", "nothing-here"], Limit);
        var bad = await _cli.RunAsync(["stats", "flaky", "--since", "a while"], Limit);

        Assert.True(json.ExitCode == 0, json.ToString());
        using var doc = System.Text.Json.JsonDocument.Parse(json.Stdout);
        var h = doc.RootElement;
        Assert.Equal(3, h.GetProperty("runs").GetInt32());
        Assert.Equal(2, h.GetProperty("succeeded").GetInt32());
        Assert.Equal(1, h.GetProperty("failed").GetInt32());
        Assert.Equal(0.6667, h.GetProperty("successRate").GetDouble(), 3);
        Assert.True(h.GetProperty("runP50Seconds").GetDouble() >= 0.3);
        var steps = h.GetProperty("steps").EnumerateArray().ToList();
        Assert.Equal("prepare", steps[0].GetProperty("step").GetString()); // the sleep holds every run up
        Assert.True(steps[0].GetProperty("criticalPathShare").GetDouble() > 0.5, json.Stdout);
        Assert.Contains("not cached", steps[0].GetProperty("advice").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, steps.Single(s => s.GetProperty("step").GetString() == "check").GetProperty("failed").GetInt32());
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("flaky: 3 run(s) in the last 1h: 2 succeeded, 1 failed", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("would gain most:", text.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, none.ExitCode);
        Assert.Contains("no runs of 'nothing-here'", none.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--since 'a while' is not a positive duration", bad.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ui_PrintsItsTokenedUrlFirst_ServesTheRuns_RefusesNoToken_AndStopsOnSigterm()
    {
        Assert.Equal(0, (await _cli.RunAsync(["run", Diamond("shown")], Limit)).ExitCode);
        var ui = _cli.Start(["ui", "--port", "0"]);
        var url = await WaitForLineAsync(ui, @"^trainyard ui: (?<url>http://127\.0\.0\.1:\d+/\?token=[0-9a-f]+)$");
        var firstHttpLine = ui.Stdout.Split('\n').First(l => l.Contains("http://", StringComparison.Ordinal));
        using var http = new HttpClient { Timeout = Limit };
        using var cookieless = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { Timeout = Limit };
        var page = await http.GetAsync(url);
        var withCookie = await http.GetAsync(new Uri(new Uri(url), "/api/runs"));
        var bare = await cookieless.GetAsync(new Uri(new Uri(url), "/api/runs"));
        ui.Terminate();
        var exit = await ui.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Contains(url, firstHttpLine, StringComparison.Ordinal);
        Assert.Equal(System.Net.HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("shown-", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(System.Net.HttpStatusCode.OK, withCookie.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, bare.StatusCode);
        Assert.True(exit.ExitCode == 0, exit.ToString());
    }

    [Theory]
    [InlineData("embedded")]
    [InlineData("durable")] // sent by the RunFinished activity, as in the Function App
    public async Task Run_WithNotify_DeliversTheSignedWebhookBeforeItExits(string engine)
    {
        await using var hook = new Trainyard.Testing.WebhookReceiver();
        var file = _cli.WriteFile("alerting.yaml", $$"""
            name: alerting
            notify:
              - url: {{hook.Url}}
                secretFrom: TY_TEST_WEBHOOK_SECRET
            steps:
              - id: boom
                uses: fail
            """);

        var result = await _cli.RunAsync(["run", file, "--engine", engine], Limit, new Dictionary<string, string> { ["TY_TEST_WEBHOOK_SECRET"] = "cli-secret" });

        Assert.True(result.ExitCode == 1, result.ToString());
        var delivered = Assert.Single(hook.Snapshot()); // delivered before the command exited
        Assert.Contains("\"event\":\"run-failed\"", delivered.Body, StringComparison.Ordinal);
        Assert.Equal(Trainyard.Notifications.WebhookSender.Sign("cli-secret", delivered.Headers["X-Trainyard-Timestamp"], delivered.Body), delivered.Headers["X-Trainyard-Signature"]);
    }

    private static async Task<string> WaitForLineAsync(CliChild child, string pattern, string group = "url")
    {
        var regex = new System.Text.RegularExpressions.Regex(pattern, System.Text.RegularExpressions.RegexOptions.Multiline);
        using var cts = new CancellationTokenSource(Limit);
        while (true)
        {
            if (regex.Match(child.Stdout) is { Success: true } m)
            {
                return m.Groups[group].Value;
            }

            Assert.False(child.Process.HasExited, "exited early:\n" + child.Stdout);
            await Task.Delay(100, cts.Token);
        }
    }
}
