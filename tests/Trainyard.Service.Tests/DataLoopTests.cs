using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Core.Engine;
using Trainyard.Engine.Durable;
using Trainyard.Engine.Durable.Hosting;
using Trainyard.Execution;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Caching;
using Trainyard.Execution.Contracts;
using Trainyard.Execution.Data;
using Trainyard.Execution.Registry;
using Trainyard.Steps.Ml;
using Trainyard.Storage.Azure;
using Trainyard.Testing;
using Xunit.Abstractions;

namespace Trainyard.Service.Tests;

/// <summary>
/// The Function App's data loops on Azurite, wired as the app wires them (blob stores, blob data source, drift-signals
/// queue, the real RunPipeline orchestrator and DurableActivities on an Azure Storage task hub), driven through the
/// same trigger handlers the functions call: a CSV upload trains on exactly those rows; a drift signal retrains and
/// promotes; duplicates start nothing.
/// </summary>
public sealed class AzureDataLoop : IAsyncLifetime
{
    private readonly AzuriteFixture _azurite = new();
    private readonly string _work = Directory.CreateTempSubdirectory("ty-loop-").FullName;
    private TrainyardDurableHost? _host;

    public string Hub { get; } = AzuriteFixture.NewTaskHub();

    public string DataContainer => Hub + "-data";

    public BlobServiceClient Blobs { get; private set; } = null!;

    public QueueClient Signals { get; private set; } = null!;

    public AzureBlobStores Stores { get; private set; } = null!;

    public ServiceHandlers Handlers { get; private set; } = null!;

    public TrainyardDurableHost Host => _host ?? throw new InvalidOperationException("not started");

    public TriggerService Triggers => Handlers.Triggers(Host.Client);

    public async Task InitializeAsync()
    {
        await _azurite.InitializeAsync();
        var connection = _azurite.ConnectionString;
        Blobs = new BlobServiceClient(connection);
        await Blobs.CreateBlobContainerAsync(DataContainer);
        Signals = new QueueClient(connection, Hub + "-drift", QueueSignalSink.ClientOptions());
        Stores = new AzureBlobStores(Blobs, Hub);
        var steps = new BuiltinStepRegistry([.. BuiltinStepRegistry.Standard, .. MlSteps.All]);
        var services = new StepServices()
            .Add<IDataSource>(new DataSources([new BlobDataSource(Blobs, [DataContainer])]))
            .Add<ISignalSink>(new QueueSignalSink(Signals));
        var runner = new AttemptRunner(new AttemptRunnerOptions
        {
            Artifacts = Stores.Artifacts,
            Claims = Stores.Values,
            Executors = [new BuiltinExecutor(steps, services)],
            TaskCache = new StepCache(Stores.Values, Stores.Artifacts, steps.Catalog),
            WorkRoot = _work,
        });
        var registry = new PipelineRegistry(Stores.Pipelines, Stores.Values);
        Handlers = new ServiceHandlers(registry, Stores.Values, new TriggerOptions { Retention = null }, TimeProvider.System, NullLoggerFactory.Instance);
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        _host = await TrainyardDurableHost.StartAsync(
            new DurableHostOptions { Store = DurableStore.AzureStorage(connection, Hub) },
            new DurableActivities(runner, Stores.Pipelines, steps.Catalog), null, limit.Token);
        Registry = registry;
    }

