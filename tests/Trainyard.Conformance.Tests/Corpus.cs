using System.Text.Json;
using Trainyard.Core.Engine;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Conformance.Tests;

/// <summary>
/// What one task must end as: status, attempt number (null: not checked) and outputs (name → JSON, compared as JSON
/// values). A run that fails (`onFailure: fail-run`) cancels the tasks it had not started: they end Cancelled, attempt 0.
/// </summary>
public sealed record Expect(TaskStatus Status, int? Attempt = 1, IReadOnlyDictionary<string, string>? Outputs = null);

/// <summary>Something a scenario does to a run while it goes on.</summary>
public enum Act
{
    /// <summary>Nothing: the run goes to its end.</summary>
    None,

    /// <summary>Raise the event `approval` {ok: true, by: "ops"} (twice, same event id) once task `build` is running.</summary>
    ApproveWhileBuildRuns,

    /// <summary>Cancel the run once task `slow` is running.</summary>
    CancelWhileSlowRuns,

    /// <summary>Run the pipeline twice on the same stores; the second run's outcome is checked.</summary>
    RunTwice,
}

/// <summary>One pipeline of the corpus with the outcome every engine must give.</summary>
public sealed record Scenario(string Name, string Yaml, RunStatus Run, IReadOnlyDictionary<string, Expect> Tasks, Act Act = Act.None, IReadOnlyDictionary<string, string>? Params = null)
{
    /// <inheritdoc />
    public override string ToString() => Name;
}

/// <summary>
/// The engine test corpus: retries, timeouts, skips, foreach, approvals, cancel, onFailure, cache, params, bad input.
/// Built-in steps and small `sh` commands only, durations in milliseconds, so every engine runs it in seconds.
/// </summary>
public static class Corpus
{
    private static readonly Dictionary<string, string> NoOutputs = [];

