using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using Trainyard.Core.Engine;
using Trainyard.Execution.Contracts;

namespace Trainyard.Execution.Telemetry;

/// <summary>
/// Trainyard's OpenTelemetry instrumentation: one <see cref="ActivitySource"/> and one <see cref="Meter"/>, both named
/// <see cref="Name"/>. A run is one trace whose id is derived from the run id, so the spans of its attempts land in the
/// same trace whichever process or engine ran them (docs/observability.md). Hosts subscribe with the OpenTelemetry SDK.
/// </summary>
public static class TrainyardTelemetry
{
    /// <summary>Name of the activity source and of the meter.</summary>
    public const string Name = "Trainyard";

    /// <summary>Span attribute and metric tag names.</summary>
    public static class Tags
    {
        /// <summary>Run id.</summary>
        public const string Run = "trainyard.run.id";

        /// <summary>Pipeline name.</summary>
        public const string Pipeline = "trainyard.pipeline";

        /// <summary>Pipeline version (content hash).</summary>
        public const string PipelineVersion = "trainyard.pipeline.version";

        /// <summary>Task key (`step` or `step[i]`).</summary>
        public const string Task = "trainyard.task";

        /// <summary>Step id.</summary>
        public const string Step = "trainyard.step";

        /// <summary>Attempt number, from 1.</summary>
        public const string Attempt = "trainyard.attempt";

        /// <summary>Dispatch id of the attempt.</summary>
        public const string Dispatch = "trainyard.dispatch.id";

        /// <summary>Executor kind (builtin, local, batch).</summary>
        public const string Executor = "trainyard.executor";

        /// <summary>True when the result came from the step cache.</summary>
        public const string CacheHit = "trainyard.cache.hit";

        /// <summary>True for an attempt after the first.</summary>
        public const string Retry = "trainyard.retry";

        /// <summary>Attempt or run outcome (succeeded, failed, cancelled, pending, timed_out).</summary>
        public const string Outcome = "trainyard.outcome";

        /// <summary>Azure Batch job id, when the attempt ran on Batch.</summary>
        public const string BatchJob = "trainyard.batch.job_id";

        /// <summary>Azure Batch task id, when the attempt ran on Batch.</summary>
        public const string BatchTask = "trainyard.batch.task_id";

        /// <summary>Azure Batch pool id.</summary>
        public const string BatchPool = "trainyard.batch.pool";

        /// <summary>What started the run (manual, schedule, blob, drift, retry).</summary>
        public const string Trigger = "trainyard.trigger";
    }

    /// <summary>The activity source: one span per run (emitted when it finishes) and one per task attempt.</summary>
    public static readonly ActivitySource Source = new(Name);

    /// <summary>The meter of every Trainyard metric.</summary>
    public static readonly Meter Meter = new(Name);

    private static readonly Histogram<double> RunDuration = Meter.CreateHistogram<double>("trainyard.run.duration", "s", "Duration of finished runs, start to final state.");
    private static readonly Counter<long> Runs = Meter.CreateCounter<long>("trainyard.runs", "{run}", "Finished runs by outcome.");
    private static readonly Histogram<double> TaskDuration = Meter.CreateHistogram<double>("trainyard.task.duration", "s", "Duration of task attempts that reached an outcome.");
    private static readonly Counter<long> Attempts = Meter.CreateCounter<long>("trainyard.task.attempts", "{attempt}", "Task attempts by outcome.");
    private static readonly Counter<long> Retries = Meter.CreateCounter<long>("trainyard.task.retries", "{attempt}", "Task attempts after the first (retries).");
    private static readonly Counter<long> CacheLookups = Meter.CreateCounter<long>("trainyard.cache.lookups", "{lookup}", "Step cache lookups; the hit tag says whether a result was reused.");
    private static readonly Histogram<double> DispatchLatency = Meter.CreateHistogram<double>("trainyard.task.dispatch_latency", "s", "Time from the commit that dispatched an attempt to the start of its execution.");
    private static readonly Histogram<double> BatchNodeTime = Meter.CreateHistogram<double>("trainyard.batch.node_time", "s", "Node time of completed Azure Batch tasks.");
    private static readonly Counter<double> BatchCost = Meter.CreateCounter<double>("trainyard.batch.cost", "USD", "Estimated Azure Batch node cost of completed tasks.");
    private static readonly Counter<long> BatchRequeues = Meter.CreateCounter<long>("trainyard.batch.task.requeues", "{requeue}", "Times Batch requeued a task (Spot pre-emption, node loss).");
    private static long s_cacheHits;
    private static long s_cacheLookups;

