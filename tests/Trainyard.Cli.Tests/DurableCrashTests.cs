using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.DurableTask.Client;
using Trainyard.Core.Engine;
using Trainyard.Engine.Durable;
using Trainyard.Engine.Durable.Hosting;
using Trainyard.Storage.Azure;
using Trainyard.Testing;
using Xunit.Abstractions;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Cli.Tests;

/// <summary>
/// Crash tests of the durable engine on an Azurite task hub (issue 12): `trainyard run --engine durable` is SIGKILLed
/// (with its step processes) at several points, a `trainyard worker --engine durable` is started on the same hub, and
/// every run must complete with every task's side effect recorded exactly once per dispatch id. The side effect is
/// what a careful step does: it writes once per TRAINYARD_DISPATCH_ID (an attempt interrupted by the kill runs again
/// under the same id, so a redone effect is absorbed). Execution counts are reported, not asserted.
/// </summary>
[Collection(AzuriteCliCollection.Name)]
public sealed partial class DurableCrashTests(AzuriteFixture azurite, ITestOutputHelper output) : IDisposable
{
    /// <summary>The CLI's promise on one machine: a killed run is picked up again within this after a worker starts.</summary>
    private static readonly TimeSpan PickupLimit = TimeSpan.FromSeconds(60);

    private readonly TrainyardProcesses _cli = new();
    private readonly AzuriteFixture _azurite = azurite;

    public void Dispose() => _cli.Dispose();

    [AzuriteFact]
    public async Task KilledAtSeveralPoints_AWorkerCompletesEveryRun_EachEffectOncePerDispatchId()
    {
        var scenarios = new[]
        {
            new Scenario(this, "fanout-before-first-checkpoint", Shape.FanOut, s => s.Stdout.Contains(" started on the durable engine", StringComparison.Ordinal)),
            new Scenario(this, "fanout-mid", Shape.FanOut, s => s.Effects >= 60),
            new Scenario(this, "fanout-after-last-activity", Shape.FanOut, s => s.Done("join")),
            new Scenario(this, "retry-between-attempts", Shape.Retrying, s => s.Executed("flaky", attempt: 2)),
            new Scenario(this, "retry-during-step", Shape.Retrying, s => s.Executed("slow", attempt: 1)),
        };

        // Concurrently, each on its own task hub: the scenarios share nothing but the machine.
        var results = await Task.WhenAll(scenarios.Select(s => s.RunAsync()));
        foreach (var line in results)
        {
            output.WriteLine(line);
        }
    }

