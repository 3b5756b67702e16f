using System.Text.Json.Nodes;
using Trainyard.Core.Spec;
using Trainyard.Runtime;
using Trainyard.Execution.Builtins;
using Trainyard.Runtime.Contracts;
using Trainyard.Runtime.InMemory;
using Trainyard.Testing;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.FunctionApp.Tests;

public sealed class QueuePathTests
{
    [Fact]
    public async Task ManualRun_DrivenThroughAdvanceRunAndExecuteTask_Succeeds()
    {
        await using var app = await AppHarness.StartAsync();
        await app.PushAsync("""
            name: hello
            steps:
              - id: greet
                uses: echo
                with:
                  message: hi
            """);
        var (status, result) = await app.InvokeAsync("Api", Payloads.Http("POST", "pipelines/hello/runs", "{}"));
        Assert.Equal(200, status);
        var (resStatus, body) = Payloads.Res(result);
        Assert.Equal(201, resStatus);
        var runId = body["runId"]!.GetValue<string>();

        var run = await app.DriveAsync(runId, TimeSpan.FromSeconds(30));

        Assert.Equal("succeeded", run["status"]?.GetValue<string>());
    }

    [Fact]
    public async Task MillisecondBuiltins_RunInlineInTheApp_OnlyOtherStepsGoThroughExecuteTask()
    {
        await using var app = await AppHarness.StartAsync();
        await app.PushAsync("""
            name: mixed
            steps:
              - id: first
                uses: echo
                with: { message: one }
              - id: middle
                needs: [first]
                run: { command: [sh, -c, 'true'] }
              - id: last
                needs: [middle]
                uses: echo
                with: { message: two }
            """);
        var (status, result) = await app.InvokeAsync("Api", Payloads.Http("POST", "pipelines/mixed/runs", "{}"));
        Assert.Equal(200, status);
        var runId = Payloads.Res(result).Body["runId"]!.GetValue<string>();

        var run = await app.DriveAsync(runId, TimeSpan.FromSeconds(30));

        Assert.Equal("succeeded", run["status"]?.GetValue<string>());
        // echo is one of EngineFactory.InlineSteps: its attempts never became work messages.
        Assert.Equal(["middle"], app.ExecutedTasks);
        Assert.Empty((await app.Backend.Store.LoadAsync(runId, CancellationToken.None))!.PendingOutbox);
        Assert.Equal(0, await app.Backend.Work.CountAsync(CancellationToken.None));
    }

    [Fact]
    public async Task TimerSweep_DeliversAnOutboxItemADeadInstanceLeftPending()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 23, 10, 0, 30, TimeSpan.Zero));
        var backend = new InMemoryBackend(clock);
        await using var app = await AppHarness.StartAsync(backend, clock);
        const string Yaml = """
            name: stalled
            steps:
              - id: only
                run: { command: [sh, -c, 'true'] }
            """;
        await app.PushAsync(Yaml);

        // Another instance committed the run's start and died before sending its work message.
        var dead = new RunEngine(new NoWorkSendsBackend(backend), new RunEngineOptions
        {
            Time = clock,
            Executors = [new BuiltinExecutor(BuiltinStepRegistry.CreateStandard()), new Trainyard.Compute.Local.LocalProcessExecutor()],
        });
        await Assert.ThrowsAsync<IOException>(() => dead.StartRunAsync(
            new StartRunRequest { Spec = PipelineLoader.LoadOrThrow(Yaml, "stalled.yaml"), SpecText = Yaml, RunId = "stalled-run" }, CancellationToken.None));
        Assert.Equal(0, await backend.Work.CountAsync(CancellationToken.None));

        // The minute timer: the first sweep notes the pending item, the second delivers it.
        var (first, firstBody) = await app.InvokeAsync("OnSchedule", Payloads.Timer());
        var (second, secondBody) = await app.InvokeAsync("OnSchedule", Payloads.Timer());
        Assert.Equal((200, 200), (first, second));
        Assert.DoesNotContain("outbox", firstBody.ToJsonString(), StringComparison.Ordinal);
        Assert.Contains("delivered 1 outbox item(s)", secondBody.ToJsonString(), StringComparison.Ordinal);

        var run = await app.DriveAsync("stalled-run", TimeSpan.FromSeconds(30));
        Assert.Equal("succeeded", run["status"]?.GetValue<string>());
        Assert.Equal(["only"], app.ExecutedTasks);
    }
}