    public PipelineRegistry Registry { get; private set; } = null!;

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.StopAndDeleteTaskHubAsync();
            await _host.DisposeAsync();
        }

        await Blobs.DeleteBlobContainerAsync(DataContainer);
        await Stores.DeleteAllAsync(CancellationToken.None);
        await Signals.DeleteIfExistsAsync();
        await _azurite.DisposeAsync();
        Directory.Delete(_work, recursive: true);
    }

    /// <summary>Pushes a sample with its blob paths and data prefix pointed at this fixture's data container.</summary>
    public async Task<string> PushSampleAsync(string relative)
    {
        var text = (await File.ReadAllTextAsync(RepoPaths.Of(relative.Split('/'))))
            .Replace("container: data\n", $"container: {DataContainer}\n", StringComparison.Ordinal)
            .Replace("\"file:churn/windows/\"", $"\"{Blobs.Uri.AbsoluteUri.TrimEnd('/')}/{DataContainer}/churn/windows/\"", StringComparison.Ordinal);
        var result = await Registry.RegisterAsync(text, relative, CancellationToken.None);
        Assert.True(result.Ok, string.Join("\n", result.Diagnostics));
        return result.Version!.Name;
    }

    /// <summary>Waits (bounded) for a run to finish and returns its output.</summary>
    public async Task<RunPipelineOutput> FinishedAsync(string runId, TimeSpan? timeout = null)
    {
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(3));
        var done = await Host.Client.WaitForInstanceCompletionAsync(runId, getInputsAndOutputs: true, limit.Token);
        return JsonSerializer.Deserialize<RunPipelineOutput>(done.SerializedOutput!, EngineJson.Options)!;
    }

    /// <summary>Uploads a generated churn snapshot of <paramref name="rows"/> rows; returns the bytes' sha256 and the blob.</summary>
    public async Task<(string Sha256, BlobArrival Arrival)> UploadChurnAsync(string path, int rows, int seed, double shift = 0)
    {
        var text = new StringWriter();
        GenerateChurnDataStep.Write(text, rows, seed, shift);
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        var blob = Blobs.GetBlobContainerClient(DataContainer).GetBlobClient(path);
        var etag = (await blob.UploadAsync(new BinaryData(bytes), overwrite: true)).Value.ETag.ToString().Trim('"');
        return (Convert.ToHexStringLower(SHA256.HashData(bytes)), new BlobArrival(DataContainer, path, etag, blob.Uri.AbsoluteUri, bytes.Length));
    }
}

[Collection(nameof(DataLoopTests))]
public sealed class DataLoopTests(AzureDataLoop loop, ITestOutputHelper log) : IClassFixture<AzureDataLoop>
{
    [AzuriteFact]
    public async Task ACsvLandingInTheDataContainer_TrainsOnExactlyThoseRows_AndTheModelsLineageNamesTheBlobsHashAndETag()
    {
        await loop.PushSampleAsync("samples/churn/arrival.yaml");
        const int rows = 2222;
        var clock = Stopwatch.StartNew();
        var (sha, arrival) = await loop.UploadChurnAsync("churn/2026-11-23.csv", rows, seed: 3);

        var first = await loop.Triggers.OnBlobAsync(arrival, CancellationToken.None);
        var again = await loop.Triggers.OnBlobAsync(arrival, CancellationToken.None); // Event Grid delivers twice
        var output = await loop.FinishedAsync(Assert.Single(first.Runs));
        var wall = clock.Elapsed;

        Assert.Equal(first.Runs, again.Runs);
        Assert.True(output.Status == RunStatus.Succeeded, output.Error);
        Assert.Equal(rows, output.State.Tasks["validate-data"].Result!.Outputs["rows"].GetInt32());
        var model = await new ModelRegistry(loop.Stores.Artifacts).GetStageVersionAsync("churn", "staging", CancellationToken.None);
        Assert.NotNull(model);
        var dataset = output.State.Tasks["ingest"].Result!.Outputs["dataset"].GetString()!;
        await using var lineage = await loop.Stores.Artifacts.OpenReadAsync(dataset[..(dataset.LastIndexOf('/') + 1)] + LineageRecord.FileName, CancellationToken.None);
        var source = Assert.Single(JsonSerializer.Deserialize<LineageRecord>(lineage!, EngineJson.Options)!.Inputs);
        Assert.Equal(arrival.Uri, source.Path);
        Assert.Equal(sha, source.Sha256);
        Assert.Equal(arrival.ETag, source.ETag!.Trim('"'));
        log.WriteLine($"upload -> registered model: {wall.TotalSeconds:F1} s ({rows} rows, run {first.Runs[0]})");
    }