    [AzuriteFact]
    public async Task ThreeWorkers_OneKilledMidway_EveryRunSucceeds_NoEffectDuplicated()
    {
        var hub = AzuriteFixture.NewTaskHub();
        var store = _azurite.CliStore(hub);
        var dir = Directory.CreateDirectory(Path.Combine(_cli.WorkingDirectory, "multi")).FullName;
        var effects = Path.Combine(dir, "effects.log");
        var execs = Path.Combine(dir, "exec.log");
        File.WriteAllText(effects, "");
        File.WriteAllText(execs, "");
        var command = StepCommand(dir, execs, effects, sleep: "0");
        var diamond = $$"""
            name: diamond
            steps:
              - { id: a, run: { command: {{command}} } }
              - { id: b, needs: [a], run: { command: {{command}} } }
              - { id: c, needs: [a], run: { command: {{command}} } }
              - { id: d, needs: [b, c], run: { command: {{command}} } }
            """;
        var wide = $$"""
            name: wide
            steps:
              - id: item
                foreach: { items: [{{string.Join(", ", Enumerable.Range(0, 500))}}] }
                run: { command: {{command}} }
            """;

        await using var client = await ConnectAsync(hub);
        var runs = new Service.DurableRunControl(client, Microsoft.Extensions.Logging.Abstractions.NullLogger<Service.DurableRunControl>.Instance);
        var blobs = new AzureBlobStores(AzureStorageOptions.ForDevelopmentStorage(hub));
        await blobs.EnsureCreatedAsync(CancellationToken.None);
        var ids = new List<string>();
        foreach (var (name, text, count) in new[] { ("diamond", diamond, 50), ("wide", wide, 1) })
        {
            var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));
            await blobs.Pipelines.SavePipelineAsync(new Execution.Contracts.PipelineVersion(name, hash, text, DateTimeOffset.UtcNow), CancellationToken.None);
            for (int i = 0; i < count; i++)
            {
                var id = $"{name}-{i.ToString(CultureInfo.InvariantCulture)}";
                await runs.StartAsync(new RunPipelineInput { RunId = id, PipelineName = name, PipelineHash = hash, Trigger = new TriggerInfo("manual") }, CancellationToken.None);
                ids.Add(id);
            }
        }

        var workers = Enumerable.Range(0, 3).Select(_ => _cli.Start(["worker", "--engine", "durable", "--store", store, "--workers", "4"])).ToList();
        var clock = Stopwatch.StartNew();
        await WaitUntilAsync(() => File.ReadAllLines(effects).Length >= 250, TimeSpan.FromMinutes(3), "250 step effects before the kill");
        await workers[0].KillAsync();
        var killedAt = clock.Elapsed;

        var outcomes = await WaitForAllAsync(client, ids, TimeSpan.FromMinutes(5));
        var finished = clock.Elapsed;
        foreach (var w in workers.Skip(1))
        {
            w.Terminate();
            var stopped = await w.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(stopped.ExitCode == 0, stopped.ToString());
        }

        Assert.All(outcomes, o => Assert.True(o.Status == RunStatus.Succeeded, $"{o.State.RunId}: {o.Status} {o.Error}"));
        var expected = outcomes.SelectMany(o => o.State.Tasks.Values.Where(t => t.DispatchId is not null).Select(t => $"{t.TaskKey} {t.DispatchId}")).ToList();
        Assert.Equal(50 * 4 + 500, expected.Count);
        var recorded = File.ReadAllLines(effects).Select(l => l.Split(' ')).Select(p => $"{p[1]} {p[2]}").ToList();
        Assert.Equal(recorded.Count, recorded.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(expected.Order(StringComparer.Ordinal), recorded.Order(StringComparer.Ordinal));
        var reExecuted = File.ReadAllLines(execs).Where(l => l.StartsWith("exec ", StringComparison.Ordinal)).Select(l => l.Split(' ')[2]).GroupBy(d => d, StringComparer.Ordinal).Count(g => g.Count() > 1);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"3 workers, 51 runs (700 step attempts): worker 1 killed at {killedAt.TotalSeconds:0.0}s, all succeeded at {finished.TotalSeconds:0.0}s; " +
            $"{reExecuted} dispatch id(s) executed again (in flight on the killed worker), 0 effects duplicated"));
    }

    [AzuriteFact]
    public async Task AStepLongerThanTheVisibilityTimeout_RunsOnce()
    {
        // The local hub's work items are invisible for 20 s; DTFx's TaskHubWorker renews an activity's lock while it runs,
        // so a 26 s step is not delivered to a second executor half-way.
        var dir = Directory.CreateDirectory(Path.Combine(_cli.WorkingDirectory, "long")).FullName;
        var log = Path.Combine(dir, "exec.log");
        File.WriteAllText(log, "");
        var file = _cli.WriteFile("long/pipeline.yaml", $$"""
            name: long-step
            steps:
              - id: long
                run: { command: [sh, -c, 'echo "start $TRAINYARD_DISPATCH_ID" >> "$0"; sleep 26; echo "end $TRAINYARD_DISPATCH_ID" >> "$0"', '{{log}}'] }
            """);

        var result = await _cli.RunAsync(["run", file, "--store", _azurite.CliStore(AzuriteFixture.NewTaskHub()), "--workers", "4"], TimeSpan.FromMinutes(4));

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = File.ReadAllLines(log);
        Assert.Single(lines, l => l.StartsWith("start ", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("end ", StringComparison.Ordinal));
    }

    private static string StepCommand(string dir, string execLog, string effectsLog, string sleep)
    {
        var step = Path.Combine(dir, "step.sh");
        File.WriteAllText(step, $$"""
            set -e
            echo "exec $TRAINYARD_TASK_KEY $TRAINYARD_DISPATCH_ID $TRAINYARD_ATTEMPT" >> "$1"
            if [ "$TRAINYARD_STEP_ID" = flaky ] && [ "$TRAINYARD_ATTEMPT" -lt 3 ]; then echo "flaky attempt $TRAINYARD_ATTEMPT fails"; exit 1; fi
            if [ "$TRAINYARD_STEP_ID" = slow ]; then sleep 3; else sleep {{sleep}}; fi
            flock "$2.lock" sh -c 'grep -q " $1$" "$0" || echo "effect $2 $1" >> "$0"' "$2" "$TRAINYARD_DISPATCH_ID" "$TRAINYARD_TASK_KEY"
            echo "done $TRAINYARD_TASK_KEY $TRAINYARD_DISPATCH_ID $TRAINYARD_ATTEMPT" >> "$1"
            """);
        return $"[sh, '{step}', '{execLog}', '{effectsLog}']";
    }

    private static Task<DurableTaskClient> ConnectAsync(string hub)
        => TrainyardDurableHost.ConnectClientAsync(DurableStore.AzureStorage("UseDevelopmentStorage=true", hub));

    private static async Task<List<RunPipelineOutput>> WaitForAllAsync(DurableTaskClient client, IReadOnlyList<string> ids, TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        var outputs = new List<RunPipelineOutput>();
        foreach (var id in ids)
        {
            try
            {
                var done = await client.WaitForInstanceCompletionAsync(id, getInputsAndOutputs: true, cts.Token);
                Assert.True(done.SerializedOutput is not null, $"{id} ended {done.RuntimeStatus} without an output: {done.FailureDetails?.ErrorMessage}");
                outputs.Add(JsonSerializer.Deserialize<RunPipelineOutput>(done.SerializedOutput!, EngineJson.Options)!);
            }
            catch (OperationCanceledException)
            {
                var state = await client.GetInstanceAsync(id, getInputsAndOutputs: false);
                Assert.Fail($"run {id} did not finish within {limit}: {state?.RuntimeStatus} {state?.SerializedCustomStatus}");
            }
        }

        return outputs;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan limit, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < limit, $"timed out after {limit} waiting for {what}");
            await Task.Delay(50);
        }
    }

    [GeneratedRegex(@"run (\S+) started on the durable engine")]
    private static partial Regex StartedLine();

    private enum Shape
    {
        FanOut,
        Retrying,
    }

    /// <summary>One pipeline on its own task hub: killed when <c>killWhen</c> holds, then finished by a worker.</summary>
    private sealed class Scenario
    {
        private readonly DurableCrashTests _test;
        private readonly string _name;
        private readonly Shape _shape;
        private readonly Func<Scenario, bool> _killWhen;
        private readonly string _hub = AzuriteFixture.NewTaskHub();
        private readonly string _execLog;
        private readonly string _effectsLog;
        private readonly string _pipeline;
        private CliChild? _run;

        public Scenario(DurableCrashTests test, string name, Shape shape, Func<Scenario, bool> killWhen)
        {
            _test = test;
            _name = name;
            _shape = shape;
            _killWhen = killWhen;
            var dir = Directory.CreateDirectory(Path.Combine(test._cli.WorkingDirectory, name)).FullName;
            _execLog = Path.Combine(dir, "exec.log");
            _effectsLog = Path.Combine(dir, "effects.log");
            File.WriteAllText(_execLog, "");
            File.WriteAllText(_effectsLog, "");
            var command = StepCommand(dir, _execLog, _effectsLog, sleep: "0.05");
            _pipeline = test._cli.WriteFile($"{name}/pipeline.yaml", shape == Shape.FanOut
                ? $$"""
                    name: fanout
                    steps:
                      - { id: prep, run: { command: {{command}} } }
                      - id: shard
                        needs: [prep]
                        foreach: { items: [{{string.Join(", ", Enumerable.Range(0, 198))}}] }
                        run: { command: {{command}} }
                      - { id: join, needs: [shard], run: { command: {{command}} } }
                    """
                : $$"""
                    name: retrying
                    steps:
                      - { id: first, run: { command: {{command}} } }
                      - id: flaky
                        needs: [first]
                        retry: { maxAttempts: 3, initialInterval: 2s }
                        run: { command: {{command}} }
                      - { id: slow, needs: [flaky], run: { command: {{command}} } }
                      - { id: last, needs: [slow], run: { command: {{command}} } }
                    """);
        }

        public string Stdout => _run?.Stdout ?? "";

        public int Effects => File.ReadAllLines(_effectsLog).Length;

        public bool Done(string taskKey) => File.ReadAllLines(_execLog).Any(l => l.StartsWith($"done {taskKey} ", StringComparison.Ordinal));

        public bool Executed(string taskKey, int attempt) => File.ReadAllLines(_execLog).Any(l => l.StartsWith($"exec {taskKey} ", StringComparison.Ordinal)
            && l.EndsWith(" " + attempt.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));

        public async Task<string> RunAsync()
        {
            var store = _test._azurite.CliStore(_hub);
            _run = _test._cli.Start(["run", _pipeline, "--store", store, "--workers", "8"]);
            await WaitUntilAsync(() => _killWhen(this) || _run.Process.HasExited, TimeSpan.FromMinutes(3), $"{_name}: the kill point");
            Assert.False(_run.Process.HasExited, $"{_name}: `trainyard run` ended before the kill point:\n{Stdout}");
            await _run.KillAsync();
            var runId = StartedLine().Match(_run.Stdout) is { Success: true } m ? m.Groups[1].Value : throw new InvalidOperationException($"{_name}: no run id in\n{_run.Stdout}");
            var effectsAtKill = Effects;
            var execsAtKill = File.ReadAllLines(_execLog).Length;

            var worker = _test._cli.Start(["worker", "--engine", "durable", "--store", store, "--workers", "8"]);
            var clock = Stopwatch.StartNew();
            await using var client = await ConnectAsync(_hub);
            TimeSpan? pickup = null;
            var completion = client.WaitForInstanceCompletionAsync(runId, getInputsAndOutputs: true);
            while (!completion.IsCompleted && clock.Elapsed < TimeSpan.FromMinutes(4))
            {
                if (pickup is null && File.ReadAllLines(_execLog).Length > execsAtKill)
                {
                    pickup = clock.Elapsed;
                }

                await Task.WhenAny(completion, Task.Delay(100));
            }

            Assert.True(completion.IsCompleted, $"{_name}: run {runId} did not complete within 4 minutes of the worker's start:\n{worker.Stdout}");
            var finished = clock.Elapsed;
            pickup ??= finished;
            worker.Terminate();
            var stopped = await worker.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(stopped.ExitCode == 0, $"{_name}: the worker did not stop cleanly: {stopped}");

            var metadata = await completion;
            var result = JsonSerializer.Deserialize<RunPipelineOutput>(metadata.SerializedOutput ?? throw new InvalidOperationException($"{_name}: {metadata.RuntimeStatus} without output"), EngineJson.Options)!;
            Assert.True(result.Status == RunStatus.Succeeded, $"{_name}: run {runId} ended {result.Status}: {result.Error}");
            Assert.All(result.State.Tasks.Values, t => Assert.Equal(TaskStatus.Succeeded, t.Status));
            if (_shape == Shape.Retrying)
            {
                Assert.Equal(3, result.State.Tasks["flaky"].Attempt);
            }

            // One effect per task, under the dispatch id of its succeeded attempt; none for any other attempt.
            var expected = result.State.Tasks.Values.Where(t => t.DispatchId is not null).Select(t => $"{t.TaskKey} {t.DispatchId}").Order(StringComparer.Ordinal).ToList();
            Assert.Equal(_shape == Shape.FanOut ? 200 : 4, expected.Count);
            var recorded = File.ReadAllLines(_effectsLog).Select(l => l.Split(' ')).Select(p => $"{p[1]} {p[2]}").ToList();
            Assert.Equal(recorded.Count, recorded.Distinct(StringComparer.Ordinal).Count());
            Assert.Equal(expected, recorded.Order(StringComparer.Ordinal));
            Assert.True(pickup < PickupLimit, $"{_name}: the worker took {pickup} to pick the killed run up (limit {PickupLimit})");

            var execs = File.ReadAllLines(_execLog).Where(l => l.StartsWith("exec ", StringComparison.Ordinal)).Select(l => l.Split(' ')[2]).ToList();
            var reExecuted = execs.GroupBy(d => d, StringComparer.Ordinal).Count(g => g.Count() > 1);
            return string.Create(CultureInfo.InvariantCulture,
                $"{_name}: killed with {effectsAtKill} of {expected.Count} effects done; worker picked the run up after {pickup.Value.TotalSeconds:0.0}s and finished it " +
                $"{finished.TotalSeconds:0.0}s after its start; {reExecuted} dispatch id(s) executed again after the kill (absorbed: 0 duplicate effects)");
        }
    }
}
