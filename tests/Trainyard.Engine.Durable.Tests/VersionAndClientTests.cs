using Microsoft.DurableTask.Client;
using Trainyard.Core.Engine;
using Trainyard.Testing;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Engine.Durable.Tests;

/// <summary>A run keeps the pipeline version it started with; and the DurableTaskClient over the in-process host.</summary>
public abstract class VersionAndClientScenarios
{
    private const string V1 = """
        name: pinned
        steps:
          - { id: build, uses: sleep, with: { duration: 1500ms } }
          - { id: test, uses: echo, needs: [build] }
        """;

    private const string V2 = """
        name: pinned
        steps:
          - { id: build, uses: echo }
          - { id: deploy, uses: echo, needs: [build] }
        """;

    private protected abstract Task<DurableHarness> StartAsync();

    [Fact]
    public async Task NewVersionPushedDuringARun_TheRunKeepsItsVersion()
    {
        await using var h = await StartAsync();
        var runId = await h.StartAsync(V1);
        await h.WaitForProgressAsync(runId, p => p.Running.Contains("build"));
        var v2 = h.Activities.Push(V2);
        var second = await h.StartVersionAsync("pinned", v2);

        var (_, first) = await h.WaitAsync(runId);
        var (_, next) = await h.WaitAsync(second);

        Assert.True(first.Status == RunStatus.Succeeded, first.Error);
        Assert.Equal(["build", "test"], first.State.Tasks.Keys);
        Assert.Equal(["build", "deploy"], next.State.Tasks.Keys);
        Assert.All(first.State.Tasks.Values, t => Assert.Equal(TaskStatus.Succeeded, t.Status));
    }

    [Fact]
    public async Task StoreReturningAnotherVersion_FailsTheRunSayingWhy()
    {
        await using var h = await StartAsync();
        var v1 = Trainyard.Core.Spec.PipelineLoader.Hash(V1);
        h.Activities.SaveUnderHash(v1, "pinned", V2);
        var (metadata, output) = await h.WaitAsync(await h.StartVersionAsync("pinned", v1));

        Assert.Equal(RunStatus.Failed, output.Status);
        Assert.Contains("a run only runs the version it started with", output.Error, StringComparison.Ordinal);
        Assert.Empty(h.Activities.Executions);
        Assert.Equal(RunStatus.Failed, metadata.ReadCustomStatusAs<RunProgress>()!.Status);
    }

    [Fact]
    public async Task UnknownVersion_FailsTheRunSayingWhatToDo()
    {
        await using var h = await StartAsync();
        var (_, output) = await h.WaitAsync(await h.StartVersionAsync("ghost", new string('a', 64)));

        Assert.Equal(RunStatus.Failed, output.Status);
        Assert.Contains("could not be loaded", output.Error, StringComparison.Ordinal);
        Assert.Contains("push that version again", output.Error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Client_ListsGetsTerminatesAndPurgesRuns()
    {
        await using var h = await StartAsync();
        var done = await h.StartAsync(Pipelines.Foreach(30), runId: "client-done-" + Guid.NewGuid().ToString("N")[..6]);
        var (doneMeta, _) = await h.WaitAsync(done);
        var running = await h.StartAsync(Pipelines.LongSleep, runId: "client-long-" + Guid.NewGuid().ToString("N")[..6]);
        await h.WaitForProgressAsync(running, p => p.Running.Contains("slow"));

        var got = await h.Client.GetInstanceAsync(done, getInputsAndOutputs: true);
        Assert.NotNull(got);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, got.RuntimeStatus);
        Assert.Equal(done, got.ReadInputAs<RunPipelineInput>()!.RunId);
        Assert.Equal(RunStatus.Succeeded, got.ReadOutputAs<RunPipelineOutput>()!.Status);
        Assert.Equal(33, got.ReadCustomStatusAs<RunProgress>()!.Total);
        Assert.True(doneMeta.CreatedAt <= doneMeta.LastUpdatedAt);

        var listed = new List<OrchestrationMetadata>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var m in h.Client.GetAllInstancesAsync(new OrchestrationQuery { InstanceIdPrefix = "client-" }).WithCancellation(timeout.Token))
        {
            listed.Add(m);
        }

        Assert.Equal([done, running], listed.Where(m => m.Name == DurableNames.RunPipeline).Select(m => m.InstanceId).Order(StringComparer.Ordinal));
        var chunk = Assert.Single(listed, m => m.Name == DurableNames.RunTaskChunk);
        Assert.StartsWith(done + ":chunk:", chunk.InstanceId, StringComparison.Ordinal);
        var runningOnly = new List<string>();
        await foreach (var m in h.Client.GetAllInstancesAsync(new OrchestrationQuery { Statuses = [OrchestrationRuntimeStatus.Running], InstanceIdPrefix = "client-" }).WithCancellation(timeout.Token))
        {
            runningOnly.Add(m.InstanceId);
        }

        Assert.Equal([running], runningOnly);

        await h.Client.TerminateInstanceAsync(running, "stop", timeout.Token);
        var terminated = await h.Client.WaitForInstanceCompletionAsync(running, timeout.Token);
        Assert.Equal(OrchestrationRuntimeStatus.Terminated, terminated.RuntimeStatus);

        // The finished run and its chunk sub-orchestrations go together.
        var purged = await h.Client.PurgeInstanceAsync(done, new PurgeInstanceOptions(Recursive: true), timeout.Token);
        Assert.True(purged.PurgedInstanceCount >= 2, $"purged {purged.PurgedInstanceCount}");
        Assert.Null(await h.Client.GetInstanceAsync(done, timeout.Token));
    }
}

/// <summary>On the in-memory task hub.</summary>
public sealed class MemoryVersionAndClientTests : VersionAndClientScenarios
{
    private protected override Task<DurableHarness> StartAsync() => DurableHarness.StartAsync(StoreKind.Memory, null);
}

/// <summary>On Azure Storage (Azurite).</summary>
[NeedsAzurite]
public sealed class AzuriteVersionAndClientTests(AzuriteFixture azurite) : VersionAndClientScenarios, IClassFixture<AzuriteFixture>
{
    private protected override Task<DurableHarness> StartAsync() => DurableHarness.StartAsync(StoreKind.Azurite, azurite);
}
