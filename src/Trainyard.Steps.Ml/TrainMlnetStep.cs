using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Microsoft.ML.Trainers.FastTree;
using Microsoft.ML.Trainers.LightGbm;
using Trainyard.Core.Engine;
using Trainyard.Core.Steps;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml;

/// <summary>
/// `train-mlnet`: trains an ML.NET binary classifier or regressor on an all-numeric CSV (every column but the label
/// is a feature unless `features` lists them), evaluates it on the validation split (else test, else train) and
/// writes `model.zip` and `metrics.json`.
/// </summary>
public sealed class TrainMlnetStep : IBuiltinStep
{
    private static readonly string[] BinaryTrainers = ["fasttree", "lightgbm", "sdca", "logistic", "fastforest"];
    private static readonly string[] RegressionTrainers = ["fasttree", "lightgbm", "sdca", "fastforest"];

    /// <inheritdoc />
    public BuiltinStepInfo Info => StandardSteps.TrainMlnet;

    /// <inheritdoc />
    public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var inputs = StepInputs.Of(Info.Name, context);
        var io = new StepIo(context, inputs) { Token = cancellationToken };
        var label = inputs.RequiredString("label");
        var task = inputs.OptionalString("task") ?? "binary";
        var trainer = (inputs.OptionalString("trainer") ?? throw inputs.Bad("trainer", "is required")).ToLowerInvariant();
        var allowed = task switch
        {
            "binary" => BinaryTrainers,
            "regression" => RegressionTrainers,
            _ => throw inputs.Bad("task", $"must be binary or regression, got '{task}'"),
        };
        if (!allowed.Contains(trainer))
        {
            throw inputs.Bad("trainer", $"'{trainer}' is not a {task} trainer; use one of {string.Join(", ", allowed)}");
        }

        var hp = Hyperparameters.Parse(inputs);
        var seed = inputs.Integer("seed", 42);
        var trainPath = await StageAsync(io, "train");
        string? evalInput = inputs.Has("validation") ? "validation" : inputs.Has("test") ? "test" : null;
        var evalPath = evalInput is null ? trainPath : await StageAsync(io, evalInput);
        var header = ReadHeader(trainPath);
        var labelIndex = Array.IndexOf(header, label);
        if (labelIndex < 0)
        {
            throw inputs.Bad("label", $"names column '{label}', which the training data does not have (columns: {string.Join(", ", header)})");
        }

        var featureNames = inputs.StringList("features") is { Count: > 0 } f ? f : [.. header.Where(h => h != label)];
        var featureIndexes = featureNames.Select(n => Array.IndexOf(header, n) is var i and >= 0 ? i : throw inputs.Bad("features", $"names column '{n}', which the training data does not have")).ToArray();

        var ml = new MLContext(seed);
        var loader = ml.Data.CreateTextLoader(
            [
                new TextLoader.Column("Label", task == "binary" ? DataKind.Boolean : DataKind.Single, labelIndex),
                new TextLoader.Column("Features", DataKind.Single, [.. featureIndexes.Select(i => new TextLoader.Range(i))]),
            ],
            separatorChar: ',', hasHeader: true);
        var trainData = ml.Data.Cache(loader.Load(trainPath));
        var evalData = loader.Load(evalPath);
        var estimator = Trainer(ml, task, trainer, hp);
        ITransformer model;
        try
        {
            model = estimator.Fit(trainData);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentOutOfRangeException or FormatException)
        {
            throw new StepFailedException($"train-mlnet: {trainer} failed to train on {string.Join(", ", inputs.StringList("train"))}: {e.Message}. Check the label column and hyperparameters.");
        }

