using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.DurableTask;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Engine.Durable;
using Trainyard.Engine.Durable.Hosting;
using Trainyard.Execution;
using Trainyard.Execution.Artifacts;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Contracts;
using Trainyard.Runtime.InMemory;

namespace Trainyard.Bench;

/// <summary>
/// The RunPipeline orchestrator on the in-process Durable Task Framework host: activities per second for a 1,000-task
/// fan-out and a 100-step chain of no-op echo steps, on the in-memory and the Azure Storage (Azurite) task hub. The
/// activities are the real <see cref="DurableActivities"/> over AttemptRunner (dispatch-id claims in memory); with
/// --bare they only run the echo step, which leaves the host's own cost.
/// </summary>
internal static class DurableBench
{
    private static readonly string[] Scenarios = ["fanout-1000", "chain-100"];
    private static readonly string[] Stores = ["memory", "azure"];

    public static async Task<int> RunAsync(string[] args)
    {
        var scenario = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "all";
        var store = args.Length > 1 && !args[1].StartsWith('-') ? args[1] : "all";
        var runs = args.SkipWhile(a => a != "--runs").Skip(1).Select(int.Parse).FirstOrDefault(3);
        var bare = args.Contains("--bare");
        var scenarios = scenario == "all" ? Scenarios : [scenario];
        var stores = store == "all" ? Stores : [store];
        if (scenarios.Except(Scenarios).Any() || stores.Except(Stores).Any())
        {
            Console.Error.WriteLine($"usage: durable [{string.Join('|', Scenarios)}|all] [{string.Join('|', Stores)}|all] [--runs N] [--bare]");
            return 2;
        }

        Console.WriteLine($"durable bench: {Environment.ProcessorCount} cores, median of {runs} (+1 warm-up), no-op echo tasks, fresh task hub per run, {(bare ? "bare echo activities" : "DurableActivities with claims")}");
        Console.WriteLine($"{"scenario",-12} {"store",-7} {"tasks",6} {"median ms",10} {"activities/s",12} {"largest history",15} {"runs ms",24}");
        foreach (var s in scenarios)
        {
            foreach (var b in stores)
            {
                var times = new List<double>();
                int tasks = 0;
                int history = 0;
                for (var i = 0; i <= runs; i++)
                {
                    var (ms, n, largest) = await RunScenarioAsync(s, b, bare);
                    if (i == 0)
                    {
                        continue;
                    }

                    times.Add(ms);
                    tasks = n;
                    history = Math.Max(history, largest);
                }

                var sorted = times.Order().ToList();
                var median = sorted[sorted.Count / 2];
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{s,-12} {b,-7} {tasks,6} {median,10:F1} {tasks / (median / 1000),12:F0} {history,15} {string.Join(" ", times.Select(t => t.ToString("F0", CultureInfo.InvariantCulture))),24}"));
            }
        }

        return 0;
    }

