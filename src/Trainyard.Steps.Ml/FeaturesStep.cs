using System.Globalization;
using System.Text;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Steps;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml;

/// <summary>
/// `features`: derived ratios, select/drop, seeded train/validation/test split, then one-hot encoding, mean
/// imputation and standardization fitted on the training split only (no leakage). Writes all-numeric CSVs and
/// `stats.json` (the fitted encoding, means and standard deviations) for serving. Holds the table in memory:
/// meant for training-set sizes; validate-data is the streaming step.
/// </summary>
public sealed class FeaturesStep : IBuiltinStep
{
    /// <inheritdoc />
    public BuiltinStepInfo Info => StandardSteps.Features;

    /// <inheritdoc />
    public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var inputs = StepInputs.Of(Info.Name, context);
        var io = new StepIo(context, inputs) { Token = cancellationToken };
        var label = inputs.RequiredString("label");
        var (stream, info) = await io.OpenInputAsync("dataset");
        Table table;
        using (var csv = io.OpenCsv(stream, info.Path))
        {
            table = Table.Load(csv, inputs.Step);
        }

        foreach (var ratio in Ratios(inputs))
        {
            table.AddRatio(inputs, ratio.Name, ratio.Numerator, ratio.Denominator);
        }

        table.Require(inputs, "label", label);
        var keep = SelectColumns(inputs, table, label);
        var onehot = inputs.StringList("onehot");
        foreach (var c in onehot)
        {
            table.Require(inputs, "onehot", c);
        }