        var predictions = model.Transform(evalData);
        var metrics = task == "binary" ? BinaryMetrics(ml, predictions) : RegressionMetrics(ml, predictions);
        var modelPath = io.ScratchPath("model.zip");
        ml.Model.Save(model, trainData.Schema, modelPath);
        await io.PutFileAsync("model", "model.zip", modelPath);
        var report = new TrainingReport(task, trainer, label, featureNames, hp.Values, seed, evalInput ?? "train", metrics);
        await io.PutJsonAsync("metricsFile", "metrics.json", report);
        io.SetOutput("metrics", metrics);
        io.SetOutput("trainer", trainer);
        io.SetOutput("task", task);
        io.SetOutput("params", hp.Values);
        await context.Log($"train-mlnet: {trainer} {string.Join(", ", metrics.Select(m => $"{m.Key}={m.Value.ToString("0.####", CultureInfo.InvariantCulture)}"))}", cancellationToken);
        return await io.FinishAsync();
    }

    /// <summary>
    /// Copies an input CSV to the scratch folder. A list of CSVs is joined column-wise (feature sets built from the
    /// same dataset with the same split seed are row-aligned); a column already present (the label) is kept once.
    /// </summary>
    private static async Task<string> StageAsync(StepIo io, string input)
    {
        var paths = io.Inputs.PathList(input);
        if (paths.Count == 0)
        {
            throw io.Inputs.Bad(input, "is required (an artifact path or a list of them)");
        }

        var locals = new List<string>();
        for (var i = 0; i < paths.Count; i++)
        {
            var (stream, info) = await io.OpenPathAsync(input, paths[i]);
            if (info.Size == 0)
            {
                throw new StepFailedException($"train-mlnet: input '{input}' ({info.Path}) is empty.");
            }

            var local = io.ScratchPath($"{input}-{i}.csv");
            await using (stream)
            await using (var file = File.Create(local))
            {
                await stream.CopyToAsync(file, io.Token);
            }

            locals.Add(local);
        }

        return locals.Count == 1 ? locals[0] : JoinColumns(io, input, paths, locals);
    }

    private static string JoinColumns(StepIo io, string input, IReadOnlyList<string> paths, List<string> locals)
    {
        var target = io.ScratchPath(input + ".csv");
        var readers = locals.Select(l => new CsvReader(File.OpenRead(l), l)).ToList();
        try
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var keep = readers.Select(r => r.Header.Select((h, i) => (h, i)).Where(c => seen.Add(c.h)).Select(c => c.i).ToArray()).ToList();
            using var writer = new CsvWriter(new StreamWriter(target));
            writer.WriteRow(readers.SelectMany((r, k) => keep[k].Select(i => r.Header[i])));
            var row = new List<string>();
            while (true)
            {
                var more = readers.Select(r => r.Read()).ToList();
                if (more.Distinct().Count() > 1)
                {
                    throw new StepFailedException(
                        $"train-mlnet: the feature sets in '{input}' ({string.Join(", ", paths)}) have different row counts; build them from the same dataset with the same split seed.");
                }

                if (!more[0])
                {
                    return target;
                }

                row.Clear();
                for (var k = 0; k < readers.Count; k++)
                {
                    row.AddRange(keep[k].Select(i => readers[k].Fields[i]));
                }

                writer.WriteRow(row);
            }
        }
        finally
        {
            readers.ForEach(r => r.Dispose());
        }
    }

    private static string[] ReadHeader(string path)
    {
        using var csv = new CsvReader(File.OpenRead(path), path);
        return [.. csv.Header];
    }

    private static IEstimator<ITransformer> Trainer(MLContext ml, string task, string trainer, Hyperparameters hp)
    {
        var b = ml.BinaryClassification.Trainers;
        var r = ml.Regression.Trainers;
        var binary = task == "binary";
        return trainer switch
        {
            "fasttree" when binary => b.FastTree(hp.FastTree<FastTreeBinaryTrainer.Options>()),
            "fasttree" => r.FastTree(hp.FastTree<FastTreeRegressionTrainer.Options>()),
            "fastforest" when binary => b.FastForest(hp.Forest<FastForestBinaryTrainer.Options>()),
            "fastforest" => r.FastForest(hp.Forest<FastForestRegressionTrainer.Options>()),
            "lightgbm" when binary => b.LightGbm(hp.LightGbmBinary()),
            "lightgbm" => r.LightGbm(hp.LightGbmRegression()),
            "sdca" when binary => b.SdcaLogisticRegression(new SdcaLogisticRegressionBinaryTrainer.Options
            {
                MaximumNumberOfIterations = hp.Int("maximumNumberOfIterations"),
                L2Regularization = hp.Float("l2Regularization"),
                NumberOfThreads = 1,
            }),
            "sdca" => r.Sdca(new SdcaRegressionTrainer.Options
            {
                MaximumNumberOfIterations = hp.Int("maximumNumberOfIterations"),
                L2Regularization = hp.Float("l2Regularization"),
                NumberOfThreads = 1,
            }),
            _ => b.LbfgsLogisticRegression(new LbfgsLogisticRegressionBinaryTrainer.Options
            {
                L2Regularization = hp.Float("l2Regularization") ?? 1f,
                MaximumNumberOfIterations = hp.Int("maximumNumberOfIterations") ?? 100,
                NumberOfThreads = 1,
            }),
        };
    }

    private static Dictionary<string, double> BinaryMetrics(MLContext ml, IDataView predictions)
    {
        // Non-calibrated evaluation works for every trainer (FastForest has no probability column).
        var m = ml.BinaryClassification.EvaluateNonCalibrated(predictions);
        return Clean(new()
        {
            ["auc"] = m.AreaUnderRocCurve,
            ["accuracy"] = m.Accuracy,
            ["f1"] = m.F1Score,
            ["precision"] = m.PositivePrecision,
            ["recall"] = m.PositiveRecall,
        });
    }

    private static Dictionary<string, double> RegressionMetrics(MLContext ml, IDataView predictions)
    {
        var m = ml.Regression.Evaluate(predictions);
        return Clean(new() { ["rmse"] = m.RootMeanSquaredError, ["mae"] = m.MeanAbsoluteError, ["r2"] = m.RSquared });
    }

    // NaN (e.g. precision with no positive prediction) becomes 0 so metrics stay valid JSON numbers.
    private static Dictionary<string, double> Clean(Dictionary<string, double> m) =>
        m.ToDictionary(kv => kv.Key, kv => double.IsFinite(kv.Value) ? Math.Round(kv.Value, 6) : 0);

    private sealed record TrainingReport(string Task, string Trainer, string Label, IReadOnlyList<string> Features,
        IReadOnlyDictionary<string, double> Params, int Seed, string EvaluatedOn, IReadOnlyDictionary<string, double> Metrics);

    private sealed class Hyperparameters
    {
        private static readonly string[] Known =
            ["numberOfTrees", "numberOfLeaves", "learningRate", "minimumExampleCountPerLeaf", "numberOfIterations", "maximumNumberOfIterations", "l2Regularization"];

        public Dictionary<string, double> Values { get; } = new(StringComparer.Ordinal);

        public static Hyperparameters Parse(StepInputs inputs)
        {
            var hp = new Hyperparameters();
            if (inputs.OptionalObject("hyperparameters") is not { } obj)
            {
                return hp;
            }

            foreach (var p in obj.EnumerateObject())
            {
                if (!Known.Contains(p.Name))
                {
                    throw inputs.Bad($"hyperparameters.{p.Name}", $"is not a known hyperparameter ({string.Join(", ", Known)})");
                }

                hp.Values[p.Name] = inputs.ToNumber(p.Value, $"hyperparameters.{p.Name}");
            }

            return hp;
        }

        public int? Int(string name) => Values.TryGetValue(name, out var v) ? (int)v : null;

        public float? Float(string name) => Values.TryGetValue(name, out var v) ? (float)v : null;

        public T FastTree<T>()
            where T : BoostedTreeOptions, new() => new()
            {
                NumberOfTrees = Int("numberOfTrees") ?? 100,
                NumberOfLeaves = Int("numberOfLeaves") ?? 20,
                LearningRate = Values.GetValueOrDefault("learningRate", 0.2),
                MinimumExampleCountPerLeaf = Int("minimumExampleCountPerLeaf") ?? 10,
                NumberOfThreads = 1,
            };

        public T Forest<T>()
            where T : FastForestOptionsBase, new() => new()
            {
                NumberOfTrees = Int("numberOfTrees") ?? 100,
                NumberOfLeaves = Int("numberOfLeaves") ?? 20,
                MinimumExampleCountPerLeaf = Int("minimumExampleCountPerLeaf") ?? 10,
                NumberOfThreads = 1,
            };

        public LightGbmBinaryTrainer.Options LightGbmBinary() => new()
        {
            NumberOfIterations = Int("numberOfIterations") ?? Int("numberOfTrees") ?? 100,
            NumberOfLeaves = Int("numberOfLeaves") ?? 20,
            LearningRate = Values.GetValueOrDefault("learningRate", 0.1),
            MinimumExampleCountPerLeaf = Int("minimumExampleCountPerLeaf") ?? 10,
            NumberOfThreads = 1,
            Seed = 42,
        };

        public LightGbmRegressionTrainer.Options LightGbmRegression() => new()
        {
            NumberOfIterations = Int("numberOfIterations") ?? Int("numberOfTrees") ?? 100,
            NumberOfLeaves = Int("numberOfLeaves") ?? 20,
            LearningRate = Values.GetValueOrDefault("learningRate", 0.1),
            MinimumExampleCountPerLeaf = Int("minimumExampleCountPerLeaf") ?? 10,
            NumberOfThreads = 1,
            Seed = 42,
        };
    }
}
