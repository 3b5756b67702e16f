namespace Trainyard.Core.Spec;

/// <summary>
/// Every field name the loader accepts, per object kind. Keys are the `$defs` names in schemas/pipeline.schema.json;
/// a test keeps the two in step, so the schema cannot drift from the loader.
/// </summary>
public static class SpecFields
{
    /// <summary>Top level of a pipeline file.</summary>
    public static IReadOnlyList<string> Pipeline { get; } = ["name", "description", "params", "triggers", "defaults", "maxParallel", "timeout", "steps", "notify"];

    /// <summary>One declared param.</summary>
    public static IReadOnlyList<string> Param { get; } = ["type", "default", "required", "description"];

    /// <summary>Fields every trigger has.</summary>
    public static IReadOnlyList<string> TriggerCommon { get; } = ["type", "id", "params"];

    /// <summary>A schedule trigger.</summary>
    public static IReadOnlyList<string> ScheduleTrigger { get; } = [.. TriggerCommon, "cron", "timezone", "catchUp", "maxCatchUp"];

    /// <summary>A blob trigger.</summary>
    public static IReadOnlyList<string> BlobTrigger { get; } = [.. TriggerCommon, "container", "path", "debounce"];

    /// <summary>A drift trigger.</summary>
    public static IReadOnlyList<string> DriftTrigger { get; } = [.. TriggerCommon, "model", "metric", "threshold", "cooldown"];

    /// <summary>A manual trigger.</summary>
    public static IReadOnlyList<string> ManualTrigger { get; } = TriggerCommon;

    /// <summary>The `defaults` block.</summary>
    public static IReadOnlyList<string> Defaults { get; } = ["retry", "timeout", "executor"];

    /// <summary>One step.</summary>
    public static IReadOnlyList<string> Step { get; } =
        ["id", "needs", "uses", "run", "with", "when", "foreach", "retry", "timeout", "executor", "resources", "cache", "outputs", "onFailure", "notify"];

    /// <summary>A step's `run`.</summary>
    public static IReadOnlyList<string> Run { get; } = ["command", "image", "env"];

    /// <summary>A step's `foreach` in its long form.</summary>
    public static IReadOnlyList<string> Foreach { get; } = ["items", "maxParallel"];

    /// <summary>A retry policy.</summary>
    public static IReadOnlyList<string> Retry { get; } = ["maxAttempts", "initialInterval", "backoffCoefficient", "maxInterval", "jitter"];

    /// <summary>A step's `resources`.</summary>
    public static IReadOnlyList<string> Resources { get; } = ["cpu", "memoryGiB", "gpu", "pool"];

    /// <summary>A step's `cache` in its long form.</summary>
    public static IReadOnlyList<string> Cache { get; } = ["enabled", "maxAge"];

    /// <summary>One declared output in its long form.</summary>
    public static IReadOnlyList<string> Output { get; } = ["name", "description"];

    /// <summary>One `notify:` entry (pipeline or step level).</summary>
    public static IReadOnlyList<string> Notify { get; } = ["url", "urlFrom", "on", "secretFrom", "stuckAfter"];

    /// <summary>All of the above by schema `$defs` name.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> ByDefinition { get; } = new Dictionary<string, IReadOnlyList<string>>
    {
        ["pipeline"] = Pipeline,
        ["param"] = Param,
        ["scheduleTrigger"] = ScheduleTrigger,
        ["blobTrigger"] = BlobTrigger,
        ["driftTrigger"] = DriftTrigger,
        ["manualTrigger"] = ManualTrigger,
        ["defaults"] = Defaults,
        ["step"] = Step,
        ["run"] = Run,
        ["foreach"] = Foreach,
        ["retry"] = Retry,
        ["resources"] = Resources,
        ["cache"] = Cache,
        ["output"] = Output,
        ["notify"] = Notify,
    };

    /// <summary>Fields of `run.*` available to expressions.</summary>
    public static IReadOnlyList<string> RunContext { get; } = ["id", "pipeline", "version", "retryOf"];

    /// <summary>Roots an expression may start with (events.NAME reads the payload of an event raised into the run).</summary>
    public static IReadOnlyList<string> ExpressionRoots { get; } = ["params", "steps", "item", "run", "events"];
}
