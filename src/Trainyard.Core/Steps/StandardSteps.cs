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
        Inputs = [In("name", "string", true, "File name inside the step's output folder.") with { Rule = InputRule.OutputPath }, In("content", "string", true, "Text to write.")],
        Outputs = ["path", "sha256"],
    };

    /// <summary>Seeded synthetic customer-churn data (for samples, tests and benchmarks).</summary>
    public static BuiltinStepInfo GenerateChurnData { get; } = new("generate-churn-data", "1", "Writes a seeded synthetic customer-churn CSV (same seed and rows: same bytes).")
    {
        Inputs =
        [
            In("rows", "integer", false, "Rows to generate (default 5000)."),
            In("seed", "integer", false, "Random seed (default 42)."),
            In("shift", "number", false, "Distribution shift for drift samples: 0 none (default), 1 strong."),
            In("missingFraction", "number", false, "Share of total_charges left empty (default 0.01)."),
            In("name", "string", false, "File name (default churn.csv).") with { Rule = InputRule.OutputPath },
        ],
        Outputs = ["dataset", "rows"],
    };

    /// <summary>Brings a dataset into the run's artifacts from the data container or the local data root.</summary>
    public static BuiltinStepInfo Ingest { get; } = new("ingest", "1", "Streams a dataset from a blob in the data container or a file under the local data root into the run's artifacts, pinned to the version a trigger saw; records sha256, size, source and ETag in lineage.")
    {
        Inputs =
        [
            In("source", "string", true, "The data URI: file:relative/path under the local data root, or the blob's URL in the data container (a blob trigger's ${{ trigger.url }})."),
            In("etag", "string", false, "The version to read (a blob trigger's ${{ trigger.etag }}); the step fails when the object changed since."),
            In("maxBytes", "integer", false, "Largest object accepted, in bytes (default 10 GiB)."),
            In("name", "string", false, "Artifact file name (default: the source's file name); a plain name, no folders.") with { Rule = InputRule.FileName },
        ],
        Outputs = ["dataset", "sha256", "size", "source", "etag"],
    };

    /// <summary>Checks a dataset against expectations.</summary>
    public static BuiltinStepInfo ValidateData { get; } = new("validate-data", "1", "Streams a CSV or Parquet dataset and checks expectations; fails listing every violation.")
    {
        Inputs =
        [
            In("dataset", "string", true, "Artifact path of the CSV or Parquet file.") with { Rule = InputRule.ArtifactPath },
            In("format", "string", false, "csv or parquet; default from the file extension (.parquet or .pq is Parquet, anything else CSV)."),
            In("expectations", "object", true, "columns (type, required, notNull, min, max, allowed, maxNullFraction, maxOutlierFraction, iqrMultiplier), rowCount {min, max}, maxDuplicateFraction, nullValues."),
        ],
        Outputs = ["report", "rows", "passed", "dataset", "sha256"],
    };

    /// <summary>Feature engineering.</summary>
    public static BuiltinStepInfo Features { get; } = new("features", "1", "Derived ratios, select/drop, one-hot, standardize (fitted on train) and a seeded train/validation/test split.")
    {
        Inputs =
        [
            In("dataset", "string", true, "Artifact path of the CSV file.") with { Rule = InputRule.ArtifactPath },
            In("label", "string", true, "Label column (kept last, untransformed)."),
            In("select", "list", false, "Feature columns to keep (default: all)."),
            In("drop", "list", false, "Columns to drop."),
            In("ratios", "list", false, "Derived columns: {name, numerator, denominator}."),
            In("onehot", "list", false, "Categorical columns to one-hot encode (categories fitted on train)."),
            In("standardize", "list", false, "Numeric columns to standardize, or [numeric] for all (mean/std fitted on train)."),
            In("split", "object", false, "{train, validation, test, seed}; default 0.7/0.15/0.15, seed 42."),
        ],
        Outputs = ["train", "validation", "test", "stats", "features", "label", "rows"],
    };

    /// <summary>ML.NET training.</summary>
    public static BuiltinStepInfo TrainMlnet { get; } = new("train-mlnet", "1", "Trains an ML.NET binary classifier or regressor; writes model.zip and metrics.json.")
    {
        Inputs =
        [
            In("train", "string|list", true, "Artifact path of the training CSV, or a list of row-aligned feature-set CSVs joined column-wise.") with { Rule = InputRule.ArtifactPath },
            In("validation", "string|list", false, "Evaluation CSV(s) (else test, else train), joined like `train`.") with { Rule = InputRule.ArtifactPath },
            In("test", "string|list", false, "Test CSV(s), joined like `train`.") with { Rule = InputRule.ArtifactPath },
            In("label", "string", true, "Label column."),
            In("task", "string", false, "binary (default) | regression."),
            In("trainer", "string", true, "fasttree | lightgbm | sdca | logistic | fastforest."),
            In("features", "list", false, "Feature columns (default: every column but the label)."),
            In("hyperparameters", "object", false, "numberOfTrees, numberOfLeaves, learningRate, minimumExampleCountPerLeaf, numberOfIterations, maximumNumberOfIterations, l2Regularization."),
            In("seed", "integer", false, "ML.NET seed (default 42)."),
        ],
        Outputs = ["model", "metrics", "metricsFile", "trainer", "task", "params"],
    };

    /// <summary>Picks the best of a foreach training matrix.</summary>
    public static BuiltinStepInfo SelectBest { get; } = new("select-best", "1", "Fan-in over a foreach train matrix: picks the best candidate by a metric and records why.")
    {
        Inputs =
        [
            In("candidates", "list", true, "Upstream task outputs, e.g. ${{ steps.train.outputs }}."),
            In("metric", "string", true, "Metric to rank by."),
            In("goal", "string", false, "max | min (default: min for rmse/mae/loss, else max)."),
        ],
        Outputs = ["chosen", "model", "metrics", "trainer", "params", "index", "reason", "candidates", "selection"],
    };

    /// <summary>Metric thresholds.</summary>
    public static BuiltinStepInfo QualityGate { get; } = new("quality-gate", "1", "Fails unless metrics meet thresholds (and optionally do not regress against a registry stage).")
    {
        Inputs =
        [
            In("metrics", "object", true, "Metrics to check."),
            In("thresholds", "object", false, "metric -> {min, max}."),
            In("compare", "object", false, "{model, stage (default production), metric, maxRegression, goal}: no worse than the staged model."),
            In("failOnViolation", "boolean", false, "true (default) fails the task; false reports passed=false."),
        ],
        Outputs = ["passed", "report", "failures"],
    };

    /// <summary>Data drift between two datasets.</summary>
    public static BuiltinStepInfo Drift { get; } = new("drift", "1", "Per-feature PSI and Kolmogorov-Smirnov drift between a reference and a current dataset.")
    {
        Inputs =
        [
            In("reference", "string", true, "Artifact path of the reference CSV.") with { Rule = InputRule.ArtifactPath },
            In("current", "string", true, "Artifact path of the current CSV.") with { Rule = InputRule.ArtifactPath },
            In("features", "list", false, "Numeric columns to compare (default: every numeric column of both)."),
            In("bins", "integer", false, "PSI bins (reference quantiles, default 10)."),
            In("psiThreshold", "number", false, "PSI at or above which a feature drifted (default 0.2)."),
            In("ksAlpha", "number", false, "KS p-value below which the KS test flags a feature (default 0.01)."),
            In("sampleSize", "integer", false, "Reservoir size per feature (default 100000)."),
            In("emit", "boolean", false, "Send a drift signal per drifted feature (default false)."),
            In("model", "string", false, "Model named in signals (required with emit).") with { Rule = InputRule.ModelName },
            In("window", "string", false, "Window the current data covers (default: today's date)."),
        ],
        Outputs = ["report", "drifted", "driftedFeatures", "max_psi", "signals"],
    };

    /// <summary>Model registry: new immutable version.</summary>
    public static BuiltinStepInfo RegisterModel { get; } = new("register-model", "1", "Registers an immutable model version with metrics, params, data hashes and lineage.")
    {
        Inputs =
        [
            In("name", "string", true, "Model name.") with { Rule = InputRule.ModelName },
            In("model", "string", true, "Artifact path of the model file.") with { Rule = InputRule.ArtifactPath },
            In("metrics", "object", false, "Metrics to record."),
            In("params", "object", false, "Training parameters to record."),
            In("data", "list", false, "Artifact paths of the data it was trained on (hashes recorded).") with { Rule = InputRule.ArtifactPath },
            In("files", "list", false, "Extra artifact paths to store with the model (e.g. feature stats).") with { Rule = InputRule.ArtifactPath },
            In("description", "string", false, "Free text."),
        ],
        Outputs = ["name", "version", "path", "model"],
    };

    /// <summary>Model registry: move a stage alias.</summary>
    public static BuiltinStepInfo PromoteModel { get; } = new("promote-model", "1", "Moves a stage alias (staging, production) to a model version, or rolls it back.")
    {
        Inputs =
        [
            In("name", "string", true, "Model name.") with { Rule = InputRule.ModelName },
            In("version", "integer", false, "Version to promote (required unless rollback)."),
            In("stage", "string", true, "staging | production."),
            In("rollback", "boolean", false, "Move the stage back to its previous version instead."),
        ],
        Outputs = ["stage", "version", "previous"],
    };

    /// <summary>Every standard step.</summary>
    public static IReadOnlyList<BuiltinStepInfo> All { get; } =
        [Echo, Sleep, Fail, WriteFile, GenerateChurnData, Ingest, ValidateData, Features, TrainMlnet, SelectBest, QualityGate, Drift, RegisterModel, PromoteModel];

    /// <summary>A catalog of every standard step.</summary>
    public static StepCatalog Catalog { get; } = new(All);
}
