using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Builtins;
using Trainyard.Runtime.Contracts;
using Trainyard.Runtime.InMemory;
using Trainyard.Storage.Sqlite;
using Trainyard.Testing;
using static Trainyard.Testing.TestPipelines;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;
using Trainyard.Execution.Contracts;

namespace Trainyard.Runtime.Tests;

/// <summary>End-to-end runs through RunEngine + LocalWorker with built-in steps, on every backend.</summary>
public abstract class EngineScenarioTests : IAsyncLifetime
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private readonly List<IBackend> _backends = [];

    protected string Dir { get; } = Path.Combine(Path.GetTempPath(), "trainyard-engine-tests", Guid.NewGuid().ToString("N"));

    internal CountingStep Counter { get; } = new();

    protected abstract IBackend OpenBackend();

    /// <summary>Every scenario runs twice: with attempts going through the work queue, and with built-in steps run inline.</summary>
    protected virtual bool Inline => false;

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(Dir);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var b in _backends)
        {
            await b.DisposeAsync();
        }

        if (Directory.Exists(Dir))
        {
            Directory.Delete(Dir, recursive: true);
        }
    }

    private IBackend Backend()
    {
        var b = OpenBackend();
        _backends.Add(b);
        return b;
    }

    internal RunEngine Engine(IBackend? backend = null, RunEngineOptions? options = null, params ITaskExecutor[] extra)
        => Engine(backend, options, null, extra);

    internal RunEngine Engine(IBackend? backend, RunEngineOptions? options, bool? inline, params ITaskExecutor[] extra)
    {
        var registry = new BuiltinStepRegistry([.. BuiltinStepRegistry.Standard, Counter, new FailOnceStep()]);
        var o = (options ?? new RunEngineOptions()) with
        {
            WorkRoot = Path.Combine(Dir, "work"),
            Executors = [new BuiltinExecutor(registry), .. extra],
            InlineBuiltins = inline ?? (Inline || options?.InlineBuiltins == true),
        };
        return new RunEngine(backend ?? Backend(), o);
    }

    private static LocalWorker Worker(RunEngine engine, int workers = 4)
        => new(engine, new LocalWorkerOptions { Workers = workers, MinIdleDelay = TimeSpan.FromMilliseconds(2), MaxIdleDelay = TimeSpan.FromMilliseconds(50), WorkLease = TimeSpan.FromSeconds(5), RunPollInterval = TimeSpan.FromMilliseconds(100) });

    private static async Task<RunState> RunAsync(RunEngine engine, StartRunRequest request, int workers = 4)
    {
        using var cts = new CancellationTokenSource(Limit);
        var runId = await engine.StartRunAsync(request, cts.Token);
        var state = await Worker(engine, workers).RunUntilCompleteAsync(runId, cts.Token);
        await AssertReplaysAsync(engine, request, state);
        return state;
    }

    /// <summary>The journal the engine wrote replays through the decider to the stored snapshot.</summary>
    private static async Task AssertReplaysAsync(RunEngine engine, StartRunRequest request, RunState state)
    {
        var journal = await engine.ReadJournalAsync(state.RunId, default);
        var replayed = JournalReplay.Replay(request.Spec with { ContentHash = state.PipelineHash }, journal);
        Assert.Equal(JsonSerializer.Serialize(state, EngineJson.Options), JsonSerializer.Serialize(replayed, EngineJson.Options));
    }

    [Fact]
    public async Task FanOutFanIn_EveryTaskRunsOnceAndJoinRunsLast()
    {
        var engine = Engine();
        var state = await RunAsync(engine, FanOutFanIn(20, "count"));
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal(22, state.Tasks.Count);
        Assert.All(state.Tasks.Values, t => Assert.Equal((TaskStatus.Succeeded, 1), (t.Status, t.Attempt)));
        Assert.Equal(20, Counter.Executions.Count);
        Assert.All(Counter.Executions.Values, n => Assert.Equal(1, n));
        // "Last" by the journal's order, not by timestamps: event times come from the workers that finished the tasks,
        // and concurrent workers' results may be applied in another order than their clocks read.
        var journal = await engine.ReadJournalAsync(state.RunId, default);
        var events = journal.ToList();
        var joinDispatched = events.FindIndex(e => e is TaskDispatched { TaskKey: "join" });
        var lastMidDone = events.FindLastIndex(e => e is TaskSucceeded d && d.TaskKey != "join" && state.Tasks[d.TaskKey].StepId.StartsWith('t'));
        Assert.True(joinDispatched > lastMidDone, $"join was dispatched at journal position {joinDispatched}, before a fan-out task's result at {lastMidDone}");
        Assert.Equal(22, journal.OfType<TaskSucceeded>().Count());
        Assert.Equal(RunStatus.Succeeded, Assert.Single(journal.OfType<RunCompleted>()).Status);
    }

    [Fact]
    public async Task Chain_RunsStepsInOrder()
    {
        var state = await RunAsync(Engine(), Chain(15), workers: 2);
        Assert.Equal(RunStatus.Succeeded, state.Status);
        for (var i = 1; i < 15; i++)
        {
            Assert.True(state.Tasks[$"s{i}"].StartedAt >= state.Tasks[$"s{i - 1}"].FinishedAt, $"s{i} started before s{i - 1} finished");
        }
    }

    [Fact]
    public async Task Retries_FailTwiceThenSucceed_OnThirdAttempt()
    {
        var retry = new RetryPolicy { MaxAttempts = 3, InitialInterval = TimeSpan.FromMilliseconds(30), Jitter = 0 };
        var request = Request("retry", [Step("a", "echo"), Step("flaky", "fail", new { times = 2 }, "a") with { Retry = retry }, Step("z", "echo", null, "flaky")]);
        var engine = Engine();
        var state = await RunAsync(engine, request);
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal(3, state.Tasks["flaky"].Attempt);
        var journal = await engine.ReadJournalAsync(state.RunId, default);
        var failures = journal.OfType<TaskFailed>().ToList();
        Assert.Equal(2, failures.Count);
        Assert.All(failures, f => Assert.Contains("attempt", f.Error, StringComparison.Ordinal));
        Assert.Equal(3, journal.OfType<TaskDispatched>().Count(d => d.TaskKey == "flaky"));
    }

    [Fact]
    public async Task Retries_Exhausted_FailRunAndSkipDependents()
    {
        var retry = new RetryPolicy { MaxAttempts = 2, InitialInterval = TimeSpan.FromMilliseconds(20), Jitter = 0 };
        var request = Request("exhaust", [Step("bad", "fail", new { message = "boom" }) with { Retry = retry }, Step("after", "echo", null, "bad")]);
        var state = await RunAsync(Engine(), request);
        Assert.Equal(RunStatus.Failed, state.Status);
        Assert.Equal((TaskStatus.Failed, 2), (state.Tasks["bad"].Status, state.Tasks["bad"].Attempt));
        Assert.Contains("boom", state.Tasks["bad"].Message, StringComparison.Ordinal);
        Assert.NotEqual(TaskStatus.Succeeded, state.Tasks["after"].Status);
    }

    [Fact]
    public async Task BadInput_FailsAtOnceWithoutRetry_NamingTheInput()
    {
        var retry = new RetryPolicy { MaxAttempts = 5, InitialInterval = TimeSpan.FromMilliseconds(20), Jitter = 0 };
        var request = Request("badinput", [Step("w", "write-file", new { name = "out.txt" }) with { Retry = retry }]);
        var state = await RunAsync(Engine(), request);
        Assert.Equal(RunStatus.Failed, state.Status);
        Assert.Equal(1, state.Tasks["w"].Attempt);
        Assert.Contains("'content'", state.Tasks["w"].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Timeout_SleepLongerThanTimeout_FailsTheTaskQuickly()
    {
        var request = Request("timeout", [Step("slow", "sleep", new { duration = "30s" }) with { Timeout = TimeSpan.FromMilliseconds(300) }]);
        var started = DateTime.UtcNow;
        var engine = Engine();
        var state = await RunAsync(engine, request);
        Assert.Equal(RunStatus.Failed, state.Status);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15));
        Assert.Contains("timed out", state.Tasks["slow"].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancel_StopsARunningSleepAndCancelsTheRun()
    {
        var engine = Engine();
        using var cts = new CancellationTokenSource(Limit);
        var runId = await engine.StartRunAsync(Request("cancel", [Step("slow", "sleep", new { duration = "60s" }), Step("after", "echo", null, "slow")]), cts.Token);
        var worker = Worker(engine);
        var run = worker.RunUntilCompleteAsync(runId, cts.Token);
        while ((await engine.GetRunAsync(runId, cts.Token))!.Tasks["slow"].Status != TaskStatus.Dispatched)
        {
            await Task.Delay(10, cts.Token);
        }

        await Task.Delay(100, cts.Token);
        var started = DateTime.UtcNow;
        await engine.CancelRunAsync(runId, "test says stop", cts.Token);
        var state = await run;
        Assert.Equal(RunStatus.Cancelled, state.Status);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
        Assert.Equal(TaskStatus.Cancelled, state.Tasks["slow"].Status);
        Assert.Equal(0, await engine.Backend.Work.CountAsync(cts.Token));
    }

    [Fact]
    public async Task RetryRun_ReusesSucceededTasks_AndRerunsTheFailedOnes()
    {
        var engine = Engine();
        var request = Request("again", [Step("a", "count"), Step("b", "fail-until-marker", null, "a"), Step("c", "count", null, "b")]);
        var first = await RunAsync(engine, request);
        Assert.Equal(RunStatus.Failed, first.Status);
        Assert.Equal(1, Counter.ByTask["a"]);

        using var cts = new CancellationTokenSource(Limit);
        var retryId = await engine.RetryRunAsync(first.RunId, cts.Token);
        var second = await Worker(engine).RunUntilCompleteAsync(retryId, cts.Token);
        Assert.Equal(RunStatus.Succeeded, second.Status);
        Assert.Equal(first.RunId, second.RetryOf);
        Assert.Equal(1, Counter.ByTask["a"]);
        Assert.Equal(1, Counter.ByTask["c"]);
        var started = (await engine.ReadJournalAsync(retryId, cts.Token)).OfType<RunStarted>().Single();
        Assert.Equal(["a"], started.Reused.Keys);
        await Assert.ThrowsAsync<RunRequestException>(() => engine.RetryRunAsync(retryId, cts.Token));
    }

    [Fact]
    public async Task StartRun_SameRunIdTwice_ReturnsTheExistingRun()
    {
        var engine = Engine();
        var request = Request("idem", [Step("a", "count")], runId: "trigger-abc");
        Assert.Equal("trigger-abc", await engine.StartRunAsync(request, default));
        Assert.Equal("trigger-abc", await engine.StartRunAsync(request, default));
        var state = await Worker(engine).RunUntilCompleteAsync("trigger-abc", new CancellationTokenSource(Limit).Token);
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Single(Counter.Executions);
        Assert.Single((await engine.ReadJournalAsync("trigger-abc", default)).OfType<RunStarted>());
        Assert.Equal(4, (await engine.ReadJournalAsync("trigger-abc", default)).Count);
    }

    [Fact]
    public async Task StartRun_BadParams_FailWithPreciseErrorAndNothingStored()
    {
        var engine = Engine();
        var request = Request("params", [Step("a", "echo")], spec => spec with
        {
            Params = [new ParamSpec("epochs", ParamType.Integer) { Required = true }, new ParamSpec("rate", ParamType.Number) { Default = JsonSerializer.SerializeToElement(0.1) }],
        }) with
        {
            Params = new Dictionary<string, JsonElement> { ["rate"] = JsonSerializer.SerializeToElement("fast"), ["colour"] = JsonSerializer.SerializeToElement(1) },
        };
        var e = await Assert.ThrowsAsync<RunRequestException>(() => engine.StartRunAsync(request, default));
        Assert.Contains("'epochs'", e.Message, StringComparison.Ordinal);
        Assert.Contains("'rate' must be a number", e.Message, StringComparison.Ordinal);
        Assert.Contains("'colour' is not declared", e.Message, StringComparison.Ordinal);
        Assert.Empty(await engine.Backend.Store.ListRunsAsync(new RunQuery(), default));

        var ok = request with { Params = ParamResolver.ParseAssignments(request.Spec, ["epochs=3"]) };
        var runId = await engine.StartRunAsync(ok, default);
        var state = await engine.GetRunAsync(runId, default);
        Assert.Equal(3, state!.Params["epochs"].GetInt64());
        Assert.Equal(0.1, state.Params["rate"].GetDouble());
    }

    [Fact]
    public async Task HandleControl_UnknownRun_IsRejectedNotThrown()
    {
        var engine = Engine();
        var result = await engine.HandleControlAsync([new ControlMessage("ghost", new TimerFired("t") { EventId = "e1", At = DateTimeOffset.UtcNow })], default);
        Assert.Equal("ghost", Assert.Single(result.Rejected).RunId);
        Assert.Empty(result.Failed);
        Assert.False(RunEngine.TryParseControl("{not json", out _, out var error));
        Assert.Contains("ControlMessage", error, StringComparison.Ordinal);
        Assert.False(RunEngine.TryParseWork("{\"work\":null}", out _, out _));
    }

    [Fact]
    public async Task Worker_UnreadableMessages_AreDroppedAndTheRunStillCompletes()
    {
        var engine = Engine();
        await engine.Backend.Control.SendAsync([new OutgoingMessage("junk1", "not json at all")], default);
        await engine.Backend.Work.SendAsync([new OutgoingMessage("junk2", "{\"work\":{}}")], default);
        var state = await RunAsync(engine, FanOutFanIn(3));
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal(0, await engine.Backend.Control.CountAsync(default));
        Assert.Equal(0, await engine.Backend.Work.CountAsync(default));
    }

    [Fact]
    public async Task EchoLog_IsStoredUnderTheAttemptsOutputPrefix()
    {
        var engine = Engine();
        var state = await RunAsync(engine, Request("log", [Step("hello", "echo", new { message = "hi there" })]));
        var dispatch = state.Tasks["hello"].DispatchId!;
        await using var log = await engine.Backend.Artifacts.OpenReadAsync($"runs/{state.RunId}/hello/{dispatch}/log.txt", default);
        Assert.NotNull(log);
        Assert.Equal("hi there\n", await new StreamReader(log).ReadToEndAsync());
        Assert.Equal("hi there", state.Tasks["hello"].Result!.Outputs["message"].GetString());
    }

    [Fact]
    public async Task WriteFile_ProducesAnArtifactReference()
    {
        var engine = Engine();
        var state = await RunAsync(engine, Request("wf", [Step("w", "write-file", new { name = "hello.txt", content = "data" })]));
        var artifact = Assert.Single(state.Tasks["w"].Result!.Artifacts);
        Assert.Equal(4, artifact.Size);
        Assert.Equal((await engine.Backend.Artifacts.GetInfoAsync(artifact.Path, default))!.Sha256, artifact.Sha256);
    }

    [Fact]
    public async Task PendingOutcome_IsPolledUntilDone()
    {
        var poller = new PollingExecutor(3);
        var engine = Engine(extra: poller);
        var step = Step("remote", "echo") with { Executor = ExecutorKind.Batch };
        var state = await RunAsync(engine, Request("poll", [step]));
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal(4, poller.Calls);
        Assert.Equal(3, state.Tasks["remote"].Result!.Outputs["polls"].GetInt32());
    }

    [Fact]
    public async Task MissingExecutor_RefusesTheRunAtStart_NamingTheStepAndWhatToDo()
    {
        var engine = Engine(options: new RunEngineOptions { MissingExecutorHints = new Dictionary<ExecutorKind, string> { [ExecutorKind.Batch] = "set TRAINYARD_BATCH_ENDPOINT" } });
        var e = await Assert.ThrowsAsync<RunRequestException>(() => engine.StartRunAsync(Request("noexec", [Step("remote", "echo") with { Executor = ExecutorKind.Batch }], runId: "noexec-1"), default));
        Assert.Contains("Step 'remote'", e.Message, StringComparison.Ordinal);
        Assert.Contains("executor batch", e.Message, StringComparison.Ordinal);
        Assert.Contains("set TRAINYARD_BATCH_ENDPOINT", e.Message, StringComparison.Ordinal);
        Assert.Null(await engine.GetRunAsync("noexec-1", default));
    }

    [Fact]
    public async Task LongTimer_IsChainedThroughShortQueueDelays()
    {
        var retry = new RetryPolicy { MaxAttempts = 2, InitialInterval = TimeSpan.FromMilliseconds(600), Jitter = 0 };
        var engine = Engine(options: new RunEngineOptions { MaxQueueDelay = TimeSpan.FromMilliseconds(100) });
        var started = DateTime.UtcNow;
        var state = await RunAsync(engine, Request("chain-timer", [Step("f", "fail", new { times = 1 }) with { Retry = retry }]));
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(550), "the retry fired before its timer");
    }

    [Fact]
    public async Task DeliveryFailureAfterCommit_IsRepairedFromTheOutbox()
    {
        // Attempts go through the work queue here (inline attempts send nothing to it; see the Inline_ tests).
        var flaky = new FlakyBackend(Backend(), failSends: [2, 3]);
        var engine = Engine(flaky, null, inline: false);
        var state = await RunAsync(engine, FanOutFanIn(5, "count"));
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal(2, flaky.Failures);
        Assert.All(Counter.Executions.Values, n => Assert.Equal(1, n));
        Assert.Empty((await flaky.Store.LoadAsync(state.RunId, default))!.PendingOutbox);
    }

    [Fact]
    public async Task RaiseEvent_SameEventIdAppliesOnce()
    {
        var engine = Engine();
        var runId = await engine.StartRunAsync(Request("raise", [Step("slow", "sleep", new { duration = "50ms" })]), default);
        var payload = JsonSerializer.SerializeToElement(new { ok = true });
        await engine.RaiseEventAsync(runId, "approval", payload, default, "approval-1");
        await engine.RaiseEventAsync(runId, "approval", payload, default, "approval-1");
        var state = await engine.GetRunAsync(runId, default);
        Assert.True(state!.RaisedEvents["approval"].GetProperty("ok").GetBoolean());
        Assert.Single((await engine.ReadJournalAsync(runId, default)).OfType<EventRaised>());
        await Assert.ThrowsAsync<RunRequestException>(() => engine.RaiseEventAsync("ghost", "x", payload, default));
    }

    /// <summary>Two workers, each with its own engine and backend connection, share one store.</summary>
    [Fact]
    public async Task SeveralWorkers_OnOneStore_ExecuteEachDispatchOnce()
    {
        var first = Engine(SharedBackend());
        var others = Enumerable.Range(0, 2).Select(_ => Engine(SharedBackend())).ToList();
        using var cts = new CancellationTokenSource(Limit);
        var request = FanOutFanIn(200, "count");
        var runId = await first.StartRunAsync(request, cts.Token);
        var hash = (await first.GetRunAsync(runId, cts.Token))!.PipelineHash;
        foreach (var e in others)
        {
            e.RegisterSpec(request.Spec with { ContentHash = hash });
        }

        var runs = new[] { first }.Concat(others).Select(e => Worker(e, 3).RunUntilCompleteAsync(runId, cts.Token)).ToList();
        RunState[] states;
        try
        {
            states = await Task.WhenAll(runs);
        }
        catch (OperationCanceledException)
        {
            var st = (await first.GetRunAsync(runId, default))!;
            var stored = (await first.Backend.Store.LoadAsync(runId, default))!;
            var open = string.Join(", ", st.Tasks.Values.Where(t => t.Status != TaskStatus.Succeeded).Select(t => $"{t.TaskKey}:{t.Status}:{t.DispatchId}"));
            throw new InvalidOperationException($"The run did not finish in time: status={st.Status} version={st.Version} pending={stored.PendingOutbox.Count} work={await first.Backend.Work.CountAsync(default)} control={await first.Backend.Control.CountAsync(default)} open=[{open}]");
        }
        Assert.All(states, s => Assert.Equal(RunStatus.Succeeded, s.Status));
        Assert.Equal(200, Counter.Executions.Count);
        Assert.All(Counter.Executions, kv => Assert.Equal(1, kv.Value));
        Assert.Equal(202, (await first.ReadJournalAsync(runId, cts.Token)).OfType<TaskSucceeded>().Count());
    }

    [Fact]
    public async Task AnotherProcess_LoadsTheSpecFromTheStore_AndFinishesTheRun()
    {
        const string yaml = """
            name: yaml-run
            params:
              who:
                type: string
                default: world
            steps:
              - id: hello
                uses: echo
                with:
                  message: "hello ${{ params.who }}"
              - id: items
                needs: [hello]
                foreach: [1, 2, 3]
                uses: echo
            """;
        var spec = PipelineLoader.LoadOrThrow(yaml, "yaml-run.yaml");
        var starter = Engine(SharedBackend());
        using var cts = new CancellationTokenSource(Limit);
        var runId = await starter.StartRunAsync(new StartRunRequest { Spec = spec, SpecText = yaml }, cts.Token);
        Assert.Equal(spec.ContentHash, (await starter.GetRunAsync(runId, cts.Token))!.PipelineHash);

        // A fresh engine has never seen the spec: it parses the stored version text.
        var other = Engine(SharedBackend());
        var state = await Worker(other).RunUntilCompleteAsync(runId, cts.Token);
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal("hello world", state.Tasks["hello"].Result!.Outputs["message"].GetString());
        Assert.Equal(3, state.Tasks.Keys.Count(k => k.StartsWith("items[", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Inline_RunsBuiltinStepsWithoutWorkerOrWorkQueue_AndLeavesNoOutbox()
    {
        var counting = new FlakyBackend(Backend(), failSends: []);
        var engine = Engine(counting, null, inline: true);
        var finished = new TaskCompletionSource<NotifyRunFinished>(TaskCreationOptions.RunContinuationsAsynchronously);
        engine.RunFinished += n => finished.TrySetResult(n);
        using var cts = new CancellationTokenSource(Limit);
        var request = FanOutFanIn(30, "count");
        var runId = await engine.StartRunAsync(request, cts.Token);

        // No LocalWorker: the engine runs the attempts itself and commits their results.
        Assert.Equal(RunStatus.Succeeded, (await finished.Task.WaitAsync(cts.Token)).Status);
        var state = (await engine.GetRunAsync(runId, cts.Token))!;
        Assert.All(state.Tasks.Values, t => Assert.Equal((TaskStatus.Succeeded, 1), (t.Status, t.Attempt)));
        Assert.Equal(0, counting.Sends);
        Assert.Equal(30, Counter.Executions.Count);
        Assert.All(Counter.Executions.Values, n => Assert.Equal(1, n));
        Assert.Empty((await counting.Store.LoadAsync(runId, cts.Token))!.PendingOutbox);
        Assert.Equal(32, (await engine.ReadJournalAsync(runId, cts.Token)).OfType<TaskSucceeded>().Count());
        await AssertReplaysAsync(engine, request, state);
    }

    [Fact]
    public async Task Inline_HostStopsMidTask_AttemptIsHandedToTheWorkQueueAndRunsUnderTheSameDispatchId()
    {
        var request = Request("inline-crash", [Step("a", "count"), Step("nap", "sleep", new { duration = "400ms" }, "a"), Step("z", "count", null, "nap")]);
        var first = Engine(FirstBackend(), new RunEngineOptions { ClaimDuration = TimeSpan.FromMilliseconds(300) }, inline: true);
        using var stop = new CancellationTokenSource();
        using var cts = new CancellationTokenSource(Limit);
        var runId = await first.StartRunAsync(request, stop.Token);
        while ((await first.GetRunAsync(runId, cts.Token))!.Tasks["nap"].Status is not (TaskStatus.Dispatched or TaskStatus.Running))
        {
            await Task.Delay(5, cts.Token);
        }

        // The host stops while `nap` runs inline: nothing is reported; the attempt is handed to the work queue (its claim
        // released), so it does not wait in the outbox for the run's next load.
        await stop.CancelAsync();
        Assert.True(await first.StopInlineAsync(TimeSpan.FromSeconds(10)));
        var napDispatch = (await first.GetRunAsync(runId, cts.Token))!.Tasks["nap"].DispatchId;
        Assert.Empty((await FirstBackend().Store.LoadAsync(runId, cts.Token))!.PendingOutbox);
        var handedOver = Assert.Single(await FirstBackend().Work.ReceiveAsync(32, TimeSpan.FromSeconds(1), cts.Token));
        Assert.Contains(napDispatch!, handedOver.Body, StringComparison.Ordinal);
        await FirstBackend().Work.AbandonAsync(handedOver, TimeSpan.Zero, cts.Token);

        // Another host runs the handed-over attempt from the work queue and finishes the run.
        var second = Engine(SharedBackend(), new RunEngineOptions { ClaimDuration = TimeSpan.FromMilliseconds(300) }, inline: false);
        second.RegisterSpec(request.Spec with { ContentHash = (await first.GetRunAsync(runId, cts.Token))!.PipelineHash });
        var state = await Worker(second).RunUntilCompleteAsync(runId, cts.Token);
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.Equal((1, napDispatch), (state.Tasks["nap"].Attempt, state.Tasks["nap"].DispatchId));
        Assert.All(Counter.ByTask.Values, n => Assert.Equal(1, n));
        var journal = await second.ReadJournalAsync(runId, cts.Token);
        Assert.Single(journal.OfType<TaskDispatched>(), d => d.TaskKey == "nap");
        Assert.Equal(3, journal.OfType<TaskSucceeded>().Count());
        Assert.Empty((await SharedBackend().Store.LoadAsync(runId, cts.Token))!.PendingOutbox);
        await AssertReplaysAsync(second, request, state);
    }

    [Fact]
    public async Task Inline_ALongStepRunByTheCommitter_DoesNotHoldBackOtherResultsOfTheRun()
    {
        // `nap` is the only attempt of its commit, so the run's committer runs it itself; meanwhile `remote` finishes on
        // a worker and `b` runs inline. b's result must be committed while nap still runs, not after it.
        var remote = Step("remote", "echo") with { Executor = ExecutorKind.Batch };
        var request = Request("inline-long", [Step("a", "count"), Step("nap", "sleep", new { duration = "2s" }, "a"), remote, Step("b", "count", null, "remote")]);
        var engine = Engine(null, null, inline: true, new PollingExecutor(2));
        using var cts = new CancellationTokenSource(Limit);
        var runId = await engine.StartRunAsync(request, cts.Token);
        var done = Worker(engine).RunUntilCompleteAsync(runId, cts.Token);
        RunState state;
        while ((state = (await engine.GetRunAsync(runId, cts.Token))!).Tasks["b"].Status != TaskStatus.Succeeded)
        {
            Assert.False(done.IsCompleted, "the run finished before b's result was seen");
            await Task.Delay(5, cts.Token);
        }

        Assert.True(state.Tasks["nap"].InFlight, $"b was committed only after nap ({state.Tasks["nap"].Status})");
        Assert.Equal(RunStatus.Succeeded, (await done).Status);
    }

    [Fact]
    public async Task Inline_ExpiredClaimOfAnAppliedAttempt_IsNotExecutedAgain()
    {
        var request = Request("inline-claim", [Step("a", "count"), Step("nap", "sleep", new { duration = "2s" }, "a")]);
        var engine = Engine(null, new RunEngineOptions { ClaimDuration = TimeSpan.FromMilliseconds(100) }, inline: true);
        using var cts = new CancellationTokenSource(Limit);
        var runId = await engine.StartRunAsync(request, cts.Token);
        RunState state;
        while ((state = (await engine.GetRunAsync(runId, cts.Token))!).Tasks["a"].Status != TaskStatus.Succeeded)
        {
            await Task.Delay(5, cts.Token);
        }

        // A copy of a's work message (say, delivered by another process before a's result commit) arrives after
        // a's claim expired: the run already holds the result, so the attempt is skipped, not run again.
        await Task.Delay(150, cts.Token);
        var a = state.Tasks["a"];
        var copy = new WorkMessage(new TaskWorkItem
        {
            RunId = runId, TaskKey = "a", StepId = "a", Attempt = a.Attempt, DispatchId = a.DispatchId!,
            PipelineName = state.PipelineName, PipelineHash = state.PipelineHash, Executor = ExecutorKind.Builtin, Uses = "count",
        });
        var result = await engine.ExecuteWorkAsync(copy, cts.Token);
        Assert.Equal(WorkResultKind.Skipped, result.Kind);
        Assert.Equal(1, Counter.ByTask["a"]);
        await engine.CancelRunAsync(runId, "test over", cts.Token);
    }

    [Fact]
    public async Task Inline_ResultCommitFails_ResultsGoThroughTheControlQueue()
    {
        var failing = new FailingCommitsBackend(Backend(), failCommits: [2, 3]);
        var engine = Engine(failing, null, inline: true);
        var request = FanOutFanIn(6, "count");
        var state = await RunAsync(engine, request);
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.True(failing.Failures >= 2, $"only {failing.Failures} commits failed");
        Assert.All(Counter.Executions.Values, n => Assert.Equal(1, n));
        Assert.Equal(8, (await engine.ReadJournalAsync(state.RunId, default)).OfType<TaskSucceeded>().Count());
        Assert.Empty((await failing.Store.LoadAsync(state.RunId, default))!.PendingOutbox);
    }

    [Fact]
    public async Task StalledOutbox_IsDeliveredByTheSweep_ButNotAnAttemptThatIsRunning()
    {
        // A host that dies between a commit and its delivery (or while running attempts inline) leaves outbox items that
        // no queue message will ever bring back. Simulated: the first host's work-queue sends fail after its commit.
        var backend = SharedBackend();
        var dead = Engine(new NoWorkSendsBackend(backend), null, inline: false);
        var request = Request("stalled", [Step("a", "count"), Step("b", "count", null, "a")]);
        using var cts = new CancellationTokenSource(Limit);
        await Assert.ThrowsAsync<IOException>(() => dead.StartRunAsync(request with { RunId = "stalled-1" }, cts.Token));
        Assert.Single((await backend.Store.LoadAsync("stalled-1", cts.Token))!.PendingOutbox);

        // A worker that is already running (so its recovery on start is past) picks it up through its periodic sweep:
        // the first sweep notes the item, the next delivers it.
        var live = Engine(backend, null, inline: Inline);
        live.RegisterSpec(request.Spec with { ContentHash = (await live.GetRunAsync("stalled-1", cts.Token))!.PipelineHash });
        var worker = new LocalWorker(live, new LocalWorkerOptions
        {
            RecoverOnStart = false,
            RecoverEvery = TimeSpan.FromMilliseconds(100),
            MinIdleDelay = TimeSpan.FromMilliseconds(2),
            MaxIdleDelay = TimeSpan.FromMilliseconds(50),
            RunPollInterval = TimeSpan.FromMilliseconds(50),
        });
        var state = await worker.RunUntilCompleteAsync("stalled-1", cts.Token);
        Assert.Equal(RunStatus.Succeeded, state.Status);
        Assert.All(Counter.ByTask.Values, n => Assert.Equal(1, n));

        // An attempt running inline in a live host keeps a live claim: sweeps leave its pending item alone.
        var host = Engine(backend, new RunEngineOptions { ClaimDuration = TimeSpan.FromSeconds(5) }, inline: true);
        var runId = await host.StartRunAsync(Request("busy", [Step("nap", "sleep", new { duration = "1500ms" })]), cts.Token);
        var napDispatch = (await host.GetRunAsync(runId, cts.Token))!.Tasks["nap"].DispatchId!;
        while (await host.LiveClaimAsync(napDispatch, cts.Token) is null)
        {
            await Task.Delay(10, cts.Token);
        }

        var first = await live.RecoverStalledAsync(new HashSet<string>(StringComparer.Ordinal), cts.Token);
        var second = await live.RecoverStalledAsync(first.Pending, cts.Token);
        Assert.Single(first.Pending);
        Assert.Equal((0, 0), (first.Delivered, second.Delivered));
        Assert.Equal(0, await backend.Work.CountAsync(cts.Token));
        while ((await host.GetRunAsync(runId, cts.Token))!.Status == RunStatus.Running)
        {
            await Task.Delay(20, cts.Token);
        }
    }

    [Fact]
    public async Task Purge_DeletesTheRunsDispatchClaims()
    {
        var engine = Engine();
        var state = await RunAsync(engine, FanOutFanIn(4, "count"));
        var dispatches = (await engine.ReadJournalAsync(state.RunId, default)).OfType<TaskDispatched>().Select(d => d.DispatchId).ToList();
        Assert.Equal(6, dispatches.Count);
        Assert.NotNull(await engine.Backend.Store.GetValueAsync("dispatch", dispatches[0], default));

        var purged = await RunPurger.PurgeAsync(engine.Backend, new PurgeOptions { FinishedBefore = DateTimeOffset.UtcNow.AddMinutes(1), Pause = TimeSpan.Zero }, null, TimeProvider.System, default);
        Assert.Equal(1, purged);
        Assert.Null(await engine.GetRunAsync(state.RunId, default));
        foreach (var id in dispatches)
        {
            Assert.Null(await engine.Backend.Store.GetValueAsync("dispatch", id, default));
        }
    }

    [Fact]
    public void SnapshotWriter_WritesExactlyWhatEngineJsonWrites_AcrossCommits()
    {
        var request = FanOutFanIn(5, "count");
        var spec = request.Spec with { ContentHash = "hash" };
        var at = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var decision = Decider.Decide(spec, null, new RunStarted { EventId = "r:start", At = at, RunId = "r", PipelineName = spec.Name, PipelineHash = "hash" });
        var state = decision.State;
        Assert.Equal(JsonSerializer.Serialize(state, EngineJson.Options), SnapshotWriter.Serialize(state));
        var dispatched = new Queue<DispatchTask>(decision.Commands.OfType<DispatchTask>());
        while (dispatched.TryDequeue(out var d))
        {
            var next = Decider.Decide(spec, state, new TaskSucceeded(d.Work.TaskKey, d.Work.DispatchId, new TaskResult()) { EventId = d.Work.DispatchId + ":result", At = at.AddSeconds(1) });
            state = next.State;
            foreach (var c in next.Commands.OfType<DispatchTask>())
            {
                dispatched.Enqueue(c);
            }

            // Unchanged task states are copied from the previous serialization; changed ones are written afresh.
            Assert.Equal(JsonSerializer.Serialize(state, EngineJson.Options), SnapshotWriter.Serialize(state));
        }

        Assert.Equal(RunStatus.Succeeded, state.Status);
    }

    [Fact]
    public void SnapshotWriter_WritesExactJson_WhenStatesOfARunArriveOutOfOrder()
    {
        // The writer copies entries from the last task map it wrote for the run; an older state (another engine's
        // commit, a reload) or a state of another run with the same task keys must never borrow stale entries.
        var request = FanOutFanIn(5, "count");
        var spec = request.Spec with { ContentHash = "hash" };
        var at = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var states = new List<RunState>();
        foreach (var runId in new[] { "r1", "r2" })
        {
            var decision = Decider.Decide(spec, null, new RunStarted { EventId = runId + ":start", At = at, RunId = runId, PipelineName = spec.Name, PipelineHash = "hash" });
            var state = decision.State;
            states.Add(state);
            var dispatched = new Queue<DispatchTask>(decision.Commands.OfType<DispatchTask>());
            while (dispatched.TryDequeue(out var d))
            {
                var next = Decider.Decide(spec, state, new TaskSucceeded(d.Work.TaskKey, d.Work.DispatchId, new TaskResult()) { EventId = d.Work.DispatchId + ":result", At = at.AddSeconds(1) });
                state = next.State;
                states.Add(state);
                foreach (var c in next.Commands.OfType<DispatchTask>())
                {
                    dispatched.Enqueue(c);
                }
            }
        }

        var shuffled = states.OrderBy(s => (s.Version * 7919) % 13).ThenBy(s => s.RunId, StringComparer.Ordinal).ToList();
        foreach (var s in shuffled.Concat(Enumerable.Reverse(states)))
        {
            // Same run id, other run's states: r1's id on r2's tasks (dispatch ids differ) must be written afresh.
            var foreign = s with { RunId = "r1" };
            Assert.Equal(JsonSerializer.Serialize(s, EngineJson.Options), SnapshotWriter.Serialize(s));
            Assert.Equal(JsonSerializer.Serialize(foreign, EngineJson.Options), SnapshotWriter.Serialize(foreign));
        }
    }

    /// <summary>A backend for another worker on the same storage: a new connection, or (in memory) the same instance.</summary>
    protected virtual IBackend SharedBackend() => Backend();

    /// <summary>The first backend opened, for backends that cannot be opened twice.</summary>
    protected IBackend FirstBackend() => _backends.Count > 0 ? _backends[0] : Backend();
}

public sealed class InMemoryEngineTests : EngineScenarioTests
{
    protected override IBackend OpenBackend() => new InMemoryBackend();

    protected override IBackend SharedBackend() => FirstBackend();
}

public sealed class SqliteEngineTests : EngineScenarioTests
{
    protected override IBackend OpenBackend() => SqliteBackend.Open(Path.Combine(Dir, "db", "trainyard.db"));
}

/// <summary>Wraps a backend; its work queue fails the first N sends (a crash between commit and delivery).</summary>
internal sealed class FlakyBackend(IBackend inner, int[] failSends) : IBackend
{
    private readonly FlakyQueue _work = new(inner.Work, failSends);

    public int Failures => _work.Failures;

    public int Sends => _work.Sends;

    public string Name => inner.Name;

    public IRunStore Store => inner.Store;

    public IMessageQueue Control => inner.Control;

    public IMessageQueue Work => _work;

    public IArtifactStore Artifacts => inner.Artifacts;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class FlakyQueue(IMessageQueue q, int[] fail) : IMessageQueue
    {
        private int _sends;
        private int _failures;

        public int Failures => _failures;

        public string Name => q.Name;

        public int Sends => _sends;

        public Task SendAsync(IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken)
        {
            if (fail.Contains(Interlocked.Increment(ref _sends)))
            {
                Interlocked.Increment(ref _failures);
                throw new IOException("simulated crash while sending");
            }

            return q.SendAsync(messages, cancellationToken);
        }

        public Task<IReadOnlyList<LeasedMessage>> ReceiveAsync(int max, TimeSpan lease, CancellationToken cancellationToken) => q.ReceiveAsync(max, lease, cancellationToken);

        public Task<LeasedMessage> RenewAsync(LeasedMessage message, TimeSpan lease, CancellationToken cancellationToken) => q.RenewAsync(message, lease, cancellationToken);

        public Task CompleteAsync(LeasedMessage message, CancellationToken cancellationToken) => q.CompleteAsync(message, cancellationToken);

        public Task AbandonAsync(LeasedMessage message, TimeSpan delay, CancellationToken cancellationToken) => q.AbandonAsync(message, delay, cancellationToken);

        public Task<int> CountAsync(CancellationToken cancellationToken) => q.CountAsync(cancellationToken);
    }
}

public sealed class InMemoryInlineEngineTests : EngineScenarioTests
{
    protected override bool Inline => true;

    protected override IBackend OpenBackend() => new InMemoryBackend();

    protected override IBackend SharedBackend() => FirstBackend();
}

public sealed class SqliteInlineEngineTests : EngineScenarioTests
{
    protected override bool Inline => true;

    protected override IBackend OpenBackend() => SqliteBackend.Open(Path.Combine(Dir, "db", "trainyard.db"));
}

/// <summary>A backend whose run store fails the given commits (1-based) with an I/O error, as a store outage would.</summary>
internal sealed class FailingCommitsBackend(IBackend inner, int[] failCommits) : IBackend
{
    private readonly FailingStore _store = new(inner.Store, failCommits);

    public int Failures => _store.Failures;

    public string Name => inner.Name;

    public IRunStore Store => _store;

    public IMessageQueue Control => inner.Control;

    public IMessageQueue Work => inner.Work;

    public IArtifactStore Artifacts => inner.Artifacts;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class FailingStore(IRunStore s, int[] fail) : IRunStore
    {
        private int _commits;
        private int _failures;

        public int Failures => _failures;

        public Task<string> CommitAsync(RunCommit commit, CancellationToken cancellationToken)
        {
            if (fail.Contains(Interlocked.Increment(ref _commits)))
            {
                Interlocked.Increment(ref _failures);
                throw new IOException("simulated store outage");
            }

            return s.CommitAsync(commit, cancellationToken);
        }

        public Task<StoredRun?> LoadAsync(string runId, CancellationToken cancellationToken) => s.LoadAsync(runId, cancellationToken);

        public Task MarkDeliveredAsync(string runId, IReadOnlyList<string> outboxIds, CancellationToken cancellationToken) => s.MarkDeliveredAsync(runId, outboxIds, cancellationToken);

        public Task<IReadOnlyList<JournalEntry>> ReadJournalAsync(string runId, CancellationToken cancellationToken) => s.ReadJournalAsync(runId, cancellationToken);

        public Task<IReadOnlyList<RunSummary>> ListRunsAsync(RunQuery query, CancellationToken cancellationToken) => s.ListRunsAsync(query, cancellationToken);

        public Task DeleteRunAsync(string runId, CancellationToken cancellationToken) => s.DeleteRunAsync(runId, cancellationToken);

        public Task SavePipelineAsync(PipelineVersion pipeline, CancellationToken cancellationToken) => s.SavePipelineAsync(pipeline, cancellationToken);

        public Task<PipelineVersion?> GetPipelineAsync(string contentHash, CancellationToken cancellationToken) => s.GetPipelineAsync(contentHash, cancellationToken);

        public Task<IReadOnlyList<PipelineVersion>> ListPipelinesAsync(string? name, CancellationToken cancellationToken) => s.ListPipelinesAsync(name, cancellationToken);

        public Task<KeyValueEntry?> GetValueAsync(string scope, string key, CancellationToken cancellationToken) => s.GetValueAsync(scope, key, cancellationToken);

        public Task<string?> TryPutValueAsync(string scope, string key, string value, string? expectedETag, CancellationToken cancellationToken)
            => s.TryPutValueAsync(scope, key, value, expectedETag, cancellationToken);

        public Task DeleteValuesAsync(string scope, IReadOnlyList<string> keys, CancellationToken cancellationToken) => s.DeleteValuesAsync(scope, keys, cancellationToken);
    }
}
