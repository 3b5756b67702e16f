using Trainyard.Core.Spec;

namespace Trainyard.Core.Tests.Spec;

/// <summary>`notify:` at pipeline and step level: parsed like every other field, with precise errors.</summary>
public sealed class NotifySpecTests
{
    private static LoadResult Load(string yaml) => PipelineLoader.Load(yaml, "n.yaml");

    [Fact]
    public void PipelineAndStepNotify_AreRead_WithTheirLevelsDefaults()
    {
        var r = Load("""
            name: p
            notify:
              - url: https://hooks.example.com/a
                secretFrom: ALERT_SECRET
                on: [run-failed, run-succeeded, run-stuck]
                stuckAfter: 2h
              - urlFrom: SLACK_URL
            steps:
              - id: gate
                uses: echo
                notify:
                  - url: http://127.0.0.1:9000/hook
            """);

        Assert.Empty(r.Diagnostics);
        var spec = r.Spec!;
        Assert.Equal(2, spec.Notify.Count);
        Assert.Equal([NotifyEvent.RunFailed, NotifyEvent.RunSucceeded, NotifyEvent.RunStuck], spec.Notify[0].On);
        Assert.Equal("ALERT_SECRET", spec.Notify[0].SecretFrom);
        Assert.Equal(TimeSpan.FromHours(2), spec.Notify[0].StuckAfter);
        Assert.Equal("SLACK_URL", spec.Notify[1].UrlFrom);
        Assert.Equal(NotifyEvents.PipelineDefault, NotifyEvents.Effective(spec.Notify[1], stepLevel: false));
        var step = Assert.Single(Assert.Single(spec.Steps).Notify);
        Assert.Equal(NotifyEvents.StepDefault, NotifyEvents.Effective(step, stepLevel: true));
    }

    [Theory]
    [InlineData("- on: [run-failed]", "TY004", "notify[0]", "needs `url:` or `urlFrom:`")]
    [InlineData("- { url: 'https://a.example', urlFrom: X }", "TY006", "notify[0]", "not both")]
    [InlineData("- url: http://hooks.example.com/x", "TY006", "notify[0].url", "not a webhook URL")]
    [InlineData("- url: https://user:pw@hooks.example.com/x", "TY006", "notify[0].url", "not a webhook URL")]
    [InlineData("- { url: 'https://a.example', secretFrom: 'the secret itself' }", "TY006", "notify[0].secretFrom", "not a setting name")]
    [InlineData("- { url: 'https://a.example', on: [run-exploded] }", "TY006", "notify[0].on[0]", "run-exploded")]
    [InlineData("- { url: 'https://a.example', on: [run-stuck] }", "TY004", "notify[0].stuckAfter", "needs `stuckAfter:`")]
    [InlineData("- { url: 'https://a.example', stuckAfter: 0s }", "TY030", "notify[0].stuckAfter", "more than 0")]
    [InlineData("- { url: 'https://a.example', secret: abc }", "TY003", "notify[0].secret", "unknown field 'secret'")]
    public void BadPipelineNotify_IsAPreciseError(string entry, string code, string field, string message)
    {
        var r = Load($"name: p\nnotify:\n  {entry}\nsteps:\n  - id: a\n    uses: echo\n");

        var d = Assert.Single(r.Diagnostics, d => d.Severity == Trainyard.Core.Validation.Severity.Error);
        Assert.Equal(code, d.Code);
        Assert.Equal(field, d.Field);
        Assert.Contains(message, d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StepNotify_RefusesRunEventsAndStuckAfter()
    {
        var r = Load("""
            name: p
            steps:
              - id: a
                uses: echo
                notify:
                  - { url: 'https://a.example', on: [run-failed], stuckAfter: 1h }
            """);

        Assert.Equal(["steps[0].notify[0].on", "steps[0].notify[0].stuckAfter"], r.Diagnostics.Select(d => d.Field).Order(StringComparer.Ordinal));
        Assert.All(r.Diagnostics, d => Assert.Equal("a", d.StepId));
    }
}
