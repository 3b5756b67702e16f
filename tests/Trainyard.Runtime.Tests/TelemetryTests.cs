using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Core.Steps;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Caching;
using Trainyard.Execution.Contracts;
using Trainyard.Execution.Telemetry;
using Trainyard.Runtime.InMemory;
using static Trainyard.Testing.TestPipelines;

namespace Trainyard.Runtime.Tests;

/// <summary>
/// The OpenTelemetry instrumentation, read back through the SDK's in-memory exporter: one trace per run with a span per
/// attempt (retries and cache hits as attributes) and the run/task/cache/dispatch metrics.
/// </summary>
public sealed class TelemetryTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ty-telemetry-" + Guid.NewGuid().ToString("N"));
    private readonly List<Activity> _spans = [];
    private readonly List<MetricSnapshot> _metrics = [];
    private readonly TracerProvider _tracer;
    private readonly MeterProvider _meter;

    public TelemetryTests()
    {
        _tracer = Sdk.CreateTracerProviderBuilder().AddSource(TrainyardTelemetry.Name).AddInMemoryExporter(_spans).Build()!;
        _meter = Sdk.CreateMeterProviderBuilder().AddMeter(TrainyardTelemetry.Name).AddInMemoryExporter(_metrics).Build()!;
    }

    public void Dispose()
    {
        _tracer.Dispose();
        _meter.Dispose();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task ARun_IsOneTrace_WithASpanPerAttempt_RetriesAndCacheHitsAsAttributes_AndMetrics()
    {
        var pipeline = "otel-" + Guid.NewGuid().ToString("N")[..8];
        var flaky = new FlakyStep();
        var backend = new InMemoryBackend();
        var registry = new BuiltinStepRegistry([.. BuiltinStepRegistry.Standard, flaky]);
        var engine = new RunEngine(backend, new RunEngineOptions
        {
            WorkRoot = Path.Combine(_dir, "work"),
            Executors = [new BuiltinExecutor(registry)],
            TaskCache = new StepCache(backend.Store, backend.Artifacts, registry.Catalog),
        });
        var cached = Step("b", "echo", new { message = "same inputs every run" }, "a") with { Cache = new CacheSpec() };
        var fast = new RetryPolicy { MaxAttempts = 3, InitialInterval = TimeSpan.FromMilliseconds(10), MaxInterval = TimeSpan.FromMilliseconds(10) };
        StepSpec[] steps = [Step("a", "echo"), cached, Step("c", "flaky", null, "a") with { Retry = fast }, Step("d", "echo", null, "b", "c")];

        var first = await RunAsync(engine, Request(pipeline, steps));
        var second = await RunAsync(engine, Request(pipeline, steps));
        _tracer.ForceFlush();
        _meter.ForceFlush();

        Assert.Equal(RunStatus.Succeeded, first.Status);
        Assert.Equal(RunStatus.Succeeded, second.Status);
        var trace = _spans.Where(s => (string?)s.GetTagItem(TrainyardTelemetry.Tags.Run) == first.RunId).ToList();
        Assert.All(trace, s => Assert.Equal(TrainyardTelemetry.TraceIdOf(first.RunId), s.TraceId));
        var run = Assert.Single(trace, s => s.DisplayName == $"run {pipeline}");
        Assert.Equal("succeeded", run.GetTagItem(TrainyardTelemetry.Tags.Outcome));
        Assert.Equal(first.CreatedAt.UtcDateTime, run.StartTimeUtc);
        var attempts = trace.Where(s => s.DisplayName.StartsWith("attempt ", StringComparison.Ordinal)).ToList();
        Assert.Equal(5, attempts.Count); // a, b, c twice (one retry), d
        var c = attempts.Where(s => (string?)s.GetTagItem(TrainyardTelemetry.Tags.Task) == "c").OrderBy(s => (int)s.GetTagItem(TrainyardTelemetry.Tags.Attempt)!).ToList();
        Assert.Equal([false, true], c.Select(s => (bool)s.GetTagItem(TrainyardTelemetry.Tags.Retry)!));
        Assert.Equal(["failed", "succeeded"], c.Select(s => (string?)s.GetTagItem(TrainyardTelemetry.Tags.Outcome)));
        Assert.Equal(ActivityStatusCode.Error, c[0].Status);
        Assert.All(attempts, s => Assert.Equal("builtin", s.GetTagItem(TrainyardTelemetry.Tags.Executor)));
        Assert.NotEqual(TrainyardTelemetry.TraceIdOf(second.RunId), TrainyardTelemetry.TraceIdOf(first.RunId));
        var secondB = Assert.Single(_spans, s => (string?)s.GetTagItem(TrainyardTelemetry.Tags.Run) == second.RunId && (string?)s.GetTagItem(TrainyardTelemetry.Tags.Task) == "b");
        Assert.Equal(true, secondB.GetTagItem(TrainyardTelemetry.Tags.CacheHit));

        Assert.Equal(2, Sum("trainyard.runs", pipeline, ("trainyard.outcome", "succeeded")));
        Assert.Equal(2, Count("trainyard.run.duration", pipeline));
        // The flaky step fails its first attempt in both runs; b's second run is a cache hit.
        Assert.Equal(2, Sum("trainyard.task.retries", pipeline));
        Assert.Equal(2, Sum("trainyard.task.attempts", pipeline, ("trainyard.outcome", "failed")));
        Assert.Equal(8, Sum("trainyard.task.attempts", pipeline, ("trainyard.outcome", "succeeded")));
        Assert.Equal(10, Count("trainyard.task.duration", pipeline));
        Assert.Equal(1, Sum("trainyard.cache.lookups", pipeline, ("hit", true)));
        Assert.Equal(1, Sum("trainyard.cache.lookups", pipeline, ("hit", false)));
        Assert.Equal(10, Count("trainyard.task.dispatch_latency", pipeline));
        Assert.Contains(_metrics, m => m.Name == "trainyard.cache.hit_ratio");
    }

    private static async Task<RunState> RunAsync(RunEngine engine, Runtime.StartRunRequest request)
    {
        using var cts = new CancellationTokenSource(Limit);
        var runId = await engine.StartRunAsync(request, cts.Token);
        var worker = new LocalWorker(engine, new LocalWorkerOptions { Workers = 2, MinIdleDelay = TimeSpan.FromMilliseconds(2), MaxIdleDelay = TimeSpan.FromMilliseconds(20), RunPollInterval = TimeSpan.FromMilliseconds(50) });
        return await worker.RunUntilCompleteAsync(runId, cts.Token);
    }

    // Cumulative temporality: the last snapshot of an instrument holds its totals.
    private IEnumerable<MetricPoint> Points(string name, string pipeline, params (string Key, object Value)[] tags)
    {
        var last = _metrics.LastOrDefault(m => m.Name == name);
        if (last is null)
        {
            yield break;
        }

        foreach (var point in last.MetricPoints)
        {
            var have = new Dictionary<string, object?>();
            foreach (var tag in point.Tags)
            {
                have[tag.Key] = tag.Value;
            }

            if (Equals(have.GetValueOrDefault(TrainyardTelemetry.Tags.Pipeline), pipeline) && tags.All(t => Equals(have.GetValueOrDefault(t.Key), t.Value)))
            {
                yield return point;
            }
        }
    }

    private long Sum(string name, string pipeline, params (string Key, object Value)[] tags) => Points(name, pipeline, tags).Sum(p => p.GetSumLong());

    private long Count(string name, string pipeline, params (string Key, object Value)[] tags) => Points(name, pipeline, tags).Sum(p => p.GetHistogramCount());

    /// <summary>`flaky`: the first attempt of each task fails (retryable), later attempts succeed.</summary>
    private sealed class FlakyStep : IBuiltinStep
    {
        public BuiltinStepInfo Info { get; } = new("flaky", "1", "Fails its first attempt.");

        public Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
            => context.Work.Attempt == 1 ? throw new StepFailedException("first attempt fails on purpose", retryable: true) : Task.FromResult(new TaskResult());
    }
}
