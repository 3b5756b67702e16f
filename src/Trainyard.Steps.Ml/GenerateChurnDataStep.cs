using System.Globalization;
using System.Text;
using Trainyard.Core.Engine;
using Trainyard.Core.Steps;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml;

/// <summary>
/// `generate-churn-data`: a seeded synthetic customer-churn table (same seed and rows give the same bytes).
/// Churn follows a logistic model of contract, tenure, support calls and charges, so models have signal to learn;
/// `shift` moves the feature distributions (for drift monitoring samples).
/// </summary>
public sealed class GenerateChurnDataStep : IBuiltinStep
{
    private static readonly string[] Plans = ["basic", "standard", "premium"];
    private static readonly string[] Contracts = ["month-to-month", "one-year", "two-year"];

    /// <inheritdoc />
    public BuiltinStepInfo Info => StandardSteps.GenerateChurnData;

    /// <inheritdoc />
    public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var inputs = StepInputs.Of(Info.Name, context);
        var io = new StepIo(context, inputs) { Token = cancellationToken };
        var rows = inputs.Integer("rows", 5000, 1, 50_000_000);
        var seed = inputs.Integer("seed", 42);
        var shift = inputs.Number("shift", 0);
        var missing = inputs.Number("missingFraction", 0.01);
        var name = io.OutputName("name", inputs.OptionalString("name") ?? "churn.csv");
        var path = io.ScratchPath(name);
        await using (var file = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16))
        {
            Write(file, rows, seed, shift, missing);
        }

        await io.PutFileAsync("dataset", name, path);
        io.SetOutput("rows", rows);
        return await io.FinishAsync();
    }

    /// <summary>Writes the table to <paramref name="writer"/> (also used by the benchmark to make large files).</summary>
    public static void Write(TextWriter writer, long rows, int seed, double shift = 0, double missingFraction = 0.01)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var random = new Random(seed);
        var csv = new CsvWriter(writer);
        csv.WriteRow(["customer_id", "tenure_months", "monthly_charges", "total_charges", "support_calls", "plan", "contract", "age", "churned"]);
        var fields = new string[9];
        for (long i = 0; i < rows; i++)
        {
            var plan = random.Next(3);
            var contract = random.NextDouble() < 0.5 + (0.2 * shift) ? 0 : random.Next(1, 3);
            var tenure = Math.Clamp((int)(random.NextDouble() * 72 * (1 - (0.3 * shift))) + (contract * 6), 0, 96);
            var monthly = Math.Round(25 + (plan * 30) + (random.NextDouble() * 25) + (15 * shift), 2);
            var total = Math.Round(monthly * tenure * (0.9 + (random.NextDouble() * 0.2)), 2);
            var calls = Poisson(random, 1.2 * (1 + shift) + (contract == 0 ? 0.8 : 0));
            var age = Math.Clamp((int)Math.Round(45 + (Normal(random) * 14)), 18, 90);
            var z = -1.3 + (contract == 0 ? 1.6 : contract == 2 ? -1.0 : 0) - (0.035 * tenure) + (0.45 * calls) + (0.012 * (monthly - 70)) + (0.4 * Normal(random));
            var churned = random.NextDouble() < 1 / (1 + Math.Exp(-z));
            fields[0] = "C" + (i + 1).ToString("D7", CultureInfo.InvariantCulture);
            fields[1] = tenure.ToString(CultureInfo.InvariantCulture);
            fields[2] = monthly.ToString(CultureInfo.InvariantCulture);
            fields[3] = random.NextDouble() < missingFraction ? "" : total.ToString(CultureInfo.InvariantCulture);
            fields[4] = calls.ToString(CultureInfo.InvariantCulture);
            fields[5] = Plans[plan];
            fields[6] = Contracts[contract];
            fields[7] = age.ToString(CultureInfo.InvariantCulture);
            fields[8] = churned ? "1" : "0";
            csv.WriteRow(fields);
        }
    }

    private static int Poisson(Random random, double lambda)
    {
        var l = Math.Exp(-lambda);
        var k = 0;
        var p = 1.0;
        do
        {
            k++;
            p *= random.NextDouble();
        }
        while (p > l);
        return k - 1;
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
