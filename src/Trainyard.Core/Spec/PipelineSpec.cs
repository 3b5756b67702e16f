using System.Text.Json;

namespace Trainyard.Core.Spec;

/// <summary>A validated pipeline definition: one YAML file, versioned by the SHA-256 of its text.</summary>
public sealed record PipelineSpec
{
    /// <summary>Pipeline name (same id rules as steps).</summary>
    public required string Name { get; init; }

    /// <summary>Free text shown in listings.</summary>
    public string? Description { get; init; }

    /// <summary>Typed run parameters, in file order.</summary>
    public IReadOnlyList<ParamSpec> Params { get; init; } = [];

    /// <summary>What starts runs besides a manual start.</summary>
    public IReadOnlyList<TriggerSpec> Triggers { get; init; } = [];

    /// <summary>Step defaults (retry, timeout, executor).</summary>
    public DefaultsSpec Defaults { get; init; } = new();

    /// <summary>Run-level bound on tasks in flight at once (null: unbounded).</summary>
    public int? MaxParallel { get; init; }

    /// <summary>Run-level timeout (null: none).</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>The steps, in file order.</summary>
    public IReadOnlyList<StepSpec> Steps { get; init; } = [];

    /// <summary>Webhooks told about this pipeline's runs (`notify:`).</summary>
    public IReadOnlyList<NotifySpec> Notify { get; init; } = [];

    /// <summary>Lower-case hex SHA-256 of the spec's source text; the pipeline version.</summary>
    public string ContentHash { get; init; } = "";

    /// <summary>Where the spec came from (file path or registry name), for messages.</summary>
    public string? Source { get; init; }

    /// <summary>Finds a step by id, or null.</summary>
    public StepSpec? FindStep(string id) => Steps.FirstOrDefault(s => s.Id == id);
}

/// <summary>Parameter types.</summary>
public enum ParamType
{
    /// <summary>Text.</summary>
    String,
    /// <summary>Any JSON number.</summary>
    Number,
    /// <summary>A whole number.</summary>
    Integer,
    /// <summary>true or false.</summary>
    Boolean,
    /// <summary>A list of values.</summary>
    List,
}

/// <summary>One declared run parameter.</summary>
public sealed record ParamSpec(string Name, ParamType Type)
{
    /// <summary>Default value (already type-checked), or null for none.</summary>
    public JsonElement? Default { get; init; }

    /// <summary>Whether a run must supply a value (only meaningful without a default).</summary>
    public bool Required { get; init; }

    /// <summary>Free text.</summary>
    public string? Description { get; init; }

    /// <summary>Where it was declared.</summary>
    public SourceLocation? Location { get; init; }
}

/// <summary>A trigger: something that starts runs.</summary>
public abstract record TriggerSpec
{
    /// <summary>Stable trigger id (explicit `id`, else kind + index, e.g. "schedule-0"); part of deterministic run ids.</summary>
    public required string Id { get; init; }

    /// <summary>Run params set by this trigger (values may be expressions over `trigger.*`).</summary>
    public IReadOnlyDictionary<string, JsonElement> Params { get; init; } = new Dictionary<string, JsonElement>();

    /// <summary>Where it was declared.</summary>
    public SourceLocation? Location { get; init; }
}

/// <summary>What to do about scheduled times missed while nothing was running.</summary>
public enum CatchUpPolicy
{
    /// <summary>One run for the newest missed time.</summary>
    Latest,
    /// <summary>Every missed time (bounded by MaxCatchUp).</summary>
    All,
    /// <summary>Skip missed times.</summary>
    None,
}

/// <summary>Cron schedule (5 or 6 fields; seconds optional) in a time zone.</summary>
public sealed record ScheduleTriggerSpec : TriggerSpec
{
    /// <summary>Cron expression.</summary>
    public required string Cron { get; init; }

    /// <summary>IANA or Windows time-zone id; UTC when absent.</summary>
    public string TimeZone { get; init; } = "UTC";

    /// <summary>Catch-up policy after downtime.</summary>
    public CatchUpPolicy CatchUp { get; init; } = CatchUpPolicy.Latest;

    /// <summary>Upper bound on runs started by one catch-up with policy All.</summary>
    public int MaxCatchUp { get; init; } = 100;
}

/// <summary>New blob in a container matching a path pattern; `{name}` captures become run params.</summary>
public sealed record BlobTriggerSpec : TriggerSpec
{
    /// <summary>Container name.</summary>
    public required string Container { get; init; }

    /// <summary>Glob with named captures, e.g. "daily/{date}/*.csv".</summary>
    public required string Path { get; init; }

    /// <summary>Group a burst of blobs into one run (null: one run per blob).</summary>
    public TimeSpan? Debounce { get; init; }
}

/// <summary>A drift signal for a model's metric above a threshold.</summary>
public sealed record DriftTriggerSpec : TriggerSpec
{
    /// <summary>Model name the signal must name.</summary>
    public required string Model { get; init; }

