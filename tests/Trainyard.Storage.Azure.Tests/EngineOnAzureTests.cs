using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Runtime;
using Trainyard.Runtime.Contracts;
using Trainyard.Testing;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.Storage.Azure.Tests;

/// <summary>The real engine and worker on Azurite: runs complete, poison messages are quarantined.</summary>
[NeedsAzurite]
[Collection(AzuriteCollection.Name)]
public sealed class EngineOnAzureTests(AzuriteFixture azurite) : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("trainyard-azure-engine-").FullName;

    private static CancellationTokenSource Limit() => new(TimeSpan.FromSeconds(90));

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [AzuriteFact]
    public async Task FanOutRun_CompletesOnAzure_WithEveryTaskExecutedOnce()
    {
        await using var hub = TestHub.Create(azurite);
        using var cts = Limit();
        var engine = new RunEngine(hub.Backend, new RunEngineOptions { WorkRoot = _work });
        var runId = await engine.StartRunAsync(TestPipelines.FanOutFanIn(40), cts.Token);

        var state = await new LocalWorker(engine, new LocalWorkerOptions { Workers = 8 }).RunUntilCompleteAsync(runId, cts.Token);

        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal(42, state.Tasks.Count);
        Assert.All(state.Tasks.Values, t => Assert.Equal(1, t.Attempt));
        var journal = await engine.ReadJournalAsync(runId, cts.Token);
        Assert.Equal(42, journal.OfType<TaskSucceeded>().Select(e => e.DispatchId).Distinct().Count());
    }

    [AzuriteFact]
    public async Task InlineFanOut_TwoEnginesOnOneHub_CompletesWithEveryTaskOnceAndNoOutboxLeft()
    {
        await using var hub = TestHub.Create(azurite);
        using var cts = Limit();
        var request = TestPipelines.FanOutFanIn(60);
        var first = new RunEngine(hub.Backend, new RunEngineOptions { WorkRoot = _work, InlineBuiltins = true });
        var second = new RunEngine(hub.Backend, new RunEngineOptions { WorkRoot = _work, InlineBuiltins = true });
        var runId = await first.StartRunAsync(request, cts.Token);
        second.RegisterSpec(request.Spec with { ContentHash = (await first.GetRunAsync(runId, cts.Token))!.PipelineHash });

        // The second engine's worker loads the run while the first runs its attempts inline: outbox rows removed by
        // one engine under the other's feet, commits from both, copies of inline attempts in the work queue.
        var states = await Task.WhenAll(
            new LocalWorker(first, new LocalWorkerOptions { Workers = 4 }).RunUntilCompleteAsync(runId, cts.Token),
            new LocalWorker(second, new LocalWorkerOptions { Workers = 4 }).RunUntilCompleteAsync(runId, cts.Token));

        Assert.All(states, s => Assert.Equal(RunStatus.Succeeded, s.Status));
        var state = (await first.GetRunAsync(runId, cts.Token))!;
        Assert.All(state.Tasks.Values, t => Assert.Equal((TaskStatus.Succeeded, 1), (t.Status, t.Attempt)));
        var journal = await first.ReadJournalAsync(runId, cts.Token);
        Assert.Equal(62, journal.OfType<TaskSucceeded>().Count());
        Assert.Equal(62, journal.OfType<TaskDispatched>().Select(d => d.DispatchId).Distinct().Count());
        var replayed = JournalReplay.Replay(request.Spec with { ContentHash = state.PipelineHash }, journal);
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(state, EngineJson.Options), System.Text.Json.JsonSerializer.Serialize(replayed, EngineJson.Options));
        Assert.Empty((await hub.Backend.Store.LoadAsync(runId, cts.Token))!.PendingOutbox);
    }

    [AzuriteFact]
    public async Task WorkMessageDeliveredTooOften_IsQuarantined_TaskFailsWithReason_RunProceedsPerOnFailure()
    {
        await using var hub = TestHub.Create(azurite);
        using var cts = Limit();
        var engine = new RunEngine(hub.Backend, new RunEngineOptions { WorkRoot = _work });
        var request = TestPipelines.Request("poison", [TestPipelines.Step("flaky", "echo") with { OnFailure = OnFailure.Continue }, TestPipelines.Step("fine", "echo")]);
        var runId = await engine.StartRunAsync(request, cts.Token);

        // Workers that die while running "flaky": it is delivered three times and never completed.
        LeasedMessage? fine = null;
        for (var deliveries = 0; deliveries < 3;)
        {
            foreach (var m in await hub.Backend.Work.ReceiveAsync(32, TimeSpan.FromSeconds(60), cts.Token))
            {
                if (m.Body.Contains("\"taskKey\":\"flaky\"", StringComparison.Ordinal))
                {
                    deliveries = m.DequeueCount;
                    await hub.Backend.Work.AbandonAsync(m, TimeSpan.Zero, cts.Token);
                }
                else
                {
                    fine = m;
                }
            }
        }

        await hub.Backend.Work.AbandonAsync(fine!, TimeSpan.Zero, cts.Token);
        await hub.Backend.Work.SendAsync([new OutgoingMessage("garbage", "{ this is not a work message")], cts.Token);

        var worker = new LocalWorker(engine, new LocalWorkerOptions { PoisonThreshold = 2, PoisonHandler = PoisonQueueHandler.For(engine) });
        var state = await worker.RunUntilCompleteAsync(runId, cts.Token);

        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal(TaskStatus.Succeeded, state.Tasks["fine"].Status);
        var flaky = state.Tasks["flaky"];
        Assert.Equal(TaskStatus.Failed, flaky.Status);
        Assert.Contains("quarantined after 4 deliveries", flaky.Message, StringComparison.Ordinal);

        var poisoned = await ReceiveAllAsync(hub.Backend.WorkPoison, 2, cts.Token);
        var parsed = poisoned.Select(m => PoisonQueueHandler.TryParse(m.Body)!).ToList();
        Assert.Contains(parsed, p => p.Reason.Contains("delivered 4 times", StringComparison.Ordinal) && p.Body.Contains("flaky", StringComparison.Ordinal) && p.Source == hub.Backend.Work.Name);
        Assert.Contains(parsed, p => p.Id == "garbage" && p.Reason.Contains("unreadable work message", StringComparison.Ordinal) && p.Body == "{ this is not a work message");
        Assert.Equal(0, await hub.Backend.Work.CountAsync(cts.Token));

        // Requeue puts the original back, unchanged.
        foreach (var m in poisoned)
        {
            await hub.Backend.WorkPoison.AbandonAsync(m, TimeSpan.Zero, cts.Token);
        }

        Assert.Equal(2, await PoisonQueueHandler.RequeueAsync(hub.Backend.WorkPoison, hub.Backend.Work, 10, TimeSpan.FromSeconds(30), cts.Token));
        var back = await ReceiveAllAsync(hub.Backend.Work, 2, cts.Token);
        Assert.Contains(back, m => m.Id == "garbage" && m.Body == "{ this is not a work message" && m.DequeueCount == 1);
        Assert.Equal(0, await hub.Backend.WorkPoison.CountAsync(cts.Token));
    }

    private static async Task<List<LeasedMessage>> ReceiveAllAsync(IMessageQueue queue, int count, CancellationToken ct)
    {
        var all = new List<LeasedMessage>();
        while (all.Count < count)
        {
            all.AddRange(await queue.ReceiveAsync(32, TimeSpan.FromSeconds(60), ct));
            await Task.Delay(50, ct);
        }

        return all;
    }
}