    static TrainyardTelemetry()
    {
        // A ratio is what dashboards want; the two counters above stay for backends that compute it themselves.
        Meter.CreateObservableGauge("trainyard.cache.hit_ratio", ObserveHitRatio, "1", "Share of step cache lookups in this process that reused a result.");
    }

    /// <summary>The trace id of a run: the first 16 bytes of SHA-256 of its id, so every process agrees on it.</summary>
    public static ActivityTraceId TraceIdOf(string runId)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(runId), hash);
        return ActivityTraceId.CreateFromBytes(hash[..16]);
    }

    /// <summary>Starts the span of one attempt (null when nobody listens). The caller ends it with <see cref="EndAttempt"/>.</summary>
    public static Activity? StartAttempt(TaskWorkItem work)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (!Source.HasListeners())
        {
            return null;
        }

        // No parent span: the run's span is written when the run ends, by whichever process ends it, and .NET cannot
        // give a span a chosen id, so attempts join the run's trace by trace id as top-level spans beside it.
        var context = new ActivityContext(TraceIdOf(work.RunId), default, ActivityTraceFlags.Recorded, isRemote: true);
        var activity = Source.StartActivity($"attempt {work.TaskKey}", ActivityKind.Internal, context);
        if (activity is null)
        {
            return null;
        }

        activity.SetTag(Tags.Run, work.RunId);
        activity.SetTag(Tags.Pipeline, work.PipelineName);
        activity.SetTag(Tags.PipelineVersion, work.PipelineHash);
        activity.SetTag(Tags.Task, work.TaskKey);
        activity.SetTag(Tags.Step, work.StepId);
        activity.SetTag(Tags.Attempt, work.Attempt);
        activity.SetTag(Tags.Dispatch, work.DispatchId);
        activity.SetTag(Tags.Executor, Lower(work.Executor));
        activity.SetTag(Tags.Retry, work.Attempt > 1);
        return activity;
    }

    /// <summary>Ends an attempt's span and records its metrics. <paramref name="outcome"/> null means cancelled.</summary>
    public static void EndAttempt(Activity? activity, TaskWorkItem work, TaskOutcome? outcome, bool timedOut, TimeSpan elapsed)
    {
        ArgumentNullException.ThrowIfNull(work);
        var name = OutcomeName(outcome, timedOut);
        var cached = outcome is TaskOutcome.Succeeded { Result.Cached: true };
        if (activity is not null)
        {
            activity.SetTag(Tags.Outcome, name);
            activity.SetTag(Tags.CacheHit, cached);
            if (outcome is TaskOutcome.Failed f)
            {
                activity.SetStatus(ActivityStatusCode.Error, f.Error.Length > 500 ? f.Error[..500] : f.Error);
            }

            activity.Dispose();
        }

        if (outcome is TaskOutcome.Pending)
        {
            // A remote attempt goes on; its poll is not an outcome.
            return;
        }

        var tags = new TagList { { Tags.Pipeline, work.PipelineName }, { Tags.Step, work.StepId }, { Tags.Executor, Lower(work.Executor) }, { Tags.Outcome, name } };
        Attempts.Add(1, tags);
        TaskDuration.Record(elapsed.TotalSeconds, tags);
        if (work.Attempt > 1)
        {
            Retries.Add(1, new TagList { { Tags.Pipeline, work.PipelineName }, { Tags.Step, work.StepId } });
        }
    }

    /// <summary>Records one step cache lookup.</summary>
    public static void RecordCacheLookup(TaskWorkItem work, bool hit)
    {
        ArgumentNullException.ThrowIfNull(work);
        Interlocked.Increment(ref s_cacheLookups);
        if (hit)
        {
            Interlocked.Increment(ref s_cacheHits);
        }

        CacheLookups.Add(1, new TagList { { Tags.Pipeline, work.PipelineName }, { Tags.Step, work.StepId }, { "hit", hit } });
    }

    /// <summary>Records the time between an attempt's dispatch and the start of its execution.</summary>
    public static void RecordDispatchLatency(TaskWorkItem work, TimeSpan latency)
    {
        ArgumentNullException.ThrowIfNull(work);
        DispatchLatency.Record(Math.Max(0, latency.TotalSeconds), new TagList { { Tags.Pipeline, work.PipelineName }, { Tags.Executor, Lower(work.Executor) } });
    }

    /// <summary>Records the node time and estimated cost of a completed Azure Batch task.</summary>
    public static void RecordBatchTask(string poolId, string pipeline, TimeSpan nodeTime, double costUsd)
    {
        var tags = new TagList { { Tags.BatchPool, poolId }, { Tags.Pipeline, pipeline } };
        BatchNodeTime.Record(nodeTime.TotalSeconds, tags);
        BatchCost.Add(costUsd, tags);
    }

    /// <summary>Records that Batch requeued a task <paramref name="count"/> times.</summary>
    public static void RecordBatchRequeues(string poolId, int count)
    {
        if (count > 0)
        {
            BatchRequeues.Add(count, new KeyValuePair<string, object?>(Tags.BatchPool, poolId));
        }
    }

    /// <summary>
    /// Records a finished run: its span (the root of the run's trace, from its start to its final state, one event per
    /// failed task) and the run metrics. Call once per finish notification; at-least-once delivery may repeat it.
    /// </summary>
    public static void RecordRunFinished(RunState run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var status = Lower(run.Status);
        var end = run.FinishedAt ?? run.UpdatedAt;
        var tags = new TagList { { Tags.Pipeline, run.PipelineName }, { Tags.Outcome, status } };
        Runs.Add(1, tags);
        RunDuration.Record(Math.Max(0, (end - run.CreatedAt).TotalSeconds), tags);
        if (!Source.HasListeners())
        {
            return;
        }

        var context = new ActivityContext(TraceIdOf(run.RunId), default, ActivityTraceFlags.Recorded, isRemote: true);
        using var activity = Source.StartActivity($"run {run.PipelineName}", ActivityKind.Internal, context, startTime: run.CreatedAt);
        if (activity is null)
        {
            return;
        }

        activity.SetTag(Tags.Run, run.RunId);
        activity.SetTag(Tags.Pipeline, run.PipelineName);
        activity.SetTag(Tags.PipelineVersion, run.PipelineHash);
        activity.SetTag(Tags.Trigger, run.Trigger.Kind);
        activity.SetTag(Tags.Outcome, status);
        activity.SetTag("trainyard.tasks", run.Tasks.Count);
        foreach (var t in run.Tasks.Values.Where(t => t.Status == Core.Engine.TaskStatus.Failed))
        {
            activity.AddEvent(new ActivityEvent("task failed", t.FinishedAt ?? end, new ActivityTagsCollection
            {
                { Tags.Task, t.TaskKey }, { Tags.Attempt, t.Attempt }, { "error", t.Message },
            }));
        }

        if (run.Status != RunStatus.Succeeded)
        {
            activity.SetStatus(ActivityStatusCode.Error, run.Error);
        }

        activity.SetEndTime(end.UtcDateTime);
    }

    private static string OutcomeName(TaskOutcome? outcome, bool timedOut) => outcome switch
    {
        null => "cancelled",
        TaskOutcome.Succeeded => "succeeded",
        TaskOutcome.Pending => "pending",
        TaskOutcome.Failed when timedOut => "timed_out",
        _ => "failed",
    };

    private static Measurement<double> ObserveHitRatio()
    {
        var lookups = Interlocked.Read(ref s_cacheLookups);
        return new Measurement<double>(lookups == 0 ? 0 : (double)Interlocked.Read(ref s_cacheHits) / lookups);
    }

    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();
}