    /// <summary>Metric name (psi, ks, ...).</summary>
    public required string Metric { get; init; }

    /// <summary>Signals with value at or above this start a run.</summary>
    public required double Threshold { get; init; }

    /// <summary>Minimum time between two runs started by this trigger.</summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromHours(1);
}

/// <summary>Started by hand (CLI or HTTP API). Every pipeline can be started by hand; this just documents it.</summary>
public sealed record ManualTriggerSpec : TriggerSpec;

/// <summary>Defaults applied to steps that do not set the field.</summary>
public sealed record DefaultsSpec
{
    /// <summary>Default retry policy.</summary>
    public RetryPolicy? Retry { get; init; }

    /// <summary>Default per-attempt timeout.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Default executor.</summary>
    public ExecutorKind? Executor { get; init; }
}

/// <summary>Where a step runs.</summary>
public enum ExecutorKind
{
    /// <summary>In-process built-in step (`uses`).</summary>
    Builtin,
    /// <summary>A local child process (`run`).</summary>
    Local,
    /// <summary>An Azure Batch task (`run`).</summary>
    Batch,
}

/// <summary>What a failed step does to its run.</summary>
public enum OnFailure
{
    /// <summary>The run fails (after retries are exhausted).</summary>
    FailRun,
    /// <summary>The run goes on; dependents of the failed step are skipped.</summary>
    Continue,
}

/// <summary>One step of the DAG.</summary>
public sealed record StepSpec
{
    /// <summary>Step id, `[a-z][a-z0-9-]{0,62}`.</summary>
    public required string Id { get; init; }

    /// <summary>Ids of steps that must finish first.</summary>
    public IReadOnlyList<string> Needs { get; init; } = [];

    /// <summary>Built-in step name (exclusive with Run).</summary>
    public string? Uses { get; init; }

    /// <summary>Command to run (exclusive with Uses).</summary>
    public RunSpec? Run { get; init; }

    /// <summary>Inputs; values may hold `${{ }}` expressions.</summary>
    public IReadOnlyDictionary<string, JsonElement> With { get; init; } = new Dictionary<string, JsonElement>();

    /// <summary>Condition expression text (with or without the `${{ }}` wrapper); null = always.</summary>
    public string? When { get; init; }

    /// <summary>Dynamic fan-out.</summary>
    public ForeachSpec? Foreach { get; init; }

    /// <summary>Retry policy (null: defaults, else a single attempt).</summary>
    public RetryPolicy? Retry { get; init; }

    /// <summary>Per-attempt timeout.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Executor (null: defaults, else builtin for `uses` and local for `run`).</summary>
    public ExecutorKind? Executor { get; init; }

    /// <summary>The executor the step runs on: its own, else builtin for `uses`, else the pipeline default, else local.</summary>
    public ExecutorKind EffectiveExecutor(DefaultsSpec defaults) =>
        Executor ?? (Uses is not null ? ExecutorKind.Builtin : defaults.Executor ?? ExecutorKind.Local);

    /// <summary>Resources asked of the executor.</summary>
    public ResourceSpec? Resources { get; init; }

    /// <summary>Step caching.</summary>
    public CacheSpec? Cache { get; init; }

    /// <summary>Declared outputs (small values a step reports in outputs.json or that a built-in produces).</summary>
    public IReadOnlyList<OutputSpec> Outputs { get; init; } = [];

    /// <summary>What failure does to the run.</summary>
    public OnFailure OnFailure { get; init; } = OnFailure.FailRun;

    /// <summary>Webhooks told about this step (`notify:` on the step).</summary>
    public IReadOnlyList<NotifySpec> Notify { get; init; } = [];

    /// <summary>Where the step was declared.</summary>
    public SourceLocation? Location { get; init; }
}

/// <summary>A command, run as argv (never through a shell).</summary>
public sealed record RunSpec
{
    /// <summary>argv; elements may hold `${{ }}` expressions.</summary>
    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>Container image (Batch; local ignores it with a warning).</summary>
    public string? Image { get; init; }

    /// <summary>Environment variables; values may hold expressions.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
}

/// <summary>Fan a step out over a list.</summary>
public sealed record ForeachSpec
{
    /// <summary>A literal list, or a string holding an expression that yields a list.</summary>
    public required JsonElement Items { get; init; }

    /// <summary>Bound on items in flight at once (null: unbounded).</summary>
    public int? MaxParallel { get; init; }
}

/// <summary>Retry with exponential backoff and deterministic jitter.</summary>
public sealed record RetryPolicy
{
    /// <summary>Attempts in all, 1..100.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>Delay before the second attempt.</summary>
    public TimeSpan InitialInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Multiplier per attempt, at least 1.</summary>
    public double BackoffCoefficient { get; init; } = 2.0;

    /// <summary>Cap on one delay.</summary>
    public TimeSpan MaxInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Jitter fraction 0..1: the delay is scaled by a factor in [1 - jitter, 1 + jitter].</summary>
    public double Jitter { get; init; } = 0.1;