    [AzuriteFact]
    public async Task AMalformedUpload_FailsValidation_AndRegistersNothing()
    {
        await loop.PushSampleAsync("samples/churn/arrival.yaml");
        var blob = loop.Blobs.GetBlobContainerClient(loop.DataContainer).GetBlobClient("churn/2026-11-24.csv");
        var etag = (await blob.UploadAsync(new BinaryData("customer_id,tenure_months\nc1,-3\n"), overwrite: true)).Value.ETag.ToString().Trim('"');

        var report = await loop.Triggers.OnBlobAsync(new BlobArrival(loop.DataContainer, "churn/2026-11-24.csv", etag, blob.Uri.AbsoluteUri, 30), CancellationToken.None);
        var output = await loop.FinishedAsync(Assert.Single(report.Runs));

        Assert.Equal(RunStatus.Failed, output.Status);
        Assert.Equal(Core.Engine.TaskStatus.Failed, output.State.Tasks["validate-data"].Status);
        Assert.NotEqual(Core.Engine.TaskStatus.Succeeded, output.State.Tasks["register-model"].Status);
    }

    [AzuriteFact]
    public async Task TheClosedDriftLoop_ADriftedWindowRetrainsAndPromotes_AndASecondSignalInTheCooldownStartsNothing()
    {
        var monitor = await loop.PushSampleAsync("samples/drift-loop/monitor.yaml");
        await loop.PushSampleAsync("samples/drift-loop/retrain.yaml");
        await loop.UploadChurnAsync("churn/windows/2026-11-22.csv", 3000, seed: 7, shift: 0.8);
        var start = await loop.Handlers.Api(loop.Host.Client).HandleAsync(new ApiRequest(
            "POST", $"pipelines/{monitor}/runs", new Dictionary<string, string>(), new Dictionary<string, string>(), """{"params":{"window":"2026-11-22"}}"""), CancellationToken.None);
        Assert.Equal(201, start.StatusCode);
        var monitored = await loop.FinishedAsync(start.Body["runId"]!.GetValue<string>());
        Assert.True(monitored.Status == RunStatus.Succeeded, monitored.Error);
        Assert.True(monitored.State.Tasks["drift"].Result!.Outputs["drifted"].GetBoolean());

        // What the OnDriftSignal function does with each queue message.
        var messages = (await loop.Signals.ReceiveMessagesAsync(32)).Value;
        Assert.NotEmpty(messages);
        var clock = Stopwatch.StartNew();
        var started = new List<string>();
        foreach (var m in messages)
        {
            started.AddRange((await loop.Triggers.OnDriftAsync(DriftSignalReader.ReadQueue(m.Body.ToString(), m.MessageId), CancellationToken.None)).Runs);
        }

        var retrainRun = Assert.Single(started.Distinct()); // one run per window: the cooldown holds the other features' signals
        var retrained = await loop.FinishedAsync(retrainRun);
        var wall = clock.Elapsed;
        Assert.True(retrained.Status == RunStatus.Succeeded, retrained.Error);
        Assert.Equal("2026-11-22", retrained.State.Params["window"].GetString());
        var production = await new ModelRegistry(loop.Stores.Artifacts).GetStageVersionAsync("churn", "production", CancellationToken.None);
        Assert.NotNull(production);
        Assert.Equal(retrained.State.Tasks["register-model"].Result!.Outputs["version"].GetInt32(), production.Version);

        var repeat = await loop.Triggers.OnDriftAsync(DriftSignalReader.ReadQueue(messages[0].Body.ToString(), messages[0].MessageId), CancellationToken.None);
        Assert.Empty(repeat.Runs.Except(started));
        log.WriteLine($"drift signal -> promoted model: {wall.TotalSeconds:F1} s ({messages.Length} signals, run {retrainRun})");
    }
}
