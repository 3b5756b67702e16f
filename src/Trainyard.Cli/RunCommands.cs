using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Text;
using Trainyard.Runtime;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.Cli;

/// <summary>`trainyard run | runs | status | logs | cancel | resume | retry | worker`: running pipelines on the embedded store.</summary>
internal static class RunCommands
{
    /// <summary>Exit code: the run succeeded (or the command did what it was asked).</summary>
    public const int Ok = CliApp.Ok;

    /// <summary>Exit code: the run failed or was cancelled.</summary>
    public const int RunFailed = CliApp.RunFailed;

    /// <summary>Exit code: bad input (params, run id, options, unreadable file).</summary>
    public const int BadInput = CliApp.UsageError;

    /// <summary>Exit code: interrupted by Ctrl+C / SIGTERM; the run is left resumable.</summary>
    public const int Interrupted = CliApp.Interrupted;

    /// <summary>The commands of this group.</summary>
    public static IEnumerable<Command> Create() =>
        [RunCommand(), RunsCommand(), StatusCommand(), LogsCommand(), CancelCommand(), ResumeCommand(), RetryCommand(), WorkerCommand(), EventCommand()];

    internal static Option<string> StoreOption() => new("--store")
    {
        Description = "Folder of the embedded store (SQLite file, artifacts, work folders), or a durable task hub: azure:UseDevelopmentStorage=true[;TaskHub=name] (Azurite).",
        DefaultValueFactory = _ => CliStore.DefaultFolder,
    };

    private static Option<bool> JsonOption() => new("--json") { Description = "Print JSON for tools instead of text." };

    private static Option<int> WorkersOption(int defaultValue)
    {
        var option = new Option<int>("--workers", "-w")
        {
            Description = "Tasks executed at once by this process.",
            DefaultValueFactory = _ => defaultValue,
        };
        // Checked while parsing, so a bad value never starts a run it then cannot work on.
        option.Validators.Add(result =>
        {
            // The token is checked first: reading the value of a word such as "abc" throws instead of reporting.
            if (result.Tokens is [{ } token] && !int.TryParse(token.Value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out _))
            {
                result.AddError($"--workers '{Core.Text.Printable.Escape(token.Value)}' is not a whole number; give 1 to 256.");
            }
            else if (result.GetValueOrDefault<int>() is < 1 or > 256)
            {
                result.AddError("--workers must be between 1 and 256.");
            }
        });
        return option;
    }

    private static Option<string?> LeaseOption() => new("--lease")
    {
        Description = "How long a task's lease holds without renewal, e.g. 30s; a crashed process's tasks are taken over after it.",
    };

    private static Argument<string> RunIdArgument() => new("RUN") { Description = "Run id (see `trainyard runs`)." };