    private static async Task<(double Ms, int Tasks, int LargestHistory)> RunScenarioAsync(string scenario, string store, bool bare)
    {
        var (yaml, tasks) = scenario == "chain-100" ? (Chain(100), 100) : (FanOut(1000), 1002);
        var hash = PipelineLoader.Hash(yaml);
        var claims = new InMemoryRunStore();
        await claims.SavePipelineAsync(new PipelineVersion(scenario, hash, yaml, DateTimeOffset.UtcNow), CancellationToken.None);
        var work = Path.Combine(Path.GetTempPath(), "trainyard-bench", Guid.NewGuid().ToString("N"));
        var activities = new CountingActivities(bare
            ? new EchoActivities(claims)
            : new DurableActivities(new AttemptRunner(new AttemptRunnerOptions { Artifacts = new InMemoryArtifactStore(), Claims = claims, WorkRoot = work }), claims));
        DurableStore where = store == "azure"
            ? DurableStore.AzureStorage(Environment.GetEnvironmentVariable("TRAINYARD_AZURITE") ?? "UseDevelopmentStorage=true", "bench" + Guid.NewGuid().ToString("N")[..12])
            : DurableStore.Memory;
        await using var host = await TrainyardDurableHost.StartAsync(new DurableHostOptions { Store = where, MaxConcurrentActivities = 32 }, activities);
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            var runId = "bench-" + Guid.NewGuid().ToString("N")[..12];
            var sw = Stopwatch.StartNew();
            await host.Client.ScheduleNewOrchestrationInstanceAsync(
                DurableNames.RunPipeline,
                new RunPipelineInput { RunId = runId, PipelineName = scenario, PipelineHash = hash },
                new StartOrchestrationOptions(runId),
                timeout.Token);
            var done = await host.Client.WaitForInstanceCompletionAsync(runId, getInputsAndOutputs: true, timeout.Token);
            var elapsed = sw.Elapsed.TotalMilliseconds;
            var output = done.ReadOutputAs<RunPipelineOutput>();
            if (output?.Status != RunStatus.Succeeded || activities.Calls != tasks)
            {
                throw new InvalidOperationException($"{scenario} on {store}: {done.RuntimeStatus} {output?.Status} {output?.Error}, {activities.Calls} activity calls for {tasks} tasks");
            }

            return (elapsed, tasks, host.History.Largest?.Events ?? 0);
        }
        finally
        {
            if (store == "azure")
            {
                await host.StopAndDeleteTaskHubAsync();
            }

            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    private static string Chain(int n)
    {
        var text = new StringBuilder("name: chain\nsteps:\n  - { id: s0, uses: echo }\n");
        for (int i = 1; i < n; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"  - {{ id: s{i}, uses: echo, needs: [s{i - 1}] }}\n");
        }

        return text.ToString();
    }

    private static string FanOut(int n)
    {
        var text = new StringBuilder("name: fanout\nsteps:\n  - { id: start, uses: echo }\n");
        for (int i = 0; i < n; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"  - {{ id: t{i}, uses: echo, needs: [start] }}\n");
        }

        text.Append("  - { id: join, uses: echo, needs: [").AppendJoin(", ", Enumerable.Range(0, n).Select(i => $"t{i}")).Append("] }\n");
        return text.ToString();
    }

    /// <summary>Counts RunTask calls (the run must make exactly one per task).</summary>
    private sealed class CountingActivities(IDurableActivities inner) : IDurableActivities
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public Task<AttemptReport> RunTaskAsync(RunTaskInput input, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            return inner.RunTaskAsync(input, cancellationToken);
        }

        public Task CancelAttemptAsync(CancelAttemptInput input, CancellationToken cancellationToken) => inner.CancelAttemptAsync(input, cancellationToken);

        public Task<string> LoadPipelineAsync(string pipelineHash, CancellationToken cancellationToken) => inner.LoadPipelineAsync(pipelineHash, cancellationToken);

        public Task RunFinishedAsync(RunFinishedInput input, CancellationToken cancellationToken) => inner.RunFinishedAsync(input, cancellationToken);
    }

    /// <summary>Runs the echo built-in for each attempt (no claims, no cache, no log): the host's own cost per activity.</summary>
    private sealed class EchoActivities(IPipelineStore pipelines) : IDurableActivities
    {
        private readonly BuiltinExecutor _builtins = new(BuiltinStepRegistry.CreateStandard());
        private readonly InMemoryArtifactStore _artifacts = new();

        public async Task<AttemptReport> RunTaskAsync(RunTaskInput input, CancellationToken cancellationToken)
        {
            var outcome = await _builtins.ExecuteAsync(new TaskExecutionContext
            {
                Work = input.Work,
                Artifacts = _artifacts,
                WorkingDirectory = Path.GetTempPath(),
                Log = (_, _) => Task.CompletedTask,
            }, cancellationToken);
            return outcome is TaskOutcome.Succeeded s
                ? new AttemptReport { Kind = AttemptReportKind.Succeeded, Result = s.Result }
                : new AttemptReport { Kind = AttemptReportKind.Failed, Error = outcome.ToString() };
        }

        public Task CancelAttemptAsync(CancelAttemptInput input, CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task<string> LoadPipelineAsync(string pipelineHash, CancellationToken cancellationToken)
            => (await pipelines.GetPipelineAsync(pipelineHash, cancellationToken))!.SpecText;

        public Task RunFinishedAsync(RunFinishedInput input, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
