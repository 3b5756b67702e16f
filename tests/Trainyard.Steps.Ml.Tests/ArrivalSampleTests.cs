using System.Security.Cryptography;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Caching;
using Trainyard.Execution.Contracts;
using Trainyard.Execution.Data;
using Trainyard.Runtime;
using Trainyard.Runtime.InMemory;
using Trainyard.Testing;

namespace Trainyard.Steps.Ml.Tests;

/// <summary>
/// samples/churn/arrival.yaml on the embedded engine: the run trains on exactly the rows that arrived, records the
/// file's hash and version in the model's lineage, and a malformed upload registers nothing.
/// </summary>
public sealed class ArrivalSampleTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "ty-arrival-" + Path.GetRandomFileName());
    private readonly InMemoryBackend _backend = new();
    private RunEngine _engine = null!;

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(_root, "data", "churn"));
        var registry = new BuiltinStepRegistry([.. BuiltinStepRegistry.Standard, .. MlSteps.All]);
        var services = new StepServices().Add<IDataSource>(new DataSources([new LocalDataSource(Path.Combine(_root, "data"))]));
        _engine = new RunEngine(_backend, new RunEngineOptions
        {
            Executors = [new BuiltinExecutor(registry, services)],
            TaskCache = new StepCache(_backend.Store, _backend.Artifacts, registry.Catalog),
            WorkRoot = Path.Combine(_root, "work"),
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _backend.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task AnArrivedSnapshot_IsWhatTheRunValidatesAndTrainsOn_AndTheModelsLineageNamesItsHashAndVersion()
    {
        const int rows = 2345;
        var file = Path.Combine(_root, "data", "churn", "2026-11-23.csv");
        await using (var writer = new StreamWriter(file))
        {
            GenerateChurnDataStep.Write(writer, rows, seed: 11);
        }

        var etag = LocalDataSource.ETagOf(new FileInfo(file));
        var sha = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(file)));

        var state = await RunAsync(new { source = "file:churn/2026-11-23.csv", etag });

        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal(rows, state.Tasks["validate-data"].Result!.Outputs["rows"].GetInt32());
        Assert.Equal(sha, state.Tasks["ingest"].Result!.Outputs["sha256"].GetString());
        var registry = new ModelRegistry(_backend.Artifacts);
        var model = await registry.GetStageVersionAsync("churn", "staging", CancellationToken.None);
        Assert.NotNull(model);
        // The model's data is the ingested artifact, whose producer read the file with this hash and version.
        var ingestOut = state.Tasks["ingest"].Result!.Outputs["dataset"].GetString()!;
        await using var lineage = await _backend.Artifacts.OpenReadAsync(ingestOut[..(ingestOut.LastIndexOf('/') + 1)] + LineageRecord.FileName, CancellationToken.None);
        var record = await JsonSerializer.DeserializeAsync<LineageRecord>(lineage!, EngineJson.Options);
        var source = Assert.Single(record!.Inputs);
        Assert.Equal(("file:churn/2026-11-23.csv", sha, etag), (source.Path, source.Sha256, source.ETag));
    }

    [Fact]
    public async Task AMalformedUpload_FailsTheValidationGate_AndRegistersNothing()
    {
        await File.WriteAllTextAsync(Path.Combine(_root, "data", "churn", "bad.csv"),
            "customer_id,tenure_months,monthly_charges,total_charges,support_calls,plan,contract,age,churned\nc1,-4,x,,1,gold,forever,7,maybe\n");

        var state = await RunAsync(new { source = "file:churn/bad.csv" });

        Assert.Equal(RunStatus.Failed, state.Status);
        Assert.Equal(Core.Engine.TaskStatus.Failed, state.Tasks["validate-data"].Status);
        Assert.Contains("expectation(s) failed", state.Tasks["validate-data"].Message, StringComparison.Ordinal);
        Assert.NotEqual(Core.Engine.TaskStatus.Succeeded, state.Tasks["register-model"].Status);
        Assert.Empty(await new ModelRegistry(_backend.Artifacts).ListVersionsAsync("churn", CancellationToken.None));
    }

    private async Task<RunState> RunAsync(object parameters)
    {
        var path = RepoPaths.Of("samples", "churn", "arrival.yaml");
        var text = await File.ReadAllTextAsync(path);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var runId = await _engine.StartRunAsync(new StartRunRequest
        {
            Spec = PipelineLoader.LoadOrThrow(text, path),
            SpecText = text,
            Params = JsonSerializer.SerializeToElement(parameters).EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone()),
        }, cts.Token);
        return await new LocalWorker(_engine, new LocalWorkerOptions { Workers = 2 }).RunUntilCompleteAsync(runId, cts.Token);
    }
}
