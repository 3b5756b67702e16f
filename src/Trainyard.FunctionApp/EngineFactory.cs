using Trainyard.Compute.Local;
using Trainyard.Runtime;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Caching;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Registry;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.FunctionApp;

/// <summary>Creates the run engine with every executor this deployment can use.</summary>
internal static class EngineFactory
{
    /// <summary>
    /// Built-in steps the app runs inline, right after the commit that dispatches them, instead of through the work
    /// queue: steps that finish in milliseconds, so no background work outlives an invocation by more than that (an
    /// instance may be scaled in once no invocation is active). Everything else goes through ExecuteTask, whose
    /// invocation lasts as long as the step.
    /// </summary>
    public static readonly IReadOnlySet<string> InlineSteps = new HashSet<string>(StringComparer.Ordinal) { "echo", "fail", "write-file" };

    /// <summary>Builds the engine from the container's backend, registry and logging.</summary>
    public static RunEngine Create(IServiceProvider services, AppSettingsValues settings, TimeProvider time)
    {
        var registry = services.GetRequiredService<PipelineRegistry>();
        var steps = new BuiltinStepRegistry(BuiltinStepRegistry.Standard.Concat(Trainyard.Steps.Ml.MlSteps.All));
        var executors = new List<ITaskExecutor>
        {
            new BuiltinExecutor(steps, services, time),
            new LocalProcessExecutor(),
        };
        var loggers = services.GetRequiredService<ILoggerFactory>();
        var missing = AzureServices.AddBatch(executors, settings, loggers);
        var backend = services.GetRequiredService<IBackend>();
        return new RunEngine(backend, new RunEngineOptions
        {
            // Same cache as the CLI's: `cache: true` steps reuse results across runs, instances and hosts of one store.
            TaskCache = new StepCache(backend.Store, backend.Artifacts, steps.Catalog, time),
            Time = time,
            LoggerFactory = loggers,
            Executors = executors,
            MissingExecutorHints = missing,
            SpecParser = v => registry.Spec(v) ?? throw new InvalidOperationException($"stored pipeline version {v.ContentHash} of '{v.Name}' no longer loads; push it again with `trainyard pipelines push`"),
            WorkRoot = settings.WorkDir,
            InlineBuiltins = true,
            InlineFilter = work => work.Uses is { } uses && InlineSteps.Contains(uses),
        });
    }
}