        var standardize = inputs.StringList("standardize");
        var (trainRows, validationRows, testRows, seed) = Split(inputs, table.Rows.Count);
        var plan = FitPlan(inputs, table, keep, label, onehot, standardize, trainRows);
        var outputs = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (name, rows) in new[] { ("train", trainRows), ("validation", validationRows), ("test", testRows) })
        {
            var path = io.ScratchPath(name + ".csv");
            await using (var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16))
            {
                plan.Write(writer, table, rows);
            }

            await io.PutFileAsync(name, name + ".csv", path);
            outputs[name] = rows.Count;
        }

        await io.PutJsonAsync("stats", "stats.json", plan.Stats(seed));
        io.SetOutput("features", plan.OutputFeatures);
        io.SetOutput("label", label);
        io.SetOutput("rows", outputs);
        return await io.FinishAsync();
    }

    private static List<(string Name, string Numerator, string Denominator)> Ratios(StepInputs inputs)
    {
        var list = new List<(string, string, string)>();
        if (inputs.Raw("ratios") is not { } raw)
        {
            return list;
        }

        if (raw.ValueKind != JsonValueKind.Array)
        {
            throw inputs.Bad("ratios", "must be a list of {name, numerator, denominator}");
        }

        foreach (var r in raw.EnumerateArray())
        {
            string Get(string p) => r.ValueKind == JsonValueKind.Object && r.TryGetProperty(p, out var v) && v.GetString() is { Length: > 0 } s
                ? s : throw inputs.Bad("ratios", $"entry {r.GetRawText()} needs a string '{p}'");
            list.Add((Get("name"), Get("numerator"), Get("denominator")));
        }

        return list;
    }

    private static List<string> SelectColumns(StepInputs inputs, Table table, string label)
    {
        var select = inputs.StringList("select");
        var drop = inputs.StringList("drop");
        foreach (var c in select.Concat(drop))
        {
            table.Require(inputs, select.Contains(c) ? "select" : "drop", c);
        }

        var keep = select.Count > 0 ? select.ToList() : [.. table.Columns];
        keep.RemoveAll(c => drop.Contains(c) || c == label);
        return keep;
    }

    private static (List<int> Train, List<int> Validation, List<int> Test, int Seed) Split(StepInputs inputs, int count)
    {
        var split = inputs.OptionalObject("split");
        double Part(string name, double fallback) =>
            split is { } s && s.TryGetProperty(name, out var v) ? inputs.ToNumber(v, $"split.{name}") : fallback;
        var train = Part("train", 0.7);
        var validation = Part("validation", 0.15);
        var test = Part("test", 0.15);
        var seed = (int)Part("seed", 42);
        if (train <= 0 || validation < 0 || test < 0 || Math.Abs(train + validation + test - 1) > 1e-9)
        {
            throw inputs.Bad("split", $"fractions must be non-negative, train > 0, and sum to 1 (got {train} + {validation} + {test})");
        }

        var order = Enumerable.Range(0, count).ToArray();
        new Random(seed).Shuffle(order);
        var nTrain = (int)Math.Round(count * train);
        var nValidation = (int)Math.Round(count * validation);
        nValidation = Math.Min(nValidation, count - nTrain);
        var trainRows = order[..nTrain].Order().ToList();
        var validationRows = order[nTrain..(nTrain + nValidation)].Order().ToList();
        var testRows = order[(nTrain + nValidation)..].Order().ToList();
        if (trainRows.Count == 0)
        {
            throw new StepFailedException($"features: the dataset has {count} rows, too few to split; give it more rows.");
        }

        return (trainRows, validationRows, testRows, seed);
    }

    private static FeaturePlan FitPlan(StepInputs inputs, Table table, List<string> keep, string label, IReadOnlyList<string> onehot,
        IReadOnlyList<string> standardize, List<int> train)
    {
        var plan = new FeaturePlan(label, table.Index(label));
        var standardizeAll = standardize is ["numeric"] or ["all"];
        foreach (var column in keep)
        {
            var index = table.Index(column);
            if (onehot.Contains(column))
            {
                var categories = train.Select(r => table.Rows[r][index]).Where(v => !Table.IsNull(v)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
                plan.OneHot.Add(new OneHotColumn(column, index, categories));
                continue;
            }

            var values = new List<double>();
            foreach (var r in train)
            {
                var raw = table.Rows[r][index];
                if (Table.IsNull(raw))
                {
                    continue;
                }

                if (!Table.TryNumber(raw, out var d))
                {
                    throw new StepFailedException(
                        $"features: column '{column}' is not numeric (row {r + 2} has '{raw}'); add it to `onehot` or to `drop`.");
                }

                values.Add(d);
            }

            var mean = values.Count == 0 ? 0 : values.Average();
            var std = values.Count == 0 ? 0 : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Count);
            var scale = standardizeAll || standardize.Contains(column);
            plan.Numeric.Add(new NumericColumn(column, index, mean, std == 0 ? 1 : std, scale));
        }

        foreach (var s in standardize.Where(s => !standardizeAll && !plan.Numeric.Any(n => n.Name == s)))
        {
            throw inputs.Bad("standardize", $"names '{s}', which is not a kept numeric feature column");
        }

        return plan;
    }

    private sealed record NumericColumn(string Name, int Index, double Mean, double Std, bool Standardize);

    private sealed record OneHotColumn(string Name, int Index, IReadOnlyList<string> Categories);

    private sealed class FeaturePlan(string label, int labelIndex)
    {
        public List<NumericColumn> Numeric { get; } = [];

        public List<OneHotColumn> OneHot { get; } = [];

        public IReadOnlyList<string> OutputFeatures =>
            [.. Numeric.Select(n => n.Name), .. OneHot.SelectMany(o => o.Categories.Select(c => $"{o.Name}={c}"))];

        public void Write(TextWriter writer, Table table, List<int> rows)
        {
            var csv = new CsvWriter(writer);
            csv.WriteRow([.. OutputFeatures, label]);
            var fields = new List<string>();
            foreach (var r in rows)
            {
                var row = table.Rows[r];
                fields.Clear();
                foreach (var n in Numeric)
                {
                    // Missing values take the training mean (recorded in stats.json so serving imputes the same way).
                    var v = Table.TryNumber(row[n.Index], out var d) ? d : n.Mean;
                    fields.Add(CsvWriter.Format(n.Standardize ? (v - n.Mean) / n.Std : v));
                }

                foreach (var o in OneHot)
                {
                    fields.AddRange(o.Categories.Select(c => c == row[o.Index] ? "1" : "0"));
                }

                fields.Add(row[labelIndex]);
                csv.WriteRow(fields);
            }
        }

        public object Stats(int seed) => new
        {
            label,
            seed,
            features = OutputFeatures,
            numeric = Numeric.ToDictionary(n => n.Name, n => new { mean = n.Mean, std = n.Std, standardized = n.Standardize, imputeWith = n.Mean }),
            onehot = OneHot.ToDictionary(o => o.Name, o => o.Categories),
        };
    }

    private sealed class Table
    {
        public List<string> Columns { get; } = [];

        public List<string[]> Rows { get; } = [];

        public static Table Load(CsvReader csv, string step)
        {
            var t = new Table();
            t.Columns.AddRange(csv.Header);
            while (csv.Read())
            {
                if (csv.Fields.Count != csv.Header.Count)
                {
                    throw new StepFailedException($"{step}: {csv.Source} line {csv.Line} has {csv.Fields.Count} fields, the header {csv.Header.Count}; run validate-data first.");
                }

                t.Rows.Add([.. csv.Fields.Select(f => f.Trim())]);
            }

            return t;
        }

        public int Index(string column) => Columns.IndexOf(column);

        public void Require(StepInputs inputs, string input, string column)
        {
            if (!Columns.Contains(column))
            {
                throw inputs.Bad(input, $"names column '{column}', which the dataset does not have (columns: {string.Join(", ", Columns)})");
            }
        }

        public void AddRatio(StepInputs inputs, string name, string numerator, string denominator)
        {
            Require(inputs, "ratios", numerator);
            Require(inputs, "ratios", denominator);
            var (n, d) = (Index(numerator), Index(denominator));
            Columns.Add(name);
            for (var i = 0; i < Rows.Count; i++)
            {
                var row = Rows[i];
                var value = TryNumber(row[n], out var a) && TryNumber(row[d], out var b) && b != 0 ? CsvWriter.Format(a / b) : "";
                Rows[i] = [.. row, value];
            }
        }

        public static bool IsNull(string v) => v.Length == 0 || v is "NA" or "null" or "NULL";

        public static bool TryNumber(string v, out double d) =>
            double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out d) && double.IsFinite(d);
    }
}
