using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Runtime;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Caching;
using Trainyard.Runtime.InMemory;
using Trainyard.Testing;
using Trainyard.Execution;

namespace Trainyard.Steps.Ml.Tests;

/// <summary>ML steps run by the real engine and worker, with the step cache.</summary>
public sealed class EnginePipelineTests
{
    private static StepSpec Cached(StepSpec s) => s with { Cache = new CacheSpec() };

    private static IReadOnlyList<StepSpec> Steps(int rows) =>
    [
        Cached(TestPipelines.Step("gen", "generate-churn-data", new { rows, seed = 3 })),
        Cached(TestPipelines.Step("validate", "validate-data", new
        {
            dataset = "${{ steps.gen.outputs.dataset }}",
            expectations = new { rowCount = new { min = 100 }, columns = new { tenure_months = new { type = "integer", min = 0 } } },
        }, "gen")),
        TestPipelines.Step("features", "features", new
        {
            dataset = "${{ steps.validate.outputs.dataset }}", label = "churned", drop = new[] { "customer_id" }, onehot = new[] { "plan", "contract" },
        }, "validate"),
    ];

    private static async Task<RunState> Run(RunEngine engine, IReadOnlyList<StepSpec> steps)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var runId = await engine.StartRunAsync(TestPipelines.Request("ml", steps), cts.Token);
        return await new LocalWorker(engine, new LocalWorkerOptions { Workers = 2 }).RunUntilCompleteAsync(runId, cts.Token);
    }

    [Fact]
    public async Task SecondRun_ReusesCachedSteps_UntilAnInputChanges()
    {
        var root = Path.Combine(Path.GetTempPath(), "ty-engine-" + Path.GetRandomFileName());
        await using var backend = new InMemoryBackend();
        try
        {
            var registry = new BuiltinStepRegistry([.. BuiltinStepRegistry.Standard, .. MlSteps.All]);
            var engine = new RunEngine(backend, new RunEngineOptions
            {
                Executors = [new BuiltinExecutor(registry)],
                TaskCache = new StepCache(backend.Store, backend.Artifacts, registry.Catalog),
                WorkRoot = root,
            });

            var first = await Run(engine, Steps(400));
            var second = await Run(engine, Steps(400));
            var changed = await Run(engine, Steps(401));

            Assert.Equal(RunStatus.Succeeded, first.Status);
            Assert.Equal(RunStatus.Succeeded, second.Status);
            Assert.All(first.Tasks.Values, t => Assert.Equal(Core.Engine.TaskStatus.Succeeded, t.Status));
            Assert.Equal(Core.Engine.TaskStatus.Cached, second.Tasks["gen"].Status);
            Assert.Equal(Core.Engine.TaskStatus.Cached, second.Tasks["validate"].Status);
            // Not marked cacheable: runs again.
            Assert.Equal(Core.Engine.TaskStatus.Succeeded, second.Tasks["features"].Status);
            Assert.Equal(first.Tasks["validate"].Result!.Outputs["dataset"].GetString(), second.Tasks["validate"].Result!.Outputs["dataset"].GetString());
            // A changed `with` (rows) changes gen's key, and gen's new bytes change validate's key.
            Assert.Equal(Core.Engine.TaskStatus.Succeeded, changed.Tasks["gen"].Status);
            Assert.Equal(Core.Engine.TaskStatus.Succeeded, changed.Tasks["validate"].Status);
        }
        finally
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }
}
