using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json;
using Trainyard.Execution.Telemetry;
using Trainyard.Compute.Batch;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Compute.Batch.Tests;

public sealed class BatchExecutorTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Execute_CommandSucceeds_OutputsArtifactsLogsAndCostComeBack()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        var work = BatchHarness.Work("run-ok", "train", ["/bin/sh", "-c",
            "echo training on $AZ_BATCH_POOL_ID; echo warn >&2; sleep 0.3; echo model > $TRAINYARD_OUTPUT_DIR/model.bin; mkdir -p $TRAINYARD_OUTPUT_DIR/metrics; echo '{\"auc\": 0.91, \"greeting\": \"'\"$GREETING\"'\"}' > $TRAINYARD_OUTPUT_DIR/outputs.json; echo x > $TRAINYARD_OUTPUT_DIR/metrics/roc.csv"]);

        var outcome = await h.RunToEndAsync(work, cts.Token);

        var ok = Assert.IsType<TaskOutcome.Succeeded>(outcome);
        Assert.Equal(0.91, ok.Result.Outputs["auc"].GetDouble());
        Assert.Equal("hello $USER `x`", ok.Result.Outputs["greeting"].GetString());
        Assert.Equal(["metrics/roc.csv", "model.bin"], ok.Result.Artifacts.Select(a => a.Name).Order(StringComparer.Ordinal));
        var model = ok.Result.Artifacts.Single(a => a.Name == "model.bin");
        Assert.Equal(work.OutputPrefix + "model.bin", model.Path);
        await using (var stream = await h.Artifacts.OpenReadAsync(model.Path, cts.Token))
        {
            Assert.Equal("model\n", await new StreamReader(stream!).ReadToEndAsync(cts.Token));
        }

        // Priced at 3600 USD per node-hour = 1 USD per second, so the cost equals the node seconds.
        var seconds = ok.Result.Outputs[BatchCost.NodeSecondsOutput].GetDouble();
        Assert.True(seconds >= 0.3, $"node seconds {seconds}");
        Assert.InRange(ok.Result.Outputs[BatchCost.CostOutput].GetDouble() - seconds, -0.001, 0.001);
        Assert.Equal("gpu", ok.Result.Outputs[BatchExecutor.PoolOutput].GetString());
        Assert.Contains("training on gpu", h.Log);
        Assert.Contains("[stderr] warn", h.Log);
        // stdout/stderr are also kept in storage beside the outputs, not listed as artifacts.
        Assert.NotNull(await h.Artifacts.GetInfoAsync(work.OutputPrefix + BatchExecutor.LogFolder + "stdout.txt", cts.Token));
        // ...which is where the step log comes from: no request to the node's file API.
        Assert.DoesNotContain(h.Batch.Requests, r => r.Path.Contains("/files/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Execute_LogsNotUploaded_AreReadFromTheNode()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        var work = BatchHarness.Work("run-nolog", "train", ["/bin/sh", "-c", "echo from the node"]);
        var pending = Assert.IsType<TaskOutcome.Pending>(await h.Executor.ExecuteAsync(h.Context(work), cts.Token));
        await h.Batch.WaitForStateAsync(h.JobId("run-nolog"), BatchHarness.TaskId(work), "completed", cts.Token);
        await h.Blobs.DeleteAsync(h.Container, h.Options.ArtifactBlobPrefix + work.OutputPrefix + BatchExecutor.LogFolder + "stdout.txt", cts.Token);

        Assert.IsType<TaskOutcome.Succeeded>(await h.Executor.ExecuteAsync(h.Context(work, pending.State), cts.Token));

        Assert.Contains("from the node", h.Log);
        Assert.Contains(h.Batch.Requests, r => r.Method == "GET" && r.Path.EndsWith("/files/stdout.txt", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Execute_LongLog_OnlyItsEndReachesTheStepLog()
    {
        await using var h = await BatchHarness.StartAsync(o => o with { MaxLogBytes = 1000 });
        using var cts = new CancellationTokenSource(Limit);
        var work = BatchHarness.Work("run-chatty", "train", ["/bin/sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done"]);

        Assert.IsType<TaskOutcome.Succeeded>(await h.RunToEndAsync(work, cts.Token));

        Assert.Contains("line-2999", h.Log);
        Assert.DoesNotContain("line-0", h.Log);
        Assert.True(h.Log.Count(l => l.StartsWith("line-", StringComparison.Ordinal)) <= 1000 / 9 + 1, string.Join(",", h.Log.Take(3)));
    }

    [Fact]
    public async Task Execute_RedeliveredFirstCall_DoesNotStartASecondTask()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        var work = BatchHarness.Work("run-dup", "train", ["/bin/sh", "-c", "sleep 0.2"]);

        var first = await h.Executor.ExecuteAsync(h.Context(work), cts.Token);
        var again = await h.Executor.ExecuteAsync(h.Context(work), cts.Token);

        Assert.IsType<TaskOutcome.Pending>(first);
        Assert.IsType<TaskOutcome.Pending>(again);
        var job = h.Batch.FindJob(h.JobId("run-dup"))!;
        var task = Assert.Single(job.Tasks.Values);
        Assert.Contains(h.Log, l => l.Contains("already existed", StringComparison.Ordinal));
        await h.Batch.WaitForStateAsync(job.Id, task.Id, "completed", cts.Token);
        Assert.Equal(1, task.Starts);
    }

    [Fact]
    public async Task Execute_ConcurrentAndLaterTasksOfARun_ShareOneCreateJobCall()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        var outcomes = await Task.WhenAll(new[] { "a", "b" }.Select(step => h.RunToEndAsync(BatchHarness.Work("run-jobs", step, ["true"]), cts.Token)));
        Assert.All(outcomes, o => Assert.IsType<TaskOutcome.Succeeded>(o));
        Assert.IsType<TaskOutcome.Succeeded>(await h.RunToEndAsync(BatchHarness.Work("run-jobs", "c", ["true"]), cts.Token));

        Assert.Equal(1, h.Batch.Requests.Count(r => r.Method == "POST" && r.Path.EndsWith("/jobs", StringComparison.Ordinal)));
        Assert.Equal(3, h.Batch.FindJob(h.JobId("run-jobs"))!.Tasks.Count);
    }

    [Fact]
    public async Task Execute_RememberedJobWasDeleted_CreatesItAgainAndTheTaskRuns()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        Assert.IsType<TaskOutcome.Succeeded>(await h.RunToEndAsync(BatchHarness.Work("run-gone", "a", ["true"]), cts.Token));
        h.Batch.InjectFault(1, "POST", "/tasks", status: 404, code: "JobNotFound");

        Assert.IsType<TaskOutcome.Succeeded>(await h.RunToEndAsync(BatchHarness.Work("run-gone", "b", ["true"]), cts.Token));

        Assert.Equal(2, h.Batch.Requests.Count(r => r.Method == "POST" && r.Path.EndsWith("/jobs", StringComparison.Ordinal)));
        Assert.Equal(2, h.Batch.FindJob(h.JobId("run-gone"))!.Tasks.Count);
    }

    [Fact]
    public async Task Execute_NonZeroExit_FailsWithExitCodeBatchReasonAndStderr()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        var work = BatchHarness.Work("run-fail", "train", ["/bin/sh", "-c", "echo 'CUDA out of memory' >&2; exit 3"]);

        var outcome = await h.RunToEndAsync(work, cts.Token);

        var failed = Assert.IsType<TaskOutcome.Failed>(outcome);
        Assert.Equal(3, failed.ExitCode);
        Assert.True(failed.Retryable);
        Assert.Contains("exited with code 3", failed.Error, StringComparison.Ordinal);
        Assert.Contains("FailureExitCode", failed.Error, StringComparison.Ordinal);
        Assert.Contains("CUDA out of memory", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_RunsPastTimeout_BatchStopsItAndTheFailureSaysTimedOut()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        var work = BatchHarness.Work("run-slow", "train", ["sleep", "30"], timeout: TimeSpan.FromSeconds(1));

        var outcome = await h.RunToEndAsync(work, cts.Token);

        var failed = Assert.IsType<TaskOutcome.Failed>(outcome);
        Assert.Contains("timed out", failed.Error, StringComparison.Ordinal);
        var spec = h.Batch.FindJob(h.JobId("run-slow"))!.Tasks.Values.Single().Spec;
        Assert.Equal("PT1S", spec["constraints"]!["maxWallClockTime"]!.GetValue<string>());
        Assert.Equal(0, spec["constraints"]!["maxTaskRetryCount"]!.GetValue<int>());
    }

    [Fact]
    public async Task Execute_CallCancelled_LeavesTheBatchTaskRunning_BecauseTheHostMayOnlyBeStopping()
    {
        await using var h = await BatchHarness.StartAsync();
        using var limit = new CancellationTokenSource(Limit);
        var work = BatchHarness.Work("run-shutdown", "train", ["sleep", "60"]);
        var pending = Assert.IsType<TaskOutcome.Pending>(await h.Executor.ExecuteAsync(h.Context(work), limit.Token));
        var jobId = h.JobId("run-shutdown");
        var taskId = BatchHarness.TaskId(work);
        await h.Batch.WaitForStateAsync(jobId, taskId, "running", limit.Token);

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => h.Executor.ExecuteAsync(h.Context(work, pending.State), cancelled.Token));

        Assert.Equal("running", h.Batch.FindJob(jobId)!.Tasks[taskId].State);
        Assert.DoesNotContain(h.Batch.Requests, r => r.Path.EndsWith("/terminate", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CancelAttemptAsync_StopsARunningTask_AndIsIdempotent()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        var work = BatchHarness.Work("run-cancel2", "train", ["sleep", "60"]);
        var pending = Assert.IsType<TaskOutcome.Pending>(await h.Executor.ExecuteAsync(h.Context(work), cts.Token));
        var (jobId, taskId) = (h.JobId("run-cancel2"), BatchHarness.TaskId(work));
        await h.Batch.WaitForStateAsync(jobId, taskId, "running", cts.Token);

        await h.Executor.CancelAttemptAsync(work, cts.Token);
        await h.Batch.WaitForStateAsync(jobId, taskId, "completed", cts.Token);
        await h.Executor.CancelAttemptAsync(work, cts.Token);
        await h.Executor.CancelAttemptAsync(BatchHarness.Work("run-never-started", "train", ["true"]), cts.Token);

        Assert.Contains("TaskEnded", h.Batch.FindJob(jobId)!.Tasks[taskId].ToJsonForTest(), StringComparison.Ordinal);
        var failed = Assert.IsType<TaskOutcome.Failed>(await h.Executor.ExecuteAsync(h.Context(work, pending.State), cts.Token));
        Assert.NotEqual(0, failed.ExitCode);
    }

    [Fact]
    public async Task RunFinishedAsync_TerminatesTheJobAndTasksStillRunning_AndIsIdempotent()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        var slow = BatchHarness.Work("run-over", "train", ["sleep", "60"]);
        var quick = BatchHarness.Work("run-over", "prep", ["true"]);
        Assert.IsType<TaskOutcome.Succeeded>(await h.RunToEndAsync(quick, cts.Token));
        Assert.IsType<TaskOutcome.Pending>(await h.Executor.ExecuteAsync(h.Context(slow), cts.Token));
        var jobId = h.JobId("run-over");
        await h.Batch.WaitForStateAsync(jobId, BatchHarness.TaskId(slow), "running", cts.Token);

        var spec = new PipelineSpec
        {
            Name = "churn",
            Steps =
            [
                new StepSpec { Id = "prep", Executor = ExecutorKind.Batch, Run = new RunSpec { Command = ["true"] }, Resources = new ResourceSpec { Pool = "gpu" } },
                new StepSpec { Id = "train", Executor = ExecutorKind.Batch, Run = new RunSpec { Command = ["sleep", "60"] }, Resources = new ResourceSpec { Pool = "gpu" } },
                new StepSpec { Id = "report", Uses = "echo" },
            ],
        };
        await h.Executor.RunFinishedAsync("run-over", RunStatus.Cancelled, spec, cts.Token);
        await h.Batch.WaitForStateAsync(jobId, BatchHarness.TaskId(slow), "completed", cts.Token);
        Assert.Equal("completed", h.Batch.FindJob(jobId)!.State);
        await h.Executor.RunFinishedAsync("run-over", RunStatus.Cancelled, spec, cts.Token);
        await h.Executor.RunFinishedAsync("run-without-batch-job", RunStatus.Succeeded, spec, cts.Token);

        Assert.Equal(3, h.Batch.Requests.Count(r => r.Method == "POST" && r.Path.EndsWith("/terminate", StringComparison.Ordinal) && !r.Path.Contains("/tasks/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Execute_SpotPreemption_IsRecordedAndNotAFailedAttempt()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        var marker = Path.Combine(Path.GetTempPath(), "ty-preempt-" + Guid.NewGuid().ToString("N"));
        // First start: waits for the pre-emption; second start (after requeue) finishes quickly.
        var work = BatchHarness.Work("run-spot", "train", ["/bin/sh", "-c",
            $"if [ -e {marker} ]; then echo ok > $TRAINYARD_OUTPUT_DIR/done.txt; else touch {marker}; sleep 60; fi"]);
        var jobId = h.JobId("run-spot");
        var taskId = BatchHarness.TaskId(work);
        var preempted = false;

        var outcome = await h.RunToEndAsync(work, cts.Token, async (_, _) =>
        {
            if (!preempted && h.Batch.FindJob(jobId)?.Tasks.GetValueOrDefault(taskId)?.State == "running" && File.Exists(marker))
            {
                h.Batch.Preempt(jobId, taskId);
                preempted = true;
            }

            await Task.CompletedTask;
        });
        File.Delete(marker);

        var ok = Assert.IsType<TaskOutcome.Succeeded>(outcome);
        Assert.Equal(1, ok.Result.Outputs[BatchExecutor.RequeueOutput].GetInt32());
        Assert.Equal(2, h.Batch.FindJob(jobId)!.Tasks[taskId].Starts);
        Assert.Contains(h.Log, l => l.Contains("requeued", StringComparison.Ordinal) && l.Contains("not a failed attempt", StringComparison.Ordinal));
        Assert.Contains(ok.Result.Artifacts, a => a.Name == "done.txt");
    }

    [Fact]
    public async Task Execute_UpstreamArtifacts_AreStagedLikeTheLocalExecutor()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        var prep = "runs/run-in/prep/run-in:prep:1/";
        var info = await h.Artifacts.PutAsync(prep + "data/train.csv", new MemoryStream(Encoding.UTF8.GetBytes("a,b\n1,2\n")), cts.Token);
        var item = await h.Artifacts.PutAsync("runs/run-in/shard[1]/run-in:shard[1]:1/part.txt", new MemoryStream("p1"u8.ToArray()), cts.Token);
        var work = BatchHarness.Work("run-in", "train", ["/bin/sh", "-c", "cat in/prep/data/train.csv in/shard/1/part.txt > $TRAINYARD_OUTPUT_DIR/seen.txt"]) with
        {
            UpstreamArtifacts = new Dictionary<string, IReadOnlyList<ArtifactRef>>
            {
                ["prep"] = [new ArtifactRef("data/train.csv", info.Path, info.Sha256, info.Size)],
                ["shard"] = [new ArtifactRef("part.txt", item.Path, item.Sha256, item.Size)],
            },
        };

        var outcome = await h.RunToEndAsync(work, cts.Token);

        var ok = Assert.IsType<TaskOutcome.Succeeded>(outcome);
        await using var seen = await h.Artifacts.OpenReadAsync(ok.Result.Artifacts.Single(a => a.Name == "seen.txt").Path, cts.Token);
        Assert.Equal("a,b\n1,2\np1", await new StreamReader(seen!).ReadToEndAsync(cts.Token));
    }

    [Fact]
    public async Task Execute_NoPool_FailsWithoutCallingBatch()
    {
        await using var h = await BatchHarness.StartAsync(o => o with { DefaultPoolId = null });
        using var cts = new CancellationTokenSource(Limit);

        var outcome = await h.Executor.ExecuteAsync(h.Context(BatchHarness.Work("r", "s", ["true"], pool: null)), cts.Token);

        var failed = Assert.IsType<TaskOutcome.Failed>(outcome);
        Assert.False(failed.Retryable);
        Assert.Contains("resources.pool", failed.Error, StringComparison.Ordinal);
        Assert.Empty(h.Batch.Requests);
    }

    [Fact]
    public async Task Execute_BatchRefusesTask_FailsWithBatchCodeAndMessage()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        h.Batch.InjectFault(1, "POST", "/tasks", status: 403, code: "InsufficientPermissions");

        var outcome = await h.Executor.ExecuteAsync(h.Context(BatchHarness.Work("run-403", "s", ["true"])), cts.Token);

        var failed = Assert.IsType<TaskOutcome.Failed>(outcome);
        Assert.Contains("403 InsufficientPermissions", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BuildTaskSpec_CarriesIdentityImageEnvAndConstraints()
    {
        await using var h = await BatchHarness.StartAsync();
        var work = BatchHarness.Work("run-spec", "train", ["python", "train.py", "--lr", "0.1"], timeout: TimeSpan.FromMinutes(90), image: "myacr.azurecr.io/train:1");

        var spec = h.Executor.BuildTaskSpec(work, "t1");
        var json = JsonSerializer.Serialize(spec, new JsonSerializerOptions(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull });

        Assert.Equal("myacr.azurecr.io/train:1", spec.ContainerSettings!.ImageName);
        Assert.All(spec.OutputFiles!, o => Assert.Equal(h.Options.NodeIdentityResourceId, o.Destination.Container.IdentityReference!.ResourceId));
        Assert.Equal("tasksuccess", spec.OutputFiles![0].UploadOptions.UploadCondition);
        Assert.Equal("artifacts/" + work.OutputPrefix, spec.OutputFiles[0].Destination.Container.Path);
        Assert.Contains(spec.EnvironmentSettings!, e => e.Name == "TRAINYARD_DISPATCH_ID" && e.Value == work.DispatchId);
        Assert.Contains("\"maxWallClockTime\":\"PT1H30M\"", json, StringComparison.Ordinal);
        Assert.Contains("exec python train.py --lr 0.1", spec.CommandLine, StringComparison.Ordinal);
    }

    [Fact]
    public void PollDelay_GrowsFromSecondsToTheCap()
    {
        var executor = new BatchExecutor(
            new BatchOptions { AccountEndpoint = new Uri("https://a.b.batch.azure.com"), ArtifactContainerUrl = new Uri("https://s.blob.core.windows.net/c") },
            new BatchClient(new Uri("https://a.b.batch.azure.com"), new Trainyard.Testing.AzureDoubles.FixedTokenCredential()));

        var delays = Enumerable.Range(1, 20).Select(p => executor.PollDelay("d", p)).ToList();

        Assert.InRange(delays[0].TotalSeconds, 4.5, 5.5);
        Assert.True(delays[5] > delays[1]);
        Assert.All(delays, d => Assert.True(d <= TimeSpan.FromMinutes(2)));
        Assert.True(delays[^1] >= TimeSpan.FromSeconds(108));
        Assert.Equal(delays, Enumerable.Range(1, 20).Select(p => executor.PollDelay("d", p)));
    }

    [Fact]
    public async Task CompletedTask_RecordsCostMetric()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        double recorded = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == TrainyardTelemetry.Name && instrument.Name == "trainyard.batch.cost")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == TrainyardTelemetry.Tags.Pipeline && (string?)tag.Value == "churn")
                {
                    Interlocked.Exchange(ref recorded, value);
                }
            }
        });
        listener.Start();

        var outcome = await h.RunToEndAsync(BatchHarness.Work("run-metric", "train", ["sleep", "0.2"]), cts.Token);

        var ok = Assert.IsType<TaskOutcome.Succeeded>(outcome);
        Assert.True(recorded > 0);
        Assert.Equal(ok.Result.Outputs[BatchCost.CostOutput].GetDouble(), recorded, 6);
    }

    [Fact]
    public void OwnValue_CountsOnlyOutputsOfTheTasksOwnBatchTask()
    {
        Dictionary<string, JsonElement> Outputs(string dispatchId) => new()
        {
            [BatchCost.CostOutput] = JsonSerializer.SerializeToElement(0.25),
            [BatchCost.TaskIdOutput] = JsonSerializer.SerializeToElement(BatchIds.ForDispatch(dispatchId)),
        };

        Assert.Equal(0.25, BatchCost.OwnValue("r:train[0]:1", Outputs("r:train[0]:1"), BatchCost.CostOutput));
        Assert.Null(BatchCost.OwnValue("r:select-best:1", Outputs("r:train[0]:1"), BatchCost.CostOutput));
        Assert.Null(BatchCost.OwnValue("r:train[0]:1", Outputs("r:train[0]:1"), BatchCost.NodeSecondsOutput));
        Assert.Null(BatchCost.OwnValue(null, Outputs("r:train[0]:1"), BatchCost.CostOutput));
        Assert.Null(BatchCost.OwnValue("r:prep:1", new Dictionary<string, JsonElement> { ["auc"] = JsonSerializer.SerializeToElement(0.9) }, BatchCost.CostOutput));
    }

    [Fact]
    public void ParsePrices_ReadsTableAndRejectsBadEntries()
    {
        var prices = BatchOptions.ParsePrices("gpu=0.526; cpu=0.096");
        Assert.Equal(0.526, prices["GPU"]);
        var e = Assert.Throws<FormatException>(() => BatchOptions.ParsePrices("gpu:0.5"));
        Assert.Contains(BatchOptions.SettingNames.PoolPrices, e.Message, StringComparison.Ordinal);
    }
}
