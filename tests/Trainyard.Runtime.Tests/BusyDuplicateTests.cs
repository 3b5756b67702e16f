using Trainyard.Core.Engine;
using Trainyard.Runtime.Builtins;
using Trainyard.Runtime.Contracts;
using Trainyard.Runtime.InMemory;
using static Trainyard.Testing.TestPipelines;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Runtime.Tests;

/// <summary>
/// Duplicate copies of a work message whose attempt a live worker is executing come back "busy" delivery after
/// delivery; they must not reach the poison threshold and fail the task that is running.
/// </summary>
public sealed class BusyDuplicateTests
{
    private sealed class RecordingPoison : IPoisonHandler
    {
        public List<string> Reasons { get; } = [];

        public Task<bool> HandleAsync(IMessageQueue source, LeasedMessage message, string reason, CancellationToken cancellationToken)
        {
            lock (Reasons)
            {
                Reasons.Add(reason);
            }

            return Task.FromResult(true);
        }
    }

    [Fact]
    public async Task DuplicatesOfALongRunningAttempt_AreNotPoison_AndTheTaskSucceeds()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var backend = new InMemoryBackend();
        var engine = new RunEngine(backend, new RunEngineOptions
        {
            WorkRoot = Path.Combine(Path.GetTempPath(), "ty-busy-" + Guid.NewGuid().ToString("N")),
            Executors = [new BuiltinExecutor(BuiltinStepRegistry.CreateStandard())],
            // A short claim renewed by heartbeats: duplicates see it live, then wait out the rest of it.
            ClaimDuration = TimeSpan.FromMilliseconds(300),
            HeartbeatInterval = TimeSpan.FromMilliseconds(100),
        });
        var runId = await engine.StartRunAsync(Request("busy", [Step("long", "sleep", new { duration = "2s" })]), cts.Token);

        // Three extra copies of the attempt's work message, as redeliveries or a re-sent outbox would make.
        var original = Assert.Single(await backend.Work.ReceiveAsync(1, TimeSpan.FromSeconds(30), cts.Token));
        await backend.Work.SendAsync([.. Enumerable.Range(0, 3).Select(i => new OutgoingMessage($"copy-{i}", original.Body))], cts.Token);
        await backend.Work.AbandonAsync(original, TimeSpan.Zero, cts.Token);

        var poison = new RecordingPoison();
        var worker = new LocalWorker(engine, new LocalWorkerOptions
        {
            Workers = 4, PoisonThreshold = 2, PoisonHandler = poison, // the original arrives with dequeue count 2 (received once above)
            MinIdleDelay = TimeSpan.FromMilliseconds(5), MaxIdleDelay = TimeSpan.FromMilliseconds(50), RunPollInterval = TimeSpan.FromMilliseconds(100),
        });
        var state = await worker.RunUntilCompleteAsync(runId, cts.Token);

        Assert.True(poison.Reasons.Count == 0, string.Join('\n', poison.Reasons));
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal((TaskStatus.Succeeded, 1), (state.Tasks["long"].Status, state.Tasks["long"].Attempt));
    }
}
