using Trainyard.Compute.Local;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Runtime;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Caching;
using Trainyard.Runtime.Contracts;
using Trainyard.Steps.Ml;
using Trainyard.Storage.Sqlite;
using Trainyard.Execution.Contracts;
using Trainyard.Execution.Data;
using Trainyard.Execution;
using Trainyard.Notifications;

namespace Trainyard.Cli;

/// <summary>
/// The embedded store the run commands work on: `.trainyard/trainyard.db` (SQLite, WAL) plus artifacts and per-attempt
/// work folders beside it, with an engine that has the local and built-in executors.
/// </summary>
internal sealed class CliStore : IAsyncDisposable
{
    /// <summary>Default store folder, relative to the working directory.</summary>
    public const string DefaultFolder = ".trainyard";

    /// <summary>The SQLite file name inside the folder.</summary>
    public const string DatabaseFile = "trainyard.db";

    private readonly TimeSpan? _lease;

    private CliStore(string folder, IBackend backend, RunEngine engine, TimeSpan? lease, WebhookSender webhooks)
    {
        Folder = folder;
        Backend = backend;
        Engine = engine;
        _lease = lease;
        Webhooks = webhooks;
    }

    /// <summary>How long a command waits at exit for `notify:` webhooks still being sent.</summary>
    public static readonly TimeSpan WebhookFlushLimit = TimeSpan.FromSeconds(15);

    /// <summary>The sender of the `notify:` webhooks of runs in this store (flushed when the store is disposed).</summary>
    public WebhookSender Webhooks { get; }

    /// <summary>The store folder (full path).</summary>
    public string Folder { get; }

    /// <summary>Store, queues, artifacts.</summary>
    public IBackend Backend { get; }

    /// <summary>The engine.</summary>
    public RunEngine Engine { get; }

    /// <summary>Opens (creating when missing) the store in <paramref name="folder"/>.</summary>
    /// <param name="folder">The `--store` folder.</param>
    /// <param name="lease">Lease/claim length for work (null: the engine's defaults).</param>
    /// <param name="noCache">Ignore cached step results.</param>
    /// <param name="inlineSlots">Long-lived commands that work the queues (run, resume, retry, worker): run built-in steps
    /// in the engine with at most this many at once (<see cref="RunEngineOptions.InlineBuiltins"/>); null: never.</param>
    public static Task<CliStore> OpenAsync(string folder, TimeSpan? lease, bool noCache, int? inlineSlots = null)
    {
        if (string.IsNullOrWhiteSpace(folder))
        {
            throw new CliInputException($"--store is empty; give a folder (default {DefaultFolder}) or leave the option out.");
        }

        if (AzureStore.IsAzure(folder))
        {
            throw AzureStore.RunsAreDurable();
        }

        var full = PrepareFolder(folder);
        var backend = SqliteBackend.Open(Path.Combine(full, DatabaseFile));
        var (steps, executors) = Execution();
        var options = new RunEngineOptions
        {
            Executors = executors,
            MissingExecutorHints = new Dictionary<ExecutorKind, string> { [ExecutorKind.Batch] = BatchHint },
            // --no-cache skips lookups only: fresh results still refresh the cache for the next run.
            TaskCache = new StepCache(backend.Store, backend.Artifacts, steps.Catalog) { ReadEnabled = !noCache },
            SpecParser = version => PipelineLoader.LoadOrThrow(version.SpecText, version.Source ?? version.Name),
            WorkRoot = Path.Combine(full, "work"),
            InlineBuiltins = inlineSlots is not null,
            MaxInlineTasks = inlineSlots ?? 1,
        };
        if (lease is { } l)
        {
            options = options with { ClaimDuration = l };
        }

        // The notifier loads the finished run through the engine it is a part of.
        RunEngine? engine = null;
        var webhooks = new WebhookSender();
        var alerts = new WebhookNotifier(webhooks, async (runId, ct) =>
            engine is not null && await engine.GetRunAsync(runId, ct) is { } run ? new RunWithSpec(run, await engine.GetPipelineSpecAsync(run.PipelineHash, ct)) : null);
        engine = new RunEngine(backend, options with { Notifiers = [alerts] });
        return Task.FromResult(new CliStore(full, backend, engine, lease, webhooks));
    }

