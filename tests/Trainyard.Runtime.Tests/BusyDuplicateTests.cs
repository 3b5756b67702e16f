using Trainyard.Core.Engine;
using Trainyard.Execution.Builtins;
using Trainyard.Runtime.Contracts;
using Trainyard.Runtime.InMemory;
using static Trainyard.Testing.TestPipelines;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;
using Trainyard.Execution.Contracts;

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

    private sealed class ListLogs : Microsoft.Extensions.Logging.ILoggerFactory, Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Lines { get; } = [];

        public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider) { }

        public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => this;

        public void Dispose() { }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
            {
                Lines.Add($"{DateTime.UtcNow:HH:mm:ss.fff} {formatter(state, exception)}");
            }
        }
    }

    [Fact]
    public async Task DuplicatesOfALongRunningAttempt_AreNotPoison_AndTheTaskSucceeds()
    {
        var logs = new ListLogs();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var backend = new InMemoryBackend();
        var engine = new RunEngine(backend, new RunEngineOptions
        {
            WorkRoot = Path.Combine(Path.GetTempPath(), "ty-busy-" + Guid.NewGuid().ToString("N")),
            Executors = [new BuiltinExecutor(BuiltinStepRegistry.CreateStandard())],
            // A short claim renewed by heartbeats: duplicates see it live, then wait out the rest of it. (300 ms claims made
            // this flaky on a loaded machine: a heartbeat 200 ms late lets a copy take the attempt over, by design.)
            ClaimDuration = TimeSpan.FromSeconds(2),
            HeartbeatInterval = TimeSpan.FromMilliseconds(400),
            LoggerFactory = logs,
        });
        var runId = await engine.StartRunAsync(Request("busy", [Step("long", "sleep", new { duration = "5s" })]), cts.Token);

        // Three extra copies of the attempt's work message, as redeliveries or a re-sent outbox would make.
        var original = Assert.Single(await backend.Work.ReceiveAsync(1, TimeSpan.FromSeconds(30), cts.Token));
        await backend.Work.SendAsync([.. Enumerable.Range(0, 3).Select(i => new OutgoingMessage($"copy-{i}", original.Body))], cts.Token);
        await backend.Work.AbandonAsync(original, TimeSpan.Zero, cts.Token);

        var poison = new RecordingPoison();
        var worker = new LocalWorker(engine, new LocalWorkerOptions
        {
            Workers = 4, PoisonThreshold = 2, PoisonHandler = poison, // the original arrives with dequeue count 2 (received once above)
            MinIdleDelay = TimeSpan.FromMilliseconds(5), MaxIdleDelay = TimeSpan.FromMilliseconds(50), RunPollInterval = TimeSpan.FromMilliseconds(100),
            LoggerFactory = logs,
        });
        var state = await worker.RunUntilCompleteAsync(runId, cts.Token);

        Assert.True(poison.Reasons.Count == 0, string.Join('\n', poison.Reasons) + "\n" + string.Join('\n', logs.Lines));
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal((TaskStatus.Succeeded, 1), (state.Tasks["long"].Status, state.Tasks["long"].Attempt));
    }

    [Fact]
    public async Task DuplicateOfAnExecutedAttempt_PastThePoisonThreshold_IsDroppedNotQuarantined()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var backend = new InMemoryBackend();
        var engine = new RunEngine(backend, new RunEngineOptions
        {
            WorkRoot = Path.Combine(Path.GetTempPath(), "ty-settled-" + Guid.NewGuid().ToString("N")),
            Executors = [new BuiltinExecutor(BuiltinStepRegistry.CreateStandard())],
        });
        var runId = await engine.StartRunAsync(Request("settled", [Step("a", "echo", new { message = "hi" })]), cts.Token);
        var original = Assert.Single(await backend.Work.ReceiveAsync(1, TimeSpan.FromSeconds(30), cts.Token));
        await backend.Work.AbandonAsync(original, TimeSpan.Zero, cts.Token);
        var poison = new RecordingPoison();
        var options = new LocalWorkerOptions
        {
            PoisonThreshold = 2, PoisonHandler = poison, RecoverEvery = null,
            MinIdleDelay = TimeSpan.FromMilliseconds(5), MaxIdleDelay = TimeSpan.FromMilliseconds(20), RunPollInterval = TimeSpan.FromMilliseconds(50),
        };
        Assert.Equal(RunStatus.Succeeded, (await new LocalWorker(engine, options).RunUntilCompleteAsync(runId, cts.Token)).Status);

        // A late copy (a redelivery, a re-sent outbox) that has come back more often than the threshold allows.
        await backend.Work.SendAsync([new OutgoingMessage("late-copy", original.Body)], cts.Token);
        for (var i = 0; i < 3; i++)
        {
            await backend.Work.AbandonAsync(Assert.Single(await backend.Work.ReceiveAsync(1, TimeSpan.FromSeconds(30), cts.Token)), TimeSpan.Zero, cts.Token);
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        var worker = new LocalWorker(engine, options).RunAsync(stop.Token);
        while (await backend.Work.CountAsync(cts.Token) > 0)
        {
            await Task.Delay(10, cts.Token);
        }

        await stop.CancelAsync();
        await worker;
        Assert.True(poison.Reasons.Count == 0, string.Join('\n', poison.Reasons));
        Assert.Equal(RunStatus.Succeeded, (await engine.GetRunAsync(runId, cts.Token))!.Status);
    }
}
