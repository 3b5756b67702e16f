using System.Diagnostics;
using System.Text.Json;
using Trainyard.Compute.Batch;
using Trainyard.Storage.Azure;
using Trainyard.Testing;
using Trainyard.Testing.AzureDoubles;

namespace Trainyard.Cli.Tests;

/// <summary>
/// samples/churn-batch through the real `trainyard` process with its training steps "on Batch": the Batch REST double
/// (HTTPS on 127.0.0.1, trusted by the child through SSL_CERT_FILE) runs each task's command as a local process, with
/// resource and output files in Azurite, the same container the CLI's Azure Storage store keeps its artifacts in.
/// </summary>
[NeedsAzurite]
[Collection(AzuriteCliCollection.Name)]
public sealed class BatchEndToEndTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private readonly TrainyardProcesses _cli = new();
    private readonly string _hub = AzuriteFixture.NewTaskHub();
    private BatchRestDouble? _batch;
    private AzuriteBlobStore? _blobs;

    private string Store => $"azure:{azurite.ConnectionString};TaskHub={_hub}";

    public async Task InitializeAsync()
    {
        if (AzuriteFixture.SkipRequested)
        {
            return;
        }

        azurite.EnsureAvailable();
        _blobs = new AzuriteBlobStore(azurite.ConnectionString);
        using var start = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        _batch = await BatchRestDouble.StartAsync(_blobs, Path.Combine(_cli.WorkingDirectory, "nodes"), start.Token);
        var pem = _cli.WriteFile("batch-double.pem", _batch.Certificate.Certificate.ExportCertificatePem());
        _cli.Environment["SSL_CERT_FILE"] = pem;
        _cli.Environment["TRAINYARD_BATCH_ENDPOINT"] = _batch.Endpoint.ToString();
        _cli.Environment["TRAINYARD_BATCH_ARTIFACT_CONTAINER_URL"] = _blobs.ContainerUrl(_hub + "-artifacts").ToString();
        _cli.Environment["TRAINYARD_BATCH_POOL_PRICES"] = "gpu=0.526;cpu=0.096";
    }

    public async Task DisposeAsync()
    {
        // The double first: its task folders live in the CLI's scratch folder, which _cli deletes.
        if (_batch is not null)
        {
            await _batch.DisposeAsync();
        }

        _cli.Dispose();

        if (!AzuriteFixture.SkipRequested && azurite.ConnectionString.Length > 0)
        {
            await using var backend = new AzureBackend(AzureBackendOptions.Parse(Store));
            await backend.DeleteTaskHubAsync(CancellationToken.None);
        }
    }

    [AzuriteFact]
    public async Task ChurnBatchSample_TrainsOnTheBatchDouble_OutputsArriveInStorage_StatusShowsCost()
    {
        var clock = Stopwatch.StartNew();
        var result = await _cli.RunAsync(
            ["run", RepoPaths.Of("samples", "churn-batch", "pipeline.yaml"), "--store", Store, "--json", "--param", "rows=2000", "--param", "epochs=60"],
            TimeSpan.FromMinutes(4));
        var wall = clock.Elapsed;
        Assert.True(result.ExitCode == 0, result.ToString());
        using var report = JsonDocument.Parse(result.Stdout);
        var run = report.RootElement;
        var runId = run.GetProperty("runId").GetString()!;
        Assert.Equal("succeeded", run.GetProperty("status").GetString());

        // Three training tasks, one Batch task each, in one job for the run; the job is terminated once the run is over.
        var job = _batch!.FindJob(BatchIds.ForRun("ty", runId, "gpu"));
        Assert.NotNull(job);
        Assert.Equal(3, job.Tasks.Count);
        Assert.All(job.Tasks.Values, t => Assert.Equal("completed", t.State));
        Assert.Equal("completed", job.State);

        var trains = run.GetProperty("tasks").EnumerateArray().Where(t => t.GetProperty("step").GetString() == "train" && t.GetProperty("key").GetString() != "train").ToList();
        Assert.Equal(3, trains.Count);
        foreach (var task in trains)
        {
            var outputs = task.GetProperty("outputs");
            Assert.Equal("gpu", outputs.GetProperty("batch_pool").GetString());
            Assert.Equal(0, outputs.GetProperty("batch_exit_code").GetInt32());
            Assert.True(outputs.GetProperty("metrics").GetProperty("auc").GetDouble() > 0.5, task.ToString());
            Assert.True(task.GetProperty("costUsd").GetDouble() > 0, task.ToString());

            // The model the task wrote on its "node" arrived in the artifact container under the attempt's prefix.
            var model = task.GetProperty("artifacts").EnumerateArray().Single(a => a.GetProperty("name").GetString() == "model.json").GetProperty("path").GetString()!;
            await using var blob = await _blobs!.OpenReadAsync(_blobs.ContainerUrl(_hub + "-artifacts"), model, CancellationToken.None);
            Assert.NotNull(blob);
            using var doc = await JsonDocument.ParseAsync(blob!);
            Assert.Equal(doc.RootElement.GetProperty("features").GetArrayLength(), doc.RootElement.GetProperty("weights").GetArrayLength());
        }

        var expectedCost = trains.Sum(t => t.GetProperty("costUsd").GetDouble());
        Assert.Equal(expectedCost, run.GetProperty("estimatedCostUsd").GetDouble(), 6);
        var best = run.GetProperty("tasks").EnumerateArray().Single(t => t.GetProperty("key").GetString() == "select-best");
        Assert.StartsWith("logistic lr=", best.GetProperty("outputs").GetProperty("chosen").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, best.GetProperty("costUsd").ValueKind);

        var status = await _cli.RunAsync(["status", runId, "--store", Store]);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("estimated Batch cost: $", status.Stdout, StringComparison.Ordinal);
        var requests = _batch.Requests;
        Console.WriteLine($"churn-batch on the Batch double: {wall.TotalSeconds:0.0} s wall, {requests.Count} Batch requests for 3 tasks "
            + $"({requests.Count(r => r.Method == "GET" && r.Path.Contains("/tasks/", StringComparison.Ordinal) && !r.Path.Contains("/files/", StringComparison.Ordinal))} status polls)");
    }

    [AzuriteFact]
    public async Task TrainyardCancel_FromAnotherProcess_TerminatesTheRunningBatchTask()
    {
        var pipeline = _cli.WriteFile("long-train.yaml", """
            name: long-train
            steps:
              - id: train
                executor: batch
                resources: { pool: gpu }
                run:
                  command: [sleep, "300"]
            """);
        var run = _cli.Start(["run", pipeline, "--store", Store, "--json"]);
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        DoubleTask? task = null;
        while (task?.State != "running")
        {
            Assert.False(run.Process.HasExited, run.Stdout);
            await Task.Delay(100, limit.Token);
            task = _batch!.Jobs.SelectMany(j => j.Tasks.Values).FirstOrDefault();
        }

        var runs = await _cli.RunAsync(["runs", "--store", Store, "--json"]);
        var runId = JsonDocument.Parse(runs.Stdout).RootElement.EnumerateArray().Single().GetProperty("runId").GetString()!;
        var cancel = await _cli.RunAsync(["cancel", runId, "--store", Store]);
        Assert.True(cancel.ExitCode == 0, cancel.ToString());

        while (task.State != "completed")
        {
            await Task.Delay(100, limit.Token);
        }

        var result = await run.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal("cancelled", JsonDocument.Parse(result.Stdout).RootElement.GetProperty("status").GetString());
        Assert.Equal("completed", _batch!.FindJob(BatchIds.ForRun("ty", runId, "gpu"))!.State);
        Assert.Contains("TaskEnded", task.ToJsonForTest(), StringComparison.Ordinal);
    }

    [AzuriteFact]
    public async Task BatchStepWithoutBatchSettings_IsRefusedAtStart_NamingTheStepAndTheSetting()
    {
        var result = await _cli.RunAsync(
            ["run", RepoPaths.Of("samples", "churn-batch", "pipeline.yaml"), "--store", Store],
            env: new Dictionary<string, string> { ["TRAINYARD_BATCH_ENDPOINT"] = "" });
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("Step 'train'", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("TRAINYARD_BATCH_ENDPOINT", result.Stderr, StringComparison.Ordinal);
        Assert.Empty(_batch!.Requests);
    }
}