    /// <summary>
    /// The steps and executors of every CLI engine (embedded and durable), so a step behaves the same in both;
    /// <paramref name="data"/> are data sources `ingest` tries before the local data root (the durable engine on Azurite
    /// adds the data container, as the Function App does).
    /// </summary>
    internal static (BuiltinStepRegistry Steps, IReadOnlyList<ITaskExecutor> Executors) Execution(params IDataSource[] data)
    {
        var steps = new BuiltinStepRegistry([.. BuiltinStepRegistry.Standard, .. MlSteps.All]);
        return (steps, [new LocalProcessExecutor(LocalExecutorOptions.FromEnvironment(Environment.GetEnvironmentVariable)), new BuiltinExecutor(steps, StepServices(data))]);
    }

    /// <summary>Services of the built-in steps: <paramref name="data"/>, then the local data root `ingest` reads (TRAINYARD_DATA_ROOT, else ./data).</summary>
    private static StepServices StepServices(IDataSource[] data)
    {
        var root = Environment.GetEnvironmentVariable("TRAINYARD_DATA_ROOT") is { Length: > 0 } r ? r : Path.Combine(Environment.CurrentDirectory, "data");
        return new StepServices().Add<IDataSource>(new DataSources([.. data, new LocalDataSource(root)]));
    }

    /// <summary>Creates the store folder if missing and returns its full path; a clear error when it cannot be.</summary>
    public static string PrepareFolder(string folder)
    {
        var full = Path.GetFullPath(folder);
        try
        {
            Directory.CreateDirectory(full);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliInputException($"cannot create the store folder '{full}': {ex.Message}. Pass --store with a writable folder.");
        }

        return full;
    }

    /// <summary>
    /// Why a Batch step cannot run here: Batch steps run in Azure, where the Durable engine submits and polls them as a
    /// sub-orchestration; the embedded engine has no Batch executor.
    /// </summary>
    internal const string BatchHint =
        "Batch steps run in Azure, where the Function App's Durable engine runs them as a Batch sub-orchestration (submit, poll, terminate on cancel); " +
        "the embedded engine of `trainyard run` has no Batch executor. Push the pipeline (`trainyard pipelines push FILE --store azure:https://<account>.blob.core.windows.net`) " +
        "and start it through the Function App's HTTP API, or give the step another executor for local runs";

    /// <summary>How often workers sweep for work a crashed process left half-delivered.</summary>
    public static readonly TimeSpan DefaultRecoverEvery = TimeSpan.FromMinutes(1);

    /// <summary>A worker with <paramref name="slots"/> task slots and this store's lease.</summary>
    /// <param name="slots">Task slots (the engine runs built-in steps inline in as many more).</param>
    /// <param name="recoverEvery">Stalled-outbox sweep period (null: none); <see cref="DefaultRecoverEvery"/> unless told.</param>
    public LocalWorker CreateWorker(int slots, TimeSpan? recoverEvery)
    {
        var options = new LocalWorkerOptions
        {
            Workers = slots,
            RecoverEvery = recoverEvery,
        };
        if (_lease is { } l)
        {
            options = options with { WorkLease = l, ControlLease = l };
        }

        return new LocalWorker(Engine, options);
    }

    /// <summary>Loads a run, or prints how to find run ids and returns null.</summary>
    public async Task<RunState?> FindRunAsync(string runId, CliOutput output, CancellationToken cancellationToken)
    {
        var state = string.IsNullOrWhiteSpace(runId) ? null : await Engine.GetRunAsync(runId, cancellationToken);
        if (state is null)
        {
            output.Error($"no run '{runId}' in {Path.Combine(Folder, DatabaseFile)}. List run ids with `trainyard runs` (newest first; `--json` for tools), "
                + "or pass --store if the run lives in another store.");
        }

        return state;
    }

    /// <summary>Re-sends what a crashed process committed but had not sent; the queues hold the rest.</summary>
    public Task RecoverAsync(string runId, CancellationToken cancellationToken) => Engine.ResumeRunAsync(runId, cancellationToken);

    /// <summary>Cancels a run and returns its state afterwards.</summary>
    public async Task<RunState> CancelAsync(string runId, string reason, CancellationToken cancellationToken)
    {
        await Engine.CancelRunAsync(runId, reason, cancellationToken);
        return await Engine.GetRunAsync(runId, cancellationToken)
            ?? throw new InvalidOperationException($"run {runId} vanished from the store while being cancelled; was the store deleted?");
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // Webhooks of runs that just finished go out before the command exits (bounded: a dead receiver never hangs it).
        await Webhooks.FlushAsync(WebhookFlushLimit);
        await Webhooks.DisposeAsync();
        await Backend.DisposeAsync();
    }
}
