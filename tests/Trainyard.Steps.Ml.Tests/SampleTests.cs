using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Runtime;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Caching;
using Trainyard.Runtime.InMemory;
using Trainyard.Execution;

namespace Trainyard.Steps.Ml.Tests;

/// <summary>The checked-in samples, loaded from YAML and run by the real engine (smaller data than the defaults).</summary>
public sealed class SampleTests : IAsyncLifetime
{
    private readonly string _work = Path.Combine(Path.GetTempPath(), "ty-sample-" + Path.GetRandomFileName());
    private readonly InMemoryBackend _backend = new();
    private RunEngine _engine = null!;

    public Task InitializeAsync()
    {
        var registry = new BuiltinStepRegistry([.. BuiltinStepRegistry.Standard, .. MlSteps.All]);
        _engine = new RunEngine(_backend, new RunEngineOptions
        {
            Executors = [new BuiltinExecutor(registry)],
            TaskCache = new StepCache(_backend.Store, _backend.Artifacts, registry.Catalog),
            WorkRoot = _work,
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _backend.DisposeAsync();
        if (Directory.Exists(_work))
        {
            Directory.Delete(_work, recursive: true);
        }
    }

    private static string SamplePath(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "samples", name, "pipeline.yaml");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"samples/{name}/pipeline.yaml not found above {AppContext.BaseDirectory}");
    }

    private async Task<RunState> Run(string sample, object parameters)
    {
        var path = SamplePath(sample);
        var text = await File.ReadAllTextAsync(path);
        var spec = PipelineLoader.LoadOrThrow(text, path);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var runId = await _engine.StartRunAsync(new StartRunRequest
        {
            Spec = spec,
            SpecText = text,
            Params = JsonSerializer.SerializeToElement(parameters).EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone()),
        }, cts.Token);
        var state = await new LocalWorker(_engine, new LocalWorkerOptions { Workers = 2 }).RunUntilCompleteAsync(runId, cts.Token);
        Assert.True(state.Status == RunStatus.Succeeded,
            $"{sample} run {state.Status}: " + string.Join("; ", state.Tasks.Values.Where(t => t.Message is not null).Select(t => $"{t.TaskKey}: {t.Message}")));
        return state;
    }

    [Fact]
    public async Task ChurnSample_RunsEndToEnd_PromotesToStaging_AndTheSecondRunHitsTheCache()
    {
        var first = await Run("churn", new { rows = 2000 });

        Assert.Equal(Core.Engine.TaskStatus.Succeeded, first.Tasks["promote-model"].Status);
        var registry = new ModelRegistry(_backend.Artifacts);
        var staged = await registry.GetStageVersionAsync("churn", "staging", CancellationToken.None);
        Assert.NotNull(staged);
        Assert.Equal(1, staged.Version);
        Assert.InRange(staged.Metrics["auc"], 0.75, 0.99);
        Assert.Equal("register-model", staged.Producer!.StepId);
        Assert.Equal(3, first.Tasks.Values.Count(t => t.StepId == "train" && t.ItemIndex is not null));

        var second = await Run("churn", new { rows = 2000 });

        foreach (var step in new[] { "generate-data", "validate-data", "features-behaviour", "features-billing", "register-model" })
        {
            Assert.True(second.Tasks[step].Status == Core.Engine.TaskStatus.Cached, $"{step} is {second.Tasks[step].Status}, expected Cached");
        }

        Assert.All(second.Tasks.Values.Where(t => t.StepId == "train" && t.ItemIndex is not null), t => Assert.Equal(Core.Engine.TaskStatus.Cached, t.Status));
        Assert.Equal(Core.Engine.TaskStatus.Succeeded, second.Tasks["quality-gate"].Status);
        // Unchanged inputs: no duplicate registration, staging still on version 1.
        Assert.Single(await registry.ListVersionsAsync("churn", CancellationToken.None));
        Assert.Equal(1, (await registry.GetStageVersionAsync("churn", "staging", CancellationToken.None))!.Version);
    }

    [Fact]
    public async Task DriftSample_ShiftedWindow_EmitsDriftSignals_UnshiftedDoesNot()
    {
        var calm = await Run("drift", new { shift = 0.0 });
        Assert.False(calm.Tasks["drift"].Result!.Outputs["drifted"].GetBoolean());
        Assert.Empty(await new ArtifactSignalSink(_backend.Artifacts).ReadAllAsync(CancellationToken.None));

        var shifted = await Run("drift", new { shift = 0.8 });

        Assert.True(shifted.Tasks["drift"].Result!.Outputs["drifted"].GetBoolean());
        var signals = await new ArtifactSignalSink(_backend.Artifacts).ReadAllAsync(CancellationToken.None);
        Assert.NotEmpty(signals);
        Assert.All(signals, s => Assert.Equal(("churn", "psi", "2026-11-22/P1D"), (s.Model, s.Metric, s.Window)));
    }
}
