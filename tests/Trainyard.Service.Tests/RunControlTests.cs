using System.Text.Json;
using Microsoft.DurableTask.Client;
using Trainyard.Core.Engine;
using Trainyard.Engine.Durable;

namespace Trainyard.Service.Tests;

/// <summary>DurableRunControl against a real Durable Task client and worker.</summary>
public sealed class RunControlTests(DurableHost durable) : IClassFixture<DurableHost>
{
    private static readonly JsonElement Empty = JsonSerializer.SerializeToElement(new { });

    private static RunPipelineInput Request(string runId, string pipeline = "churn") => new()
    {
        RunId = runId,
        PipelineName = pipeline,
        PipelineHash = "sha-" + pipeline,
        Params = new Dictionary<string, JsonElement> { ["rows"] = JsonSerializer.SerializeToElement(10) },
        Trigger = new TriggerInfo("schedule", "nightly"),
    };

    private static string Id(string name) => $"{name}-{Guid.NewGuid():N}"[..(name.Length + 13)];

    [Fact]
    public async Task Start_SameIdFiveTimesConcurrently_StartsOneInstance()
    {
        var id = Id("dup");
        var results = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => durable.Runs.StartAsync(Request(id), CancellationToken.None)));

        Assert.Single(results, r => r.Created);
        Assert.All(results, r => Assert.Equal(id, r.RunId));
        var running = await durable.WaitRunningAsync(id);
        Assert.Contains("\"pipelineHash\":\"sha-churn\"", running.SerializedInput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_IdOfAFinishedRun_ChangesNothing()
    {
        var id = Id("done");
        Assert.True((await durable.Runs.StartAsync(Request(id), CancellationToken.None)).Created);
        await durable.WaitRunningAsync(id);
        await durable.Runs.RaiseEventAsync(id, "succeed", Empty, "e1", CancellationToken.None);
        var finished = await durable.WaitFinishedAsync(id);

        var again = await durable.Runs.StartAsync(Request(id) with { PipelineHash = "sha-other" }, CancellationToken.None);

        Assert.False(again.Created);
        var after = await durable.Client.GetInstanceAsync(id, getInputsAndOutputs: true);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, after!.RuntimeStatus);
        Assert.Equal(finished.CreatedAt, after.CreatedAt);
        Assert.Equal(RunStatuses.Succeeded, (await durable.Runs.GetAsync(id, CancellationToken.None))!.Status);
    }

    [Fact]
    public async Task Start_InvalidRunId_RefusedNamingTheField()
    {
        var ex = await Assert.ThrowsAsync<RunControlException>(() => durable.Runs.StartAsync(Request("a/b#c"), CancellationToken.None));
        Assert.Equal(RunControlError.Invalid, ex.Error);
        Assert.Equal("runId", ex.Field);
        Assert.Null(await durable.Client.GetInstanceAsync("a/b#c"));
    }

    [Fact]
    public async Task Get_RunningRun_ShowsPipelineTriggerAndProgress_UnknownIsNull()
    {
        var id = Id("get");
        await durable.Runs.StartAsync(Request(id, "fraud"), CancellationToken.None);
        await durable.WaitRunningAsync(id);

        var run = await durable.Runs.GetAsync(id, CancellationToken.None);

        Assert.NotNull(run);
        Assert.Equal(("fraud", "sha-fraud", RunStatuses.Running, "schedule"), (run.Pipeline, run.Version, run.Status, run.Trigger!.Kind));
        Assert.Equal(2, run.Progress!.Total);
        Assert.Null(await durable.Runs.GetAsync(Id("nobody"), CancellationToken.None));
    }

    [Fact]
    public async Task List_FiltersByPipelineAndStatus_NewestFirst()
    {
        var pipeline = Id("list");
        var first = Id("l1");
        var second = Id("l2");
        await durable.Runs.StartAsync(Request(first, pipeline), CancellationToken.None);
        await durable.WaitRunningAsync(first);
        await durable.Runs.StartAsync(Request(second, pipeline), CancellationToken.None);
        await durable.WaitRunningAsync(second);
        await durable.Runs.RaiseEventAsync(first, "fail", Empty, "e1", CancellationToken.None);
        await durable.WaitFinishedAsync(first);

        var all = await durable.Runs.ListAsync(new RunListQuery { Pipeline = pipeline }, CancellationToken.None);
        var failed = await durable.Runs.ListAsync(new RunListQuery { Pipeline = pipeline, Status = RunStatuses.Failed }, CancellationToken.None);
        var running = await durable.Runs.ListAsync(new RunListQuery { Pipeline = pipeline, Status = RunStatuses.Running }, CancellationToken.None);

        Assert.Equal([second, first], all.Select(r => r.RunId));
        Assert.Equal([first], failed.Select(r => r.RunId));
        Assert.Equal("task b failed", failed[0].Error);
        Assert.Equal([second], running.Select(r => r.RunId));
        var bad = await Assert.ThrowsAsync<RunControlException>(() => durable.Runs.ListAsync(new RunListQuery { Status = "done" }, CancellationToken.None));
        Assert.Equal("status", bad.Field);
    }

    [Fact]
    public async Task Cancel_RunningRun_FinishesCancelled_ThenCancelAgainIsAConflict()
    {
        var id = Id("cancel");
        await durable.Runs.StartAsync(Request(id), CancellationToken.None);
        await durable.WaitRunningAsync(id);

        await durable.Runs.CancelAsync(id, "not needed", CancellationToken.None);
        await durable.WaitFinishedAsync(id);

        var run = await durable.Runs.GetAsync(id, CancellationToken.None);
        Assert.Equal((RunStatuses.Cancelled, "not needed"), (run!.Status, run.Error));
        var again = await Assert.ThrowsAsync<RunControlException>(() => durable.Runs.CancelAsync(id, "again", CancellationToken.None));
        Assert.Equal((RunControlError.Conflict, "run_finished"), (again.Error, again.Code));
        var unknown = await Assert.ThrowsAsync<RunControlException>(() => durable.Runs.CancelAsync(Id("nobody"), "x", CancellationToken.None));
        Assert.Equal((RunControlError.NotFound, "unknown_run"), (unknown.Error, unknown.Code));
    }

    [Fact]
    public async Task Retry_FailedRun_StartsOneRunReusingItsSucceededTasks()
    {
        var id = Id("retry");
        await durable.Runs.StartAsync(Request(id), CancellationToken.None);
        await durable.WaitRunningAsync(id);
        await durable.Runs.RaiseEventAsync(id, "fail", Empty, "e1", CancellationToken.None);
        await durable.WaitFinishedAsync(id);

        var retry = await durable.Runs.RetryAsync(id, CancellationToken.None);
        var twice = await durable.Runs.RetryAsync(id, CancellationToken.None);

        Assert.True(retry.Created);
        Assert.Equal(new RunStartResult(retry.RunId, false), twice);
        var started = await durable.WaitRunningAsync(retry.RunId);
        var input = JsonSerializer.Deserialize<RunPipelineInput>(started.SerializedInput!, EngineJson.Options)!;
        Assert.Equal((id, "retry", "sha-churn"), (input.RetryOf, input.Trigger.Kind, input.PipelineHash));
        Assert.Equal(["a"], input.Reused.Keys);
        Assert.Equal(10, input.Params["rows"].GetInt32());
        Assert.Equal(id, (await durable.Runs.GetAsync(retry.RunId, CancellationToken.None))!.RetryOf);
    }

    [Fact]
    public async Task Retry_RunningOrSucceededRun_IsAConflict()
    {
        var id = Id("noretry");
        await durable.Runs.StartAsync(Request(id), CancellationToken.None);
        await durable.WaitRunningAsync(id);

        var running = await Assert.ThrowsAsync<RunControlException>(() => durable.Runs.RetryAsync(id, CancellationToken.None));
        await durable.Runs.RaiseEventAsync(id, "succeed", Empty, "e1", CancellationToken.None);
        await durable.WaitFinishedAsync(id);
        var succeeded = await Assert.ThrowsAsync<RunControlException>(() => durable.Runs.RetryAsync(id, CancellationToken.None));

        Assert.Equal("run_not_retryable", running.Code);
        Assert.Contains("succeeded", succeeded.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RaiseEvent_SameEventIdTwice_AppliesOnce()
    {
        var id = Id("event");
        await durable.Runs.StartAsync(Request(id), CancellationToken.None);
        await durable.WaitRunningAsync(id);
        var payload = JsonSerializer.SerializeToElement(new { by = "ana" });

        await durable.Runs.RaiseEventAsync(id, "approve", payload, "k1", CancellationToken.None);
        await durable.Runs.RaiseEventAsync(id, "approve", payload, "k1", CancellationToken.None);
        await durable.Runs.RaiseEventAsync(id, "approve", payload, "k2", CancellationToken.None);

        var metadata = await durable.WaitAsync(id, m => m.SerializedCustomStatus?.Contains("ana", StringComparison.Ordinal) == true
            && JsonSerializer.Deserialize<RunProgress>(m.SerializedCustomStatus, EngineJson.Options)!.Waiting.Count == 2);
        var progress = JsonSerializer.Deserialize<RunProgress>(metadata.SerializedCustomStatus!, EngineJson.Options)!;
        Assert.Equal(["approve:{\"by\":\"ana\"}", "approve:{\"by\":\"ana\"}"], progress.Waiting);
    }

    [Fact]
    public async Task PurgeFinished_RemovesFinishedRunsCreatedBeforeTheCutoff_KeepsRunningOnes()
    {
        var done = Id("purge-done");
        var live = Id("purge-live");
        await durable.Runs.StartAsync(Request(done), CancellationToken.None);
        await durable.Runs.StartAsync(Request(live), CancellationToken.None);
        await durable.WaitRunningAsync(done);
        await durable.WaitRunningAsync(live);
        await durable.Runs.RaiseEventAsync(done, "succeed", Empty, "e1", CancellationToken.None);
        await durable.WaitFinishedAsync(done);

        var outcome = await durable.Runs.PurgeFinishedAsync(DateTimeOffset.UtcNow.AddSeconds(1), 5, TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.True(outcome.Complete);
        Assert.True(outcome.Purged >= 1);
        Assert.Null(await durable.Client.GetInstanceAsync(done));
        Assert.NotNull(await durable.Client.GetInstanceAsync(live));
    }
}