    /// <summary>One attempt, no retry.</summary>
    public static RetryPolicy None { get; } = new() { MaxAttempts = 1, Jitter = 0 };
}

/// <summary>Resources asked of an executor.</summary>
public sealed record ResourceSpec
{
    /// <summary>CPU cores.</summary>
    public double? Cpu { get; init; }

    /// <summary>Memory in GiB.</summary>
    public double? MemoryGiB { get; init; }

    /// <summary>GPUs.</summary>
    public int? Gpu { get; init; }

    /// <summary>Batch pool id.</summary>
    public string? Pool { get; init; }
}

/// <summary>Step caching.</summary>
public sealed record CacheSpec
{
    /// <summary>Whether hits may be reused.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Oldest cached result that may be reused (null: any age).</summary>
    public TimeSpan? MaxAge { get; init; }
}

/// <summary>Something a `notify:` webhook can be told about.</summary>
public enum NotifyEvent
{
    /// <summary>`run-failed`: a run failed (pipeline level).</summary>
    RunFailed,
    /// <summary>`run-succeeded`: a run succeeded (pipeline level).</summary>
    RunSucceeded,
    /// <summary>`run-stuck`: a run is still running after `stuckAfter` (pipeline level).</summary>
    RunStuck,
    /// <summary>`step-failed`: a task of the step failed for good.</summary>
    StepFailed,
    /// <summary>`quality-gate-failed`: a `quality-gate` step failed or reported passed: false.</summary>
    QualityGateFailed,
    /// <summary>`drift-detected`: a `drift` step reported drifted: true.</summary>
    DriftDetected,
}

/// <summary>
/// One `notify:` entry: a webhook and the events it is told about. The URL may be named by a configuration setting
/// (`urlFrom`) because Slack and Teams webhook URLs carry their token; the signing secret is always configuration.
/// </summary>
public sealed record NotifySpec
{
    /// <summary>Webhook URL (https, or http to a loopback address), or null when <see cref="UrlFrom"/> names it.</summary>
    public string? Url { get; init; }

    /// <summary>Name of the environment variable / app setting holding the URL.</summary>
    public string? UrlFrom { get; init; }

    /// <summary>Events sent (the defaults depend on the level; see <see cref="NotifyEvents"/>).</summary>
    public IReadOnlyList<NotifyEvent>? On { get; init; }

    /// <summary>Name of the environment variable / app setting holding the HMAC-SHA256 signing secret.</summary>
    public string? SecretFrom { get; init; }

    /// <summary>For `run-stuck`: how long a run may run before it counts as stuck.</summary>
    public TimeSpan? StuckAfter { get; init; }

    /// <summary>Where it was declared.</summary>
    public SourceLocation? Location { get; init; }
}

/// <summary>Event names and defaults of <see cref="NotifySpec"/>.</summary>
public static class NotifyEvents
{
    /// <summary>YAML spelling of each event.</summary>
    public static IReadOnlyList<(string Name, NotifyEvent Value)> Names { get; } =
    [
        ("run-failed", NotifyEvent.RunFailed), ("run-succeeded", NotifyEvent.RunSucceeded), ("run-stuck", NotifyEvent.RunStuck),
        ("step-failed", NotifyEvent.StepFailed), ("quality-gate-failed", NotifyEvent.QualityGateFailed), ("drift-detected", NotifyEvent.DriftDetected),
    ];

    /// <summary>Events of a pipeline-level entry without `on`.</summary>
    public static IReadOnlyList<NotifyEvent> PipelineDefault { get; } = [NotifyEvent.RunFailed, NotifyEvent.QualityGateFailed, NotifyEvent.DriftDetected, NotifyEvent.RunStuck];

    /// <summary>Events of a step-level entry without `on`.</summary>
    public static IReadOnlyList<NotifyEvent> StepDefault { get; } = [NotifyEvent.StepFailed, NotifyEvent.QualityGateFailed, NotifyEvent.DriftDetected];

    /// <summary>Events a step-level entry may ask for.</summary>
    public static IReadOnlyList<NotifyEvent> StepLevel { get; } = StepDefault;

    /// <summary>The YAML spelling of <paramref name="value"/>.</summary>
    public static string NameOf(NotifyEvent value) => Names.First(n => n.Value == value).Name;

    /// <summary>The events an entry is told about at its level.</summary>
    public static IReadOnlyList<NotifyEvent> Effective(NotifySpec notify, bool stepLevel)
    {
        ArgumentNullException.ThrowIfNull(notify);
        return notify.On ?? (stepLevel ? StepDefault : PipelineDefault);
    }
}

/// <summary>A declared step output.</summary>
public sealed record OutputSpec(string Name)
{
    /// <summary>Free text.</summary>
    public string? Description { get; init; }
}

/// <summary>A place in a source file (1-based line and column).</summary>
public sealed record SourceLocation(string File, int Line, int Column)
{
    /// <inheritdoc />
    public override string ToString() => $"{File}:{Line}:{Column}";
}
