using System.Collections.Concurrent;
using Trainyard.Compute.Local;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Engine.Durable;
using Trainyard.Runtime.Builtins;
using Trainyard.Runtime.Contracts;
using Trainyard.Runtime.InMemory;

namespace Trainyard.Engine.Durable.Tests;

/// <summary>
/// The activities for these tests until the Execution layer's DurableActivities lands: real built-in steps (Runtime's
/// BuiltinExecutor), real local processes and the Batch executor, with a cancel marker and one execution per dispatch id.
/// Records what ran so tests can check attempts, parallelism and cancellation.
/// </summary>
internal sealed class TestActivities : IDurableActivities, IDisposable
{
    private readonly ConcurrentDictionary<string, string> _pipelines = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AttemptReport> _done = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _cancelMarkers = new(StringComparer.Ordinal);
    private readonly BuiltinExecutor _builtins = new(BuiltinStepRegistry.CreateStandard());
    private readonly LocalProcessExecutor _local = new();
    private readonly string _root = Directory.CreateTempSubdirectory("ty-durable-").FullName;
    private int _inFlight;
    private int _maxInFlight;

    public IArtifactStore Artifacts { get; init; } = new InMemoryArtifactStore();

    public IRemoteTaskExecutor? Remote { get; init; }

    /// <summary>Every executor call, in order: (dispatch id, task key, attempt, start time).</summary>
    public ConcurrentQueue<(string DispatchId, string TaskKey, int Attempt, DateTimeOffset At)> Executions { get; } = new();

    public ConcurrentQueue<string> Cancelled { get; } = new();

    public ConcurrentQueue<string> LoadedVersions { get; } = new();

    public ConcurrentQueue<RunFinishedInput> Finished { get; } = new();

    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>Text returned for a hash instead of the pushed one (to test a store that lies).</summary>
    public ConcurrentDictionary<string, string> Tampered { get; } = new(StringComparer.Ordinal);

    public string Push(string text)
    {
        var hash = PipelineLoader.Hash(text);
        _pipelines[hash] = text;
        return hash;
    }

    public Task<string> LoadPipelineAsync(string pipelineHash, CancellationToken cancellationToken)
    {
        LoadedVersions.Enqueue(pipelineHash);
        if (Tampered.TryGetValue(pipelineHash, out var other))
        {
            return Task.FromResult(other);
        }

        return _pipelines.TryGetValue(pipelineHash, out var text)
            ? Task.FromResult(text)
            : throw new InvalidOperationException($"pipeline version {pipelineHash} is not in the store");
    }

    public async Task<AttemptReport> RunTaskAsync(RunTaskInput input, CancellationToken cancellationToken)
    {
        var work = input.Work;
        if (_done.TryGetValue(work.DispatchId, out var stored))
        {
            return stored with { Redelivered = true };
        }

        if (_cancelMarkers.ContainsKey(work.DispatchId))
        {
            return new AttemptReport { Kind = AttemptReportKind.Cancelled, Error = "cancelled before it started" };
        }

        using var cancel = new CancellationTokenSource();
        _running[work.DispatchId] = cancel;
        if (_cancelMarkers.ContainsKey(work.DispatchId))
        {
            cancel.Cancel();
        }

        Executions.Enqueue((work.DispatchId, work.TaskKey, work.Attempt, DateTimeOffset.UtcNow));
        int now = Interlocked.Increment(ref _inFlight);
        for (int seen = Volatile.Read(ref _maxInFlight); now > seen && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen; seen = Volatile.Read(ref _maxInFlight))
        {
        }

        try
        {
            var report = await ExecuteAsync(input, cancel.Token).ConfigureAwait(false);
            if (report.Kind != AttemptReportKind.Pending)
            {
                _done[work.DispatchId] = report;
            }

            return report;
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            _running.TryRemove(work.DispatchId, out _);
        }
    }

    public async Task CancelAttemptAsync(CancelAttemptInput input, CancellationToken cancellationToken)
    {
        Cancelled.Enqueue(input.Work.DispatchId);
        _cancelMarkers[input.Work.DispatchId] = true;
        if (_running.TryGetValue(input.Work.DispatchId, out var running))
        {
            await running.CancelAsync().ConfigureAwait(false);
        }

        if (input.Work.Executor == ExecutorKind.Batch && Remote is not null)
        {
            await Remote.CancelAttemptAsync(input.Work, cancellationToken).ConfigureAwait(false);
        }
    }

    public Task RunFinishedAsync(RunFinishedInput input, CancellationToken cancellationToken)
    {
        Finished.Enqueue(input);
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        foreach (var cts in _running.Values)
        {
            cts.Dispose();
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A process killed a moment ago may still hold a file; the temp folder is cleaned later.
        }
    }

    private async Task<AttemptReport> ExecuteAsync(RunTaskInput input, CancellationToken cancel)
    {
        var work = input.Work;
        ITaskExecutor executor = work.Executor switch
        {
            ExecutorKind.Builtin => _builtins,
            ExecutorKind.Local => _local,
            ExecutorKind.Batch => Remote ?? throw new InvalidOperationException("no Batch executor configured for this test"),
            _ => throw new InvalidOperationException($"executor {work.Executor} is not available in these tests"),
        };
        using var timeout = new CancellationTokenSource();
        if (work.Timeout is { } limit && work.Executor != ExecutorKind.Batch)
        {
            timeout.CancelAfter(limit);
        }

        using var both = CancellationTokenSource.CreateLinkedTokenSource(cancel, timeout.Token);
        var dir = Path.Combine(_root, work.DispatchId);
        Directory.CreateDirectory(dir);
        TaskOutcome outcome;
        try
        {
            outcome = await executor.ExecuteAsync(new TaskExecutionContext
            {
                Work = work,
                Artifacts = Artifacts,
                WorkingDirectory = dir,
                ResumeState = input.ResumeState,
                Log = (_, _) => Task.CompletedTask,
            }, both.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return new AttemptReport { Kind = AttemptReportKind.Cancelled, Error = "cancelled" };
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return new AttemptReport { Kind = AttemptReportKind.Failed, Error = $"timed out after {work.Timeout}", TimedOut = true };
        }

        if (cancel.IsCancellationRequested)
        {
            return new AttemptReport { Kind = AttemptReportKind.Cancelled, Error = "cancelled" };
        }

        return outcome switch
        {
            TaskOutcome.Succeeded s => new AttemptReport { Kind = AttemptReportKind.Succeeded, Result = s.Result },
            TaskOutcome.Failed f => new AttemptReport { Kind = AttemptReportKind.Failed, Error = f.Error, Retryable = f.Retryable, ExitCode = f.ExitCode },
            TaskOutcome.Pending p => new AttemptReport { Kind = AttemptReportKind.Pending, PollAfter = p.PollAfter, State = p.State },
            _ => throw new InvalidOperationException($"unknown outcome {outcome}"),
        };
    }
}