    private static Command RunCommand()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "Pipeline YAML file." };
        var param = new Option<string[]>("--param", "-p") { Description = "A run param as name=value (repeatable).", AllowMultipleArgumentsPerToken = false };
        var workers = WorkersOption(Math.Max(2, Environment.ProcessorCount));
        var json = JsonOption();
        var noCache = new Option<bool>("--no-cache") { Description = "Run every step even when a cached result exists." };
        var store = StoreOption();
        var lease = LeaseOption();
        var command = new Command("run", "Run a pipeline to completion on the embedded store, with live progress. Exit 0 on success, 1 on failure, 2 on bad input, 3 on an invalid pipeline file.");
        command.Arguments.Add(file);
        command.Options.Add(param);
        command.Options.Add(workers);
        command.Options.Add(json);
        command.Options.Add(noCache);
        command.Options.Add(store);
        command.Options.Add(lease);
        var engine = EngineOption("embedded (default: the local engine on .trainyard/) or durable (the Function App's RunPipeline orchestrator hosted in-process on the Durable Task Framework; --store memory, the default, or azure:UseDevelopmentStorage=true[;TaskHub=name], which implies it).");
        command.Options.Add(engine);
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, parse.GetValue(json));
            return await Guarded(output, async () =>
            {
                var path = parse.GetValue(file)!;
                var loaded = PipelineFiles.Load(path.FullName, output.Out, output.Err);

                var assignments = ParamResolver.ParseAssignments(loaded.Spec, parse.GetValue(param) ?? []);
                if (Durable(parse.GetValue(engine), parse.GetValue(store)!))
                {
                    var chosen = parse.GetValue(store)!;
                    return await DurableRun.RunAsync(loaded, assignments, chosen == CliStore.DefaultFolder ? "memory" : chosen, parse.GetValue(workers), parse.GetValue(noCache), output, ct);
                }

                await using var cli = await CliStore.OpenAsync(parse.GetValue(store)!, ParseLease(parse.GetValue(lease)), noCache: parse.GetValue(noCache), inlineSlots: parse.GetValue(workers));
                var runId = await cli.Engine.StartRunAsync(
                    new StartRunRequest { Spec = loaded.Spec, SpecText = loaded.Text, Params = assignments, Trigger = new TriggerInfo("manual") },
                    ct);
                output.Info($"run {runId} started ({loaded.Spec.Name}, {loaded.Spec.Steps.Count} steps); follow with `trainyard status {runId}`");
                return await RunToCompletion(cli, runId, parse.GetValue(workers), output, ct);
            });
        });
        return command;
    }

    private static Command RunsCommand()
    {
        var pipeline = new Option<string?>("--pipeline") { Description = "Only runs of this pipeline." };
        var status = new Option<string?>("--status") { Description = "Only runs with this status: running, succeeded, failed, cancelled." };
        var limit = new Option<int>("--limit", "-n") { Description = "At most this many runs, newest first.", DefaultValueFactory = _ => 20 };
        var json = JsonOption();
        var store = StoreOption();
        var command = new Command("runs", "List runs, newest first.");
        command.Options.Add(pipeline);
        command.Options.Add(status);
        command.Options.Add(limit);
        command.Options.Add(json);
        command.Options.Add(store);
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, parse.GetValue(json));
            return await Guarded(output, async () =>
            {
                var wanted = parse.GetValue(status);
                if (wanted is not null && !Enum.TryParse<RunStatus>(wanted, ignoreCase: true, out _))
                {
                    output.Error($"--status '{wanted}' is not a run status; use one of: running, succeeded, failed, cancelled.");
                    return BadInput;
                }

                if (parse.GetValue(limit) is < 1 or > 10_000)
                {
                    output.Error("--limit must be between 1 and 10000.");
                    return BadInput;
                }

                if (await DurableCommands.OnTaskHubAsync(parse.GetValue(store)!, hub => hub.ListAsync(parse.GetValue(pipeline), wanted, parse.GetValue(limit), output, ct), ct) is { } done)
                {
                    return done;
                }

                await using var cli = await CliStore.OpenAsync(parse.GetValue(store)!, lease: null, noCache: false);
                var runs = await cli.Backend.Store.ListRunsAsync(
                    new RunQuery { PipelineName = parse.GetValue(pipeline), Status = wanted?.ToLowerInvariant(), Limit = parse.GetValue(limit) },
                    ct);
                if (output.Json)
                {
                    output.WriteJson(runs.Select(r => new RunListItem(r.RunId, r.PipelineName, r.PipelineHash, r.Status, r.CreatedAt, r.UpdatedAt, r.FinishedAt, r.TriggerKind)));
                    return Ok;
                }

                if (runs.Count == 0)
                {
                    output.Info($"no runs in {cli.Folder}; start one with `trainyard run FILE`.");
                    return Ok;
                }

                var now = DateTimeOffset.UtcNow;
                output.WriteTable(
                    ["RUN", "PIPELINE", "STATUS", "STARTED", "DURATION", "TRIGGER"],
                    runs.Select(r => new[]
                    {
                        r.RunId, r.PipelineName, r.Status.ToLowerInvariant(),
                        r.CreatedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                        RunReport.FormatDuration((r.FinishedAt ?? now) - r.CreatedAt), r.TriggerKind ?? "",
                    }));
                return Ok;
            });
        });
        return command;
    }

    private static Command StatusCommand()
    {
        var run = RunIdArgument();
        var json = JsonOption();
        var store = StoreOption();
        var command = new Command("status", "Show a run: status, and each task's state, attempt, duration and error.");
        command.Arguments.Add(run);
        command.Options.Add(json);
        command.Options.Add(store);
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, parse.GetValue(json));
            return await Guarded(output, async () =>
            {
                if (await DurableCommands.OnTaskHubAsync(parse.GetValue(store)!, hub => hub.StatusAsync(parse.GetValue(run)!, output, ct), ct) is { } done)
                {
                    return done;
                }

                await using var cli = await CliStore.OpenAsync(parse.GetValue(store)!, lease: null, noCache: false);
                var state = await cli.FindRunAsync(parse.GetValue(run)!, output, ct);
                if (state is null)
                {
                    return BadInput;
                }

                PrintReport(output, state, includeLogHint: true);
                return Ok;
            });
        });
        return command;
    }

    private static Command LogsCommand()
    {
        var run = RunIdArgument();
        var task = new Argument<string?>("STEP") { Description = "Step id or task key (`step[2]`); all tasks when omitted.", Arity = ArgumentArity.ZeroOrOne };
        var attempt = new Option<int?>("--attempt") { Description = "Attempt number (default: the latest)." };
        var store = StoreOption();
        var command = new Command("logs", "Print task logs (stdout and stderr of local steps, messages of built-in steps).");
        command.Arguments.Add(run);
        command.Arguments.Add(task);
        command.Options.Add(attempt);
        command.Options.Add(store);
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, json: false);
            return await Guarded(output, async () =>
            {
                if (await DurableCommands.OnTaskHubAsync(parse.GetValue(store)!, hub => hub.LogsAsync(parse.GetValue(run)!, parse.GetValue(task), parse.GetValue(attempt), output, ct), ct) is { } done)
                {
                    return done;
                }

                await using var cli = await CliStore.OpenAsync(parse.GetValue(store)!, lease: null, noCache: false);
                var state = await cli.FindRunAsync(parse.GetValue(run)!, output, ct);
                if (state is null)
                {
                    return BadInput;
                }

                return await TaskLogs.PrintAsync(cli.Backend.Artifacts, state, parse.GetValue(task), parse.GetValue(attempt), output, ct);
            });
        });
        return command;
    }

    private static Command CancelCommand()
    {
        var run = RunIdArgument();
        var json = JsonOption();
        var store = StoreOption();
        var command = new Command("cancel", "Cancel a run: nothing new starts, tasks in flight are stopped.");
        command.Arguments.Add(run);
        command.Options.Add(json);
        command.Options.Add(store);
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, parse.GetValue(json));
            return await Guarded(output, async () =>
            {
                if (await DurableCommands.OnTaskHubAsync(parse.GetValue(store)!, hub => hub.CancelAsync(parse.GetValue(run)!, output, ct), ct) is { } done)
                {
                    return done;
                }

                await using var cli = await CliStore.OpenAsync(parse.GetValue(store)!, lease: null, noCache: false);
                var state = await cli.FindRunAsync(parse.GetValue(run)!, output, ct);
                if (state is null)
                {
                    return BadInput;
                }

                if (state.Status != RunStatus.Running)
                {
                    output.Info($"run {state.RunId} already finished: {RunReport.Lower(state.Status)}; nothing to cancel.");
                    PrintReport(output, state, includeLogHint: false);
                    return Ok;
                }

                var after = await cli.CancelAsync(state.RunId, "cancelled with `trainyard cancel`", ct);
                if (after.Status == RunStatus.Running)
                {
                    output.Info($"cancel of run {after.RunId} requested; tasks in flight stop when their worker sees it (`trainyard status {after.RunId}` shows when it has).");
                }

                PrintReport(output, after, includeLogHint: false);
                return Ok;
            });
        });
        return command;
    }

    private static Command ResumeCommand()
    {
        var run = RunIdArgument();
        var workers = WorkersOption(Math.Max(2, Environment.ProcessorCount));
        var json = JsonOption();
        var store = StoreOption();
        var lease = LeaseOption();
        var command = new Command("resume", "Continue a run whose process died: re-send what it had not sent, take over its tasks, and run it to completion.");
        command.Arguments.Add(run);
        command.Options.Add(workers);
        command.Options.Add(json);
        command.Options.Add(store);
        command.Options.Add(lease);
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, parse.GetValue(json));
            return await Guarded(output, async () =>
            {
                if (AzureStore.IsAzure(parse.GetValue(store)!))
                {
                    throw new CliInputException($"a run in a durable task hub needs no resume: it goes on whenever a process works the hub. Start one with " +
                        $"`trainyard worker --engine durable --store {parse.GetValue(store)}` and follow the run with `trainyard status {parse.GetValue(run)} --store {parse.GetValue(store)}`.");
                }

                await using var cli = await CliStore.OpenAsync(parse.GetValue(store)!, ParseLease(parse.GetValue(lease)), noCache: false, inlineSlots: parse.GetValue(workers));
                var state = await cli.FindRunAsync(parse.GetValue(run)!, output, ct);
                if (state is null)
                {
                    return BadInput;
                }

                if (state.Status != RunStatus.Running)
                {
                    output.Info($"run {state.RunId} already finished: {RunReport.Lower(state.Status)}; nothing to resume (use `trainyard retry {state.RunId}` for a new attempt).");
                    PrintReport(output, state, includeLogHint: true);
                    return ExitCodeOf(state);
                }

                await cli.RecoverAsync(state.RunId, ct);
                output.Info($"resuming run {state.RunId} ({state.PipelineName})");
                return await RunToCompletion(cli, state.RunId, parse.GetValue(workers), output, ct);
            });
        });
        return command;
    }

    private static Command RetryCommand()
    {
        var run = RunIdArgument();
        var workers = WorkersOption(Math.Max(2, Environment.ProcessorCount));
        var json = JsonOption();
        var store = StoreOption();
        var lease = LeaseOption();
        var command = new Command("retry", "Start a new attempt of a failed or cancelled run that reuses the outputs of its succeeded tasks, and run it to completion.");
        command.Arguments.Add(run);
        command.Options.Add(workers);
        command.Options.Add(json);
        command.Options.Add(store);
        command.Options.Add(lease);
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, parse.GetValue(json));
            return await Guarded(output, async () =>
            {
                if (await DurableCommands.OnTaskHubAsync(parse.GetValue(store)!, hub => hub.RetryAsync(parse.GetValue(run)!, output, ct), ct) is { } done)
                {
                    return done;
                }

                await using var cli = await CliStore.OpenAsync(parse.GetValue(store)!, ParseLease(parse.GetValue(lease)), noCache: false, inlineSlots: parse.GetValue(workers));
                var state = await cli.FindRunAsync(parse.GetValue(run)!, output, ct);
                if (state is null)
                {
                    return BadInput;
                }

                if (state.Status is RunStatus.Running or RunStatus.Succeeded)
                {
                    output.Error(state.Status == RunStatus.Running
                        ? $"run {state.RunId} is still running; wait for it, `trainyard resume {state.RunId}` if its process died, or `trainyard cancel {state.RunId}` first."
                        : $"run {state.RunId} succeeded; there is nothing to retry (start a new run with `trainyard run FILE`).");
                    return BadInput;
                }

                var newRunId = await cli.Engine.RetryRunAsync(state.RunId, ct);
                output.Info($"run {newRunId} started as a retry of {state.RunId}, reusing the outputs of its succeeded tasks");
                return await RunToCompletion(cli, newRunId, parse.GetValue(workers), output, ct);
            });
        });
        return command;
    }

    private static Command WorkerCommand()
    {
        var workers = WorkersOption(Math.Max(2, Environment.ProcessorCount));
        var store = StoreOption();
        var lease = LeaseOption();
        var recoverEvery = new Option<string?>("--recover-every")
        {
            Description = "How often to look for work a crashed process left half-delivered (default 1m; `off` never). Such work is picked up within about two of these plus the lease.",
        };
        var command = new Command("worker", "Work on every run in the store until stopped (Ctrl+C or SIGTERM stop it gracefully; unfinished tasks are taken over by others).");
        var engine = EngineOption("embedded (default: the embedded store's queues) or durable (join the Durable task hub given by --store azure:UseDevelopmentStorage=true[;TaskHub=name]; an azure: store implies it).");
        command.Options.Add(engine);
        command.Options.Add(workers);
        command.Options.Add(store);
        command.Options.Add(lease);
        command.Options.Add(recoverEvery);
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, json: false);
            return await Guarded(output, async () =>
            {
                if (Durable(parse.GetValue(engine), parse.GetValue(store)!))
                {
                    return await DurableCommands.WorkAsync(parse.GetValue(store)!, parse.GetValue(workers), output, ct);
                }

                using var stop = new GracefulStop(ct);
                var sweep = ParseRecoverEvery(parse.GetValue(recoverEvery));
                await using var cli = await CliStore.OpenAsync(parse.GetValue(store)!, ParseLease(parse.GetValue(lease)), noCache: false, inlineSlots: parse.GetValue(workers));
                output.Info($"worker {Environment.ProcessId} on {cli.Folder} with {parse.GetValue(workers)} slots; Ctrl+C or SIGTERM to stop");
                try
                {
                    await cli.CreateWorker(parse.GetValue(workers), sweep).RunAsync(stop.Token);
                }
                catch (OperationCanceledException) when (stop.Token.IsCancellationRequested)
                {
                    // The normal way out.
                }

                output.Info("worker stopped");
                return Ok;
            });
        });
        return command;
    }

    private static Option<string?> EngineOption(string description)
    {
        var option = new Option<string?>("--engine") { Description = description };
        option.AcceptOnlyFromAmong(DurableRun.Embedded, DurableRun.Durable);
        return option;
    }

    /// <summary>True for the durable engine: asked for, or implied by an azure: store (which holds no embedded runs).</summary>
    private static bool Durable(string? engine, string store)
    {
        if (AzureStore.IsAzure(store))
        {
            return engine != DurableRun.Embedded
                ? true
                : throw new CliInputException("--engine embedded cannot use --store azure:...: the embedded engine keeps runs in a local folder; drop --engine " +
                    "(an azure: store runs on the durable engine) or give --store a folder.");
        }

        return engine == DurableRun.Durable;
    }

    private static Command EventCommand()
    {
        var run = RunIdArgument();
        var name = new Argument<string>("NAME") { Description = "Event name: a step whose `when` or inputs read `events.NAME` waits for it (e.g. approval)." };
        var payload = new Option<string?>("--payload") { Description = "JSON payload, e.g. '{\"approved\":true}' (default {})." };
        var id = new Option<string?>("--id") { Description = "Event id: sending the same id twice delivers the event once (default: a new id)." };
        var store = StoreOption();
        var command = new Command("event", "Send a named event (an approval, a signal) to a running run; exit 0 when delivered to the store, 2 on bad input.");
        command.Arguments.Add(run);
        command.Arguments.Add(name);
        command.Options.Add(payload);
        command.Options.Add(id);
        command.Options.Add(store);
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, json: false);
            return await Guarded(output, async () =>
            {
                JsonElement body;
                try
                {
                    body = JsonSerializer.Deserialize<JsonElement>(parse.GetValue(payload) ?? "{}");
                }
                catch (JsonException e)
                {
                    throw new CliInputException($"--payload is not JSON: {e.Message} Write e.g. --payload '{{\"approved\":true}}'.");
                }

                var eventName = parse.GetValue(name)!.Trim();
                if (eventName.Length is 0 or > 200)
                {
                    throw new CliInputException("NAME must be 1 to 200 characters, e.g. approve.");
                }

                var eventId = parse.GetValue(id) is { Length: > 0 } given ? given : Guid.NewGuid().ToString("N");
                if (await DurableCommands.OnTaskHubAsync(parse.GetValue(store)!, hub => hub.RaiseAsync(parse.GetValue(run)!, eventName, body, eventId, output, ct), ct) is { } done)
                {
                    return done;
                }

                await using var cli = await CliStore.OpenAsync(parse.GetValue(store)!, lease: null, noCache: false);
                var state = await cli.FindRunAsync(parse.GetValue(run)!, output, ct);
                if (state is null)
                {
                    return BadInput;
                }

                if (state.Status != RunStatus.Running)
                {
                    output.Error($"run {state.RunId} has finished ({RunReport.Lower(state.Status)}) and takes no events.");
                    return BadInput;
                }

                await cli.Engine.RaiseEventAsync(state.RunId, eventName, body, ct, eventId);
                output.Info($"event {eventName} ({eventId}) sent to run {state.RunId}; a worker of the store delivers it (`trainyard worker` or the run's own process).");
                return Ok;
            });
        });
        return command;
    }

    /// <summary>Runs the worker in this process until the run finishes, showing progress; prints the summary.</summary>
    private static async Task<int> RunToCompletion(CliStore cli, string runId, int workers, CliOutput output, CancellationToken ct)
    {
        using var stop = new GracefulStop(ct);
        var view = output.Json ? null : RunProgressView.Create(output, () => Console.IsOutputRedirected ? 40 : Console.WindowHeight);
        var work = cli.CreateWorker(workers, CliStore.DefaultRecoverEvery).RunUntilCompleteAsync(runId, stop.Token);
        var interval = output.Interactive ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromMilliseconds(250);
        RunState? state = null;
        try
        {
            while (!work.IsCompleted)
            {
                state = await cli.Engine.GetRunAsync(runId, stop.Token) ?? state;
                if (state is not null)
                {
                    view?.Update(state, DateTimeOffset.UtcNow);
                }

                await Task.WhenAny(work, Task.Delay(interval, stop.Token));
            }

            await work;
        }
        catch (OperationCanceledException) when (stop.Token.IsCancellationRequested)
        {
            await work.ContinueWith(static _ => { }, TaskScheduler.Default);
            output.Error($"interrupted: run {runId} is left as it was; continue it with `trainyard resume {runId}` or stop it with `trainyard cancel {runId}`.");
            return Interrupted;
        }

        state = await cli.Engine.GetRunAsync(runId, CancellationToken.None)
            ?? throw new InvalidOperationException($"run {runId} vanished from the store while running; was the store deleted?");
        view?.Finish(state, DateTimeOffset.UtcNow);
        PrintReport(output, state, includeLogHint: true);
        return ExitCodeOf(state);
    }

    internal static void PrintReport(CliOutput output, RunState state, bool includeLogHint)
    {
        var report = RunReport.From(state, DateTimeOffset.UtcNow);
        if (output.Json)
        {
            output.WriteJson(report);
        }
        else
        {
            report.Write(output, includeLogHint);
        }
    }

    private static int ExitCodeOf(RunState state) => state.Status == RunStatus.Succeeded ? Ok : RunFailed;

    private static TimeSpan? ParseLease(string? text)
    {
        if (text is null)
        {
            return null;
        }

        return Core.Spec.Duration.TryParse(text, out var value) && value >= TimeSpan.FromMilliseconds(200)
            ? value
            : throw new CliInputException($"--lease '{text}' is not a duration of at least 200ms; write e.g. 30s, 2m or 500ms.");
    }

    private static TimeSpan? ParseRecoverEvery(string? text)
    {
        if (text is null)
        {
            return CliStore.DefaultRecoverEvery;
        }

        if (text == "off")
        {
            return null;
        }

        return Core.Spec.Duration.TryParse(text, out var value) && value >= TimeSpan.FromMilliseconds(100)
            ? value
            : throw new CliInputException($"--recover-every '{text}' is not a duration of at least 100ms; write e.g. 1m, 30s, or `off`.");
    }

    /// <summary>Turns expected errors into a message and exit code 2; anything else is a bug and keeps its stack trace.</summary>
    internal static async Task<int> Guarded(CliOutput output, Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception ex) when (ex is CliInputException or RunRequestException)
        {
            output.Error(ex.Message);
            return BadInput;
        }
    }

    /// <summary>One row of `runs --json`.</summary>
    private sealed record RunListItem(string RunId, string Pipeline, string PipelineHash, string Status, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? FinishedAt, string? Trigger);
}

/// <summary>Bad command-line input with a message saying what to do.</summary>
internal sealed class CliInputException(string message) : Exception(message);

/// <summary>Ctrl+C and SIGTERM cancel a token instead of killing the process, so work stops cleanly.</summary>
internal sealed class GracefulStop : IDisposable
{
    private readonly CancellationTokenSource _cts;
    private readonly PosixSignalRegistration _term;
    private readonly PosixSignalRegistration _int;

    public GracefulStop(CancellationToken outer)
    {
        _cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle);
        _int = PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle);
    }

    public CancellationToken Token => _cts.Token;

    public void Dispose()
    {
        _term.Dispose();
        _int.Dispose();
        _cts.Dispose();
    }

    private void Handle(PosixSignalContext context)
    {
        context.Cancel = true;
        _cts.Cancel();
    }
}
