using System.Globalization;
using Trainyard.Compute.Local;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Runtime;
using Trainyard.Execution.Builtins;
using Trainyard.Runtime.Contracts;
using Trainyard.Storage.Azure;
using Trainyard.Testing;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

[assembly: TestFramework("Trainyard.Testing.AzuriteTestFramework", "Trainyard.Testing")]

namespace Trainyard.Cli.Tests;

/// <summary>One Azurite for the Azure tests of this assembly.</summary>
[CollectionDefinition(Name)]
public sealed class AzuriteCliCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "azurite-cli";
}

/// <summary>Scale-out: several `trainyard worker` processes on one Azure Storage account (Azurite).</summary>
[NeedsAzurite]
[Collection(AzuriteCliCollection.Name)]
public sealed class AzureScaleOutTests(AzuriteFixture azurite, Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    [AzuriteFact]
    public async Task FourWorkerProcesses_FinishAThousandTaskFanOutAnd200Runs_NoDispatchExecutedTwice_NothingLost()
    {
        azurite.EnsureAvailable();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(12));
        var store = $"azure:{azurite.ConnectionString};TaskHub={AzuriteFixture.NewTaskHub()}";
        await using var backend = new AzureBackend(AzureBackendOptions.Parse(store));
        try
        {
            // Every execution of a fan-out task appends its dispatch id here: the executors' own record, not the journal's.
            var executions = Path.Combine(_cli.WorkingDirectory, "executions.log");
            var fanYaml = FanOutYaml(1000, executions);
            var diamondYaml = DiamondYaml();
            // The starter has the workers' executors: a host refuses to start a run whose steps it could not execute.
            var engine = new RunEngine(backend, new RunEngineOptions
            {
                WorkRoot = Path.Combine(_cli.WorkingDirectory, "starter"),
                Executors = [new BuiltinExecutor(BuiltinStepRegistry.CreateStandard()), new LocalProcessExecutor()],
            });
            var fanRun = await engine.StartRunAsync(new StartRunRequest { Spec = PipelineLoader.LoadOrThrow(fanYaml, "fan.yaml"), SpecText = fanYaml }, limit.Token);
            var diamonds = new List<string>();
            var diamondSpec = PipelineLoader.LoadOrThrow(diamondYaml, "diamond.yaml");
            for (var i = 0; i < 200; i++)
            {
                diamonds.Add(await engine.StartRunAsync(new StartRunRequest { Spec = diamondSpec, SpecText = diamondYaml }, limit.Token));
            }

            var workers = Enumerable.Range(0, 4).Select(_ => _cli.Start(["worker", "--store", store, "--workers", "16"])).ToList();
            try
            {
                // Waits on one unfinished run at a time: one read per poll, so the waiting adds no load to speak of.
                foreach (var id in diamonds.Prepend(fanRun))
                {
                    while ((await engine.GetRunAsync(id, limit.Token))!.Status == RunStatus.Running)
                    {
                        Assert.All(workers, w => Assert.False(w.Process.HasExited, $"a worker exited early:\n{w.Stdout}"));
                        await Task.Delay(1000, limit.Token);
                    }
                }
            }
            finally
            {
                foreach (var w in workers)
                {
                    w.Terminate();
                }

                foreach (var w in workers)
                {
                    await w.WaitAsync(TimeSpan.FromSeconds(60));
                }
            }

            // Workers run built-in steps inline. A worker that loads a run while another worker's attempt waits for an
            // inline slot (no claim yet) sends a copy of it to the work queue; when the original claims first, the copy
            // waits out the claim (up to the 30 s lease) and is then dropped as settled. Drain such copies with one more
            // worker, so the checks below also prove that none of them ran a task again.
            var copies = await backend.Work.CountAsync(limit.Token);
            using (var drain = CancellationTokenSource.CreateLinkedTokenSource(limit.Token))
            {
                var drainer = new LocalWorker(engine, new LocalWorkerOptions
                {
                    Workers = 8, RecoverOnStart = false, RecoverEvery = null,
                    MinIdleDelay = TimeSpan.FromMilliseconds(100), MaxIdleDelay = TimeSpan.FromMilliseconds(500),
                }).RunAsync(drain.Token);
                var clock = System.Diagnostics.Stopwatch.StartNew();
                while (await backend.Work.CountAsync(limit.Token) > 0)
                {
                    Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"{await backend.Work.CountAsync(limit.Token)} work messages still queued 90 s after every run finished");
                    await Task.Delay(500, limit.Token);
                }

                await drain.CancelAsync();
                await drainer;
            }

            output.WriteLine($"{copies} duplicate work message(s) left by the workers, drained");
            var fan = (await engine.GetRunAsync(fanRun, limit.Token))!;
            Assert.Equal(RunStatus.Succeeded, fan.Status);
            var executed = fan.Tasks.Values.Where(t => t.DispatchId is not null).ToList();
            Assert.Equal(1002, executed.Count);
            Assert.All(executed, t => Assert.Equal(1, t.Attempt));
            var lines = await File.ReadAllLinesAsync(executions, limit.Token);
            Assert.Equal(1000, lines.Length);
            Assert.Equal(1000, lines.Distinct(StringComparer.Ordinal).Count());
            Assert.Equal(
                executed.Where(t => t.StepId == "fan").Select(t => t.DispatchId!).Order(StringComparer.Ordinal),
                lines.Order(StringComparer.Ordinal));

            foreach (var id in diamonds)
            {
                var run = (await engine.GetRunAsync(id, limit.Token))!;
                Assert.Equal(RunStatus.Succeeded, run.Status);
                Assert.Equal(5, run.Tasks.Count);
                Assert.All(run.Tasks.Values, t => Assert.Equal(1, t.Attempt));
                var journal = await engine.ReadJournalAsync(id, limit.Token);
                Assert.Equal(5, journal.OfType<TaskSucceeded>().Select(e => e.DispatchId).Distinct().Count());
            }

            Assert.Equal(0, await backend.Work.CountAsync(limit.Token));
            Assert.Equal(0, await backend.WorkPoison.CountAsync(limit.Token));
        }
        finally
        {
            await backend.DeleteTaskHubAsync(CancellationToken.None);
        }
    }

    private static string FanOutYaml(int n, string log) =>
        $$$"""
        name: scaleout
        params:
          items:
            type: list
            default: [{{{string.Join(", ", Enumerable.Range(0, n).Select(i => i.ToString(CultureInfo.InvariantCulture)))}}}]
        steps:
          - id: start
            uses: echo
          - id: fan
            needs: [start]
            foreach: "${{ params.items }}"
            run:
              command: [sh, -c, 'echo "$TRAINYARD_DISPATCH_ID" >> "$1"', record, "{{{log}}}"]
          - id: join
            needs: [fan]
            uses: echo
        """;

    private static string DiamondYaml() =>
        """
        name: diamond
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
            needs: [a]
            uses: echo
          - id: e
            needs: [b, c, d]
            uses: echo
        """;
}
