using System.Collections.Concurrent;
using Trainyard.Compute.Local;
using Trainyard.Core.Spec;
using Trainyard.Execution;
using Trainyard.Execution.Artifacts;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Contracts;
using Trainyard.Runtime.InMemory;
using Trainyard.Steps.Ml;

namespace Trainyard.Engine.Durable.Tests;

/// <summary>
/// The real activities (<see cref="DurableActivities"/> over the Execution layer's AttemptRunner: built-in steps, local
/// processes, the ML steps, the Batch executor when given, dispatch-id claims and cancel markers in an in-memory store), recording
/// every call so tests can check attempts, parallelism, cancellation and the versions loaded.
/// </summary>
internal sealed class RecordingActivities : IDurableActivities, IDisposable
{
    private readonly DurableActivities _inner;
    private readonly InMemoryRunStore _store = new();
    private readonly string _root = Directory.CreateTempSubdirectory("ty-durable-").FullName;
    private int _inFlight;
    private int _maxInFlight;

    public RecordingActivities(IRemoteTaskExecutor? remote = null, IArtifactStore? artifacts = null)
    {
        // The built-in steps Trainyard ships, ML ones included, as the CLI and the Function App register them.
        var steps = new BuiltinStepRegistry([.. BuiltinStepRegistry.Standard, .. MlSteps.All]);
        var executors = new List<ITaskExecutor> { new LocalProcessExecutor(), new BuiltinExecutor(steps) };
        if (remote is not null)
        {
            executors.Add(remote);
        }

        Runner = new AttemptRunner(new AttemptRunnerOptions
        {
            Artifacts = artifacts ?? new InMemoryArtifactStore(),
            Claims = _store,
            Executors = executors,
            WorkRoot = Path.Combine(_root, "work"),
            HeartbeatInterval = TimeSpan.FromMilliseconds(200),
        });
        _inner = new DurableActivities(Runner, _store);
    }

    public AttemptRunner Runner { get; }

    /// <summary>Every RunTask call, in order: (dispatch id, task key, attempt, time of the call).</summary>
    public ConcurrentQueue<(string DispatchId, string TaskKey, int Attempt, DateTimeOffset At)> Executions { get; } = new();

    public ConcurrentQueue<string> Cancelled { get; } = new();

    public ConcurrentQueue<string> LoadedVersions { get; } = new();

    public ConcurrentQueue<RunFinishedInput> Finished { get; } = new();

    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>Stores a pipeline version in the pipeline store; returns its hash.</summary>
    public string Push(string text)
    {
        var hash = PipelineLoader.Hash(text);
        SaveUnderHash(hash, PipelineLoader.Load(text, "test.yaml").Spec?.Name ?? "test", text);
        return hash;
    }

    /// <summary>Stores <paramref name="text"/> under any hash (a store that lies about a version).</summary>
    public void SaveUnderHash(string hash, string name, string text)
        => _store.SavePipelineAsync(new PipelineVersion(name, hash, text, DateTimeOffset.UtcNow), CancellationToken.None).GetAwaiter().GetResult();

    public async Task<AttemptReport> RunTaskAsync(RunTaskInput input, CancellationToken cancellationToken)
    {
        Executions.Enqueue((input.Work.DispatchId, input.Work.TaskKey, input.Work.Attempt, DateTimeOffset.UtcNow));
        int now = Interlocked.Increment(ref _inFlight);
        for (int seen = Volatile.Read(ref _maxInFlight); now > seen && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen; seen = Volatile.Read(ref _maxInFlight))
        {
        }

        try
        {
            return await _inner.RunTaskAsync(input, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    public Task CancelAttemptAsync(CancelAttemptInput input, CancellationToken cancellationToken)
    {
        Cancelled.Enqueue(input.Work.DispatchId);
        return _inner.CancelAttemptAsync(input, cancellationToken);
    }

    public Task<string> LoadPipelineAsync(string pipelineHash, CancellationToken cancellationToken)
    {
        LoadedVersions.Enqueue(pipelineHash);
        return _inner.LoadPipelineAsync(pipelineHash, cancellationToken);
    }

    public Task RunFinishedAsync(RunFinishedInput input, CancellationToken cancellationToken)
    {
        Finished.Enqueue(input);
        return _inner.RunFinishedAsync(input, cancellationToken);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A process killed a moment ago may still hold a file; the temp folder is cleaned later.
        }
    }
}
