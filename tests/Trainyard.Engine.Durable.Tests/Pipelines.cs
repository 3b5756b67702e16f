using System.Globalization;
using System.Text;

namespace Trainyard.Engine.Durable.Tests;

/// <summary>The pipelines the orchestrator tests run (YAML, as users write them; built-in steps only).</summary>
internal static class Pipelines
{
    public const string Diamond = """
        name: diamond
        steps:
          - { id: a, uses: echo, with: { message: top } }
          - { id: b, uses: echo, needs: [a], with: { left: "${{ steps.a.outputs.message }}-b" } }
          - { id: c, uses: echo, needs: [a], with: { right: "${{ steps.a.outputs.message }}-c" } }
          - { id: d, uses: echo, needs: [b, c], with: { both: "${{ steps.b.outputs.left }}+${{ steps.c.outputs.right }}" } }
        """;

    public const string FanOutMaxParallel = """
        name: fanout
        maxParallel: 2
        steps:
          - { id: s0, uses: sleep, with: { duration: 300ms } }
          - { id: s1, uses: sleep, with: { duration: 300ms } }
          - { id: s2, uses: sleep, with: { duration: 300ms } }
          - { id: s3, uses: sleep, with: { duration: 300ms } }
          - { id: s4, uses: sleep, with: { duration: 300ms } }
          - { id: s5, uses: sleep, with: { duration: 300ms } }
          - { id: join, uses: echo, needs: [s0, s1, s2, s3, s4, s5] }
        """;

    public const string Retries = """
        name: retries
        steps:
          - id: flaky
            uses: fail
            with: { times: 2 }
            retry: { maxAttempts: 3, initialInterval: 1s, backoffCoefficient: 2, jitter: 0 }
          - { id: after, uses: echo, needs: [flaky] }
        """;

    public const string Timeout = """
        name: timeout
        steps:
          - { id: slow, uses: sleep, timeout: 1s, with: { duration: 60s } }
          - { id: after, uses: echo, needs: [slow] }
        """;

    public const string Approval = """
        name: approval
        steps:
          - { id: build, uses: sleep, with: { duration: 2s } }
          - { id: deploy, uses: echo, needs: [build], when: "events.approval.ok == true", with: { by: "${{ events.approval.by }}" } }
        """;

    public const string LongSleep = """
        name: long
        steps:
          - { id: first, uses: echo }
          - { id: slow, uses: sleep, needs: [first], with: { duration: 120s } }
          - { id: after, uses: echo, needs: [slow] }
        """;

    public const string WhenSkip = """
        name: skip
        params:
          deploy: { type: boolean, default: false }
        steps:
          - { id: build, uses: echo }
          - { id: deploy, uses: echo, needs: [build], when: "params.deploy" }
          - { id: notify, uses: echo, needs: [deploy] }
        """;

    public const string OnFailureContinue = """
        name: continue
        steps:
          - { id: optional, uses: fail, onFailure: continue, with: { message: expected } }
          - { id: dependent, uses: echo, needs: [optional] }
          - { id: independent, uses: echo }
        """;

    /// <summary>A foreach over <paramref name="items"/> items (a list literal param), with an optional per-step bound.</summary>
    public static string Foreach(int items, int? maxParallel = null, string? timeout = null)
    {
        var list = new StringBuilder();
        for (int i = 0; i < items; i++)
        {
            list.Append(i == 0 ? "" : ", ").Append(i.ToString(CultureInfo.InvariantCulture));
        }

        var bound = maxParallel is { } m ? $", maxParallel: {m.ToString(CultureInfo.InvariantCulture)}" : "";
        var limit = timeout is null ? "" : $"\n    timeout: {timeout}";
        return $$$"""
            name: foreach{{{items.ToString(CultureInfo.InvariantCulture)}}}
            params:
              items: { type: list, default: [{{{list}}}] }
            steps:
              - { id: start, uses: echo }
              - id: each
                needs: [start]
                uses: echo
                foreach: { items: "${{ params.items }}"{{{bound}}} }
                with: { n: "${{ item }}" }{{{limit}}}
              - { id: done, uses: echo, needs: [each], with: { count: "${{ steps.each.outputs.n }}" } }
            """;
    }

    /// <summary><see cref="Foreach"/>, then a step that sleeps for <paramref name="sleep"/>.</summary>
    public static string ForeachThenSleep(int items, int maxParallel, string sleep)
        => Foreach(items, maxParallel) + $"\n  - {{ id: tail, uses: sleep, needs: [done], with: {{ duration: {sleep} }} }}\n";

    /// <summary>A chain of <paramref name="steps"/> echo steps.</summary>
    public static string Chain(int steps)
    {
        var text = new StringBuilder("name: chain\nsteps:\n  - { id: s0, uses: echo }\n");
        for (int i = 1; i < steps; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"  - {{ id: s{i}, uses: echo, needs: [s{i - 1}] }}\n");
        }

        return text.ToString();
    }
}