    /// <summary>Every scenario, by name.</summary>
    public static IReadOnlyDictionary<string, Scenario> All { get; } = new[]
    {
        new Scenario("diamond", """
            name: diamond
            steps:
              - { id: a, uses: echo, with: { message: top } }
              - { id: b, uses: echo, needs: [a], with: { left: "${{ steps.a.outputs.message }}-b" } }
              - { id: c, uses: echo, needs: [a], with: { right: "${{ steps.a.outputs.message }}-c" } }
              - { id: d, uses: echo, needs: [b, c], with: { both: "${{ steps.b.outputs.left }}+${{ steps.c.outputs.right }}" } }
            """, RunStatus.Succeeded, new Dictionary<string, Expect>
        {
            ["a"] = new(TaskStatus.Succeeded),
            ["b"] = new(TaskStatus.Succeeded),
            ["c"] = new(TaskStatus.Succeeded),
            ["d"] = new(TaskStatus.Succeeded, 1, new Dictionary<string, string> { ["both"] = "\"top-b+top-c\"" }),
        }),
        new Scenario("foreach", """
            name: items
            steps:
              - id: each
                foreach: { items: [1, 2, 3], maxParallel: 2 }
                uses: echo
                with: { value: "${{ item }}" }
              - { id: after, uses: echo, needs: [each] }
            """, RunStatus.Succeeded, new Dictionary<string, Expect>
        {
            ["each"] = new(TaskStatus.Succeeded, null),
            ["each[0]"] = new(TaskStatus.Succeeded, 1, new Dictionary<string, string> { ["value"] = "1" }),
            ["each[1]"] = new(TaskStatus.Succeeded, 1, new Dictionary<string, string> { ["value"] = "2" }),
            ["each[2]"] = new(TaskStatus.Succeeded, 1, new Dictionary<string, string> { ["value"] = "3" }),
            ["after"] = new(TaskStatus.Succeeded),
        }),
        new Scenario("retries-then-success", """
            name: flaky
            steps:
              - id: flaky
                retry: { maxAttempts: 3, initialInterval: 100ms }
                run: { command: [sh, -c, 'test "$TRAINYARD_ATTEMPT" -ge 3'] }
              - { id: next, uses: echo, needs: [flaky] }
            """, RunStatus.Succeeded, new Dictionary<string, Expect>
        {
            ["flaky"] = new(TaskStatus.Succeeded, 3),
            ["next"] = new(TaskStatus.Succeeded),
        }),
        new Scenario("retries-exhausted", """
            name: exhausted
            steps:
              - id: broken
                retry: { maxAttempts: 2, initialInterval: 100ms }
                uses: fail
                with: { message: always }
              - { id: next, uses: echo, needs: [broken] }
            """, RunStatus.Failed, new Dictionary<string, Expect>
        {
            ["broken"] = new(TaskStatus.Failed, 2),
            ["next"] = new(TaskStatus.Cancelled, 0),
        }),
        new Scenario("timeout", """
            name: timeout
            steps:
              - { id: slow, uses: sleep, timeout: 500ms, with: { duration: 30s } }
              - { id: after, uses: echo, needs: [slow] }
            """, RunStatus.Failed, new Dictionary<string, Expect>
        {
            ["slow"] = new(TaskStatus.Failed, 1),
            ["after"] = new(TaskStatus.Cancelled, 0),
        }),
        new Scenario("when-skips", """
            name: skips
            params:
              deploy: { type: boolean, default: false }
            steps:
              - { id: build, uses: echo }
              - { id: deploy, uses: echo, needs: [build], when: "${{ params.deploy }}" }
              - { id: announce, uses: echo, needs: [deploy] }
              - { id: report, uses: echo, needs: [build] }
            """, RunStatus.Succeeded, new Dictionary<string, Expect>
        {
            ["build"] = new(TaskStatus.Succeeded),
            ["deploy"] = new(TaskStatus.Skipped, null),
            ["announce"] = new(TaskStatus.Skipped, null),
            ["report"] = new(TaskStatus.Succeeded),
        }),
        new Scenario("params", """
            name: params
            params:
              who: { type: string, default: nobody }
            steps:
              - { id: greet, uses: echo, with: { message: "hello ${{ params.who }}" } }
            """, RunStatus.Succeeded, new Dictionary<string, Expect>
        {
            ["greet"] = new(TaskStatus.Succeeded, 1, new Dictionary<string, string> { ["message"] = "\"hello ops\"" }),
        }, Params: new Dictionary<string, string> { ["who"] = "\"ops\"" }),
        new Scenario("on-failure-continue", """
            name: tolerant
            steps:
              - { id: optional, uses: fail, onFailure: continue, with: { message: not needed } }
              - { id: uses-it, uses: echo, needs: [optional] }
              - { id: main, uses: echo }
            """, RunStatus.Succeeded, new Dictionary<string, Expect>
        {
            ["optional"] = new(TaskStatus.Failed, 1),
            ["uses-it"] = new(TaskStatus.Skipped, null),
            ["main"] = new(TaskStatus.Succeeded),
        }),
        new Scenario("bad-input-no-retry", """
            name: bad-input
            steps:
              - id: nap
                retry: { maxAttempts: 3, initialInterval: 100ms }
                uses: sleep
                with: { duration: "${{ params.length }}" }
            params:
              length: { type: string, default: "not a duration" }
            """, RunStatus.Failed, new Dictionary<string, Expect>
        {
            ["nap"] = new(TaskStatus.Failed, 1),
        }),
        new Scenario("approval", """
            name: approval
            steps:
              - { id: build, uses: sleep, with: { duration: 3s } }
              - { id: deploy, uses: echo, needs: [build], when: "events.approval.ok == true", with: { by: "${{ events.approval.by }}" } }
            """, RunStatus.Succeeded, new Dictionary<string, Expect>
        {
            ["build"] = new(TaskStatus.Succeeded),
            ["deploy"] = new(TaskStatus.Succeeded, 1, new Dictionary<string, string> { ["by"] = "\"ops\"" }),
        }, Act.ApproveWhileBuildRuns),
        new Scenario("cancel", """
            name: cancel
            steps:
              - { id: first, uses: echo }
              - { id: slow, uses: sleep, needs: [first], with: { duration: 60s } }
              - { id: after, uses: echo, needs: [slow] }
            """, RunStatus.Cancelled, new Dictionary<string, Expect>
        {
            ["first"] = new(TaskStatus.Succeeded),
            ["slow"] = new(TaskStatus.Cancelled, null),
            ["after"] = new(TaskStatus.Cancelled, null),
        }, Act.CancelWhileSlowRuns),
        new Scenario("cache", """
            name: cached
            steps:
              - { id: prep, uses: echo, cache: true, with: { message: same } }
              - { id: fresh, uses: echo, needs: [prep] }
            """, RunStatus.Succeeded, new Dictionary<string, Expect>
        {
            ["prep"] = new(TaskStatus.Cached, null, new Dictionary<string, string> { ["message"] = "\"same\"" }),
            ["fresh"] = new(TaskStatus.Succeeded),
        }, Act.RunTwice),
    }.ToDictionary(s => s.Name, StringComparer.Ordinal);

    /// <summary>The params of a scenario as JSON values.</summary>
    public static IReadOnlyDictionary<string, JsonElement> ParamsOf(Scenario scenario)
        => (scenario.Params ?? NoOutputs).ToDictionary(p => p.Key, p => JsonDocument.Parse(p.Value).RootElement.Clone(), StringComparer.Ordinal);
}
