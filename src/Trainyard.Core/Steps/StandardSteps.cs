namespace Trainyard.Core.Steps;

/// <summary>
/// Descriptors of every built-in step Trainyard ships. Implementations (Runtime, Steps.Ml) return these as their
/// Info, so validation (CLI, Function App) knows the steps without loading their code. One source of truth.
/// </summary>
public static class StandardSteps
{
    private static StepInputInfo In(string name, string type, bool required, string description) => new(name, type, required, description);

    /// <summary>Logs its inputs and returns them as outputs.</summary>
    public static BuiltinStepInfo Echo { get; } = new("echo", "1", "Logs `message` and returns every input as an output.")
    {
        Inputs = [In("message", "string", false, "Text to log.")],
        Outputs = ["message"],
        AllowsExtraInputs = true,
        EchoesInputs = true,
    };

    /// <summary>Waits.</summary>
    public static BuiltinStepInfo Sleep { get; } = new("sleep", "1", "Waits for `duration` (cancellable).")
    {
        Inputs = [In("duration", "duration", true, "How long to wait, e.g. 2s.")],
    };

    /// <summary>Fails a number of times, then succeeds (for testing retries).</summary>
    public static BuiltinStepInfo Fail { get; } = new("fail", "1", "Fails its first `times` attempts (default: always), then succeeds.")
    {
        Inputs = [In("times", "integer", false, "Attempts that fail; omit to always fail."), In("message", "string", false, "Failure message.")],
    };

    /// <summary>Writes a text artifact.</summary>
    public static BuiltinStepInfo WriteFile { get; } = new("write-file", "1", "Writes `content` to the artifact `name` and outputs its path.")
    {
        Inputs = [In("name", "string", true, "File name inside the step's output folder."), In("content", "string", true, "Text to write.")],
        Outputs = ["path", "sha256"],
    };

    /// <summary>Checks a dataset against expectations.</summary>
    public static BuiltinStepInfo ValidateData { get; } = new("validate-data", "1", "Checks a CSV dataset against expectations; fails listing every violation.")
    {
        Inputs = [In("dataset", "string", true, "Artifact path of the CSV file."), In("expectations", "object", true, "Expectations (columns, types, ranges, null fractions, ...).")],
        Outputs = ["report", "rows", "passed"],
        AllowsExtraInputs = true,
    };

    /// <summary>Feature engineering.</summary>
    public static BuiltinStepInfo Features { get; } = new("features", "1", "Declarative feature transforms and a seeded train/validation/test split.")
    {
        Inputs = [In("dataset", "string", true, "Artifact path of the CSV file."), In("transforms", "list", false, "Transforms to apply in order.")],
        Outputs = ["train", "validation", "test", "stats"],
        AllowsExtraInputs = true,
    };

    /// <summary>ML.NET training.</summary>
    public static BuiltinStepInfo TrainMlnet { get; } = new("train-mlnet", "1", "Trains an ML.NET binary classifier or regressor; writes model.zip and metrics.json.")
    {
        Inputs = [In("train", "string", true, "Artifact path of the training CSV."), In("label", "string", true, "Label column."), In("trainer", "string", true, "fasttree | lightgbm | sdca | logistic | fastforest.")],
        Outputs = ["model", "metrics"],
        AllowsExtraInputs = true,
    };

    /// <summary>Picks the best of a foreach training matrix.</summary>
    public static BuiltinStepInfo SelectBest { get; } = new("select-best", "1", "Fan-in over a foreach train matrix: picks the best candidate by a metric.")
    {
        Inputs = [In("candidates", "list", true, "Upstream task outputs, e.g. ${{ steps.train.outputs }}."), In("metric", "string", true, "Metric to rank by.")],
        Outputs = ["model", "metrics", "reason"],
        AllowsExtraInputs = true,
    };

    /// <summary>Metric thresholds.</summary>
    public static BuiltinStepInfo QualityGate { get; } = new("quality-gate", "1", "Fails unless metrics meet thresholds (and optionally do not regress against a registry stage).")
    {
        Inputs = [In("metrics", "object", true, "Metrics to check."), In("thresholds", "object", true, "metric -> {min, max}.")],
        Outputs = ["passed", "report"],
        AllowsExtraInputs = true,
    };

    /// <summary>Data drift between two datasets.</summary>
    public static BuiltinStepInfo Drift { get; } = new("drift", "1", "Per-feature PSI and Kolmogorov-Smirnov drift between a reference and a current dataset.")
    {
        Inputs = [In("reference", "string", true, "Artifact path of the reference CSV."), In("current", "string", true, "Artifact path of the current CSV.")],
        Outputs = ["report", "drifted", "max_psi"],
        AllowsExtraInputs = true,
    };

    /// <summary>Model registry: new immutable version.</summary>
    public static BuiltinStepInfo RegisterModel { get; } = new("register-model", "1", "Registers a model version with metrics, params and lineage.")
    {
        Inputs = [In("name", "string", true, "Model name."), In("model", "string", true, "Artifact path of the model file.")],
        Outputs = ["version", "path"],
        AllowsExtraInputs = true,
    };

    /// <summary>Model registry: move a stage alias.</summary>
    public static BuiltinStepInfo PromoteModel { get; } = new("promote-model", "1", "Moves a stage alias (staging, production) to a model version.")
    {
        Inputs = [In("name", "string", true, "Model name."), In("version", "string", true, "Version to promote."), In("stage", "string", true, "staging | production.")],
        Outputs = ["stage", "version", "previous"],
        AllowsExtraInputs = true,
    };

    /// <summary>Every standard step.</summary>
    public static IReadOnlyList<BuiltinStepInfo> All { get; } =
        [Echo, Sleep, Fail, WriteFile, ValidateData, Features, TrainMlnet, SelectBest, QualityGate, Drift, RegisterModel, PromoteModel];

    /// <summary>A catalog of every standard step.</summary>
    public static StepCatalog Catalog { get; } = new(All);
}
