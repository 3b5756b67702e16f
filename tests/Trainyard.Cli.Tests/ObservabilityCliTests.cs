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
}
