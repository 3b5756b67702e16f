using System.Globalization;
using System.Text;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Steps;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml;

/// <summary>
/// `validate-data`: streams a CSV once (one record in memory; bounded sketches for duplicates and quantiles) and
/// checks expectations. Writes `validation.json`; on any violation fails listing every violated expectation.
/// </summary>
public sealed class ValidateDataStep : IBuiltinStep
{
    private const int MaxExamples = 5;

    /// <summary>Values per column kept for IQR quantiles (see <see cref="Reservoir"/>).</summary>
    public int ReservoirSize { get; init; } = 100_000;

    /// <summary>Distinct row hashes held before the duplicate sketch starts sampling.</summary>
    public int DuplicateCapacity { get; init; } = 1 << 20;

    /// <inheritdoc />
    public BuiltinStepInfo Info => StandardSteps.ValidateData;

    /// <inheritdoc />
    public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var inputs = StepInputs.Of(Info.Name, context);
        var io = new StepIo(context, inputs) { Token = cancellationToken };
        var expectations = Expectations.Parse(inputs);
        var (stream, info) = await io.OpenInputAsync("dataset");
        ValidationReport report;
        await using (var table = await io.OpenTableAsync(stream, info.Path, inputs.OptionalString("format")))
        {
            report = await ValidateAsync(table, expectations, info, cancellationToken);
        }

        var reportRef = await io.PutJsonAsync("report", "validation.json", report);
        io.SetOutput("rows", report.Rows);
        io.SetOutput("passed", report.Passed);
        io.SetOutput("dataset", info.Path);
        io.SetOutput("sha256", info.Sha256);
        if (!report.Passed)
        {
            await io.FinishAsync();
            throw new StepFailedException(FailureMessage(report, reportRef.Path));
        }

        return await io.FinishAsync();
    }

    internal static string FailureMessage(ValidationReport report, string reportPath)
    {
        var failed = report.Expectations.Where(e => !e.Passed).ToList();
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"validate-data: {failed.Count} expectation(s) failed on {report.Dataset} ({report.Rows} rows):");
        foreach (var e in failed)
        {
            sb.Append("\n  - ").Append(e.Expectation);
            if (e.Column is not null)
            {
                sb.Append(" [column ").Append(e.Column).Append(']');
            }

            sb.Append(": ").Append(e.Observed);
            if (e.Examples.Count > 0)
            {
                sb.Append(" (e.g. ").AppendJoin(", ", e.Examples.Select(x => x.Value is null ? $"{report.Positions} {x.Line}" : $"{report.Positions} {x.Line}: '{x.Value}'")).Append(')');
            }
        }

        sb.Append("\nFull report: ").Append(reportPath).Append(". Fix the data upstream or relax the expectations in the step's `with.expectations`.");
        return sb.ToString();
    }

    internal async Task<ValidationReport> ValidateAsync(ITableReader table, Expectations expectations, ArtifactInfo info, CancellationToken cancellationToken)
    {
        var results = new List<ExpectationResult>();
        var columns = new List<ColumnState>();
        foreach (var spec in expectations.Columns)
        {
            var index = table.IndexOf(spec.Name);
            if (index < 0)
            {
                if (spec.Required)
                {
                    results.Add(ExpectationResult.Fail("column exists", spec.Name, $"column is missing (header has: {string.Join(", ", table.Header)})", 1, []));
                }

                continue;
            }

            columns.Add(new ColumnState(spec, index, spec.MaxOutlierFraction is null ? null : new Reservoir(ReservoirSize)));
        }

        var nulls = expectations.NullValues;
        var duplicates = expectations.MaxDuplicateFraction is null ? null : new DuplicateSketch(DuplicateCapacity);
        var malformed = new Violation();
        long rows = 0;
        while (await table.ReadAsync(cancellationToken))
        {
            rows++;
            if ((rows & 0xFFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            var fields = table.Fields;
            if (fields.Count != table.Header.Count)
            {
                malformed.Add(table.Line, $"{fields.Count} fields");
                continue;
            }

            duplicates?.Add(table.RawRecord, table.Line);
            foreach (var col in columns)
            {
                col.Observe(fields[col.Index], table.Line, nulls);
            }
        }

        if (malformed.Count > 0)
        {
            results.Add(ExpectationResult.Fail("row shape", null, $"{malformed.Count} row(s) do not have the header's {table.Header.Count} fields", malformed.Count, malformed.Examples));
        }

        if (expectations.MinRows is { } minRows)
        {
            results.Add(ExpectationResult.Check(rows >= minRows, $"row count >= {minRows}", null, $"{rows} rows", rows >= minRows ? 0 : minRows - rows, []));
        }

        if (expectations.MaxRows is { } maxRows)
        {
            results.Add(ExpectationResult.Check(rows <= maxRows, $"row count <= {maxRows}", null, $"{rows} rows", rows <= maxRows ? 0 : rows - maxRows, []));
        }

        if (duplicates is not null)
        {
            var fraction = duplicates.DuplicateFraction;
            var max = expectations.MaxDuplicateFraction!.Value;
            var method = duplicates.Exact ? "exact" : $"estimated from a 1/{1L << duplicates.Level} hash sample";
            results.Add(ExpectationResult.Check(fraction <= max, $"duplicate-row fraction <= {F(max)}", null,
                $"{F(fraction)} of rows duplicate an earlier row ({method})", (long)Math.Round(fraction * rows),
                [.. duplicates.ExampleLines.Select(l => new Example(l, null))]));
        }

        foreach (var col in columns)
        {
            col.Finish(rows, results);
        }

        return new ValidationReport(info.Path, info.Sha256, rows, [.. table.Header], results.All(r => r.Passed), results,
            duplicates is null ? null : duplicates.Exact ? "exact row-hash counting" : $"hash sampling at level {duplicates.Level}",
            $"IQR quantiles from a reservoir of up to {ReservoirSize} values per column (exact below that)", table.PositionUnit);
    }

    internal static string F(double d) => d.ToString("0.####", CultureInfo.InvariantCulture);

    private sealed class Violation
    {
        public long Count { get; private set; }

        public List<Example> Examples { get; } = [];

        public void Add(long line, string? value)
        {
            Count++;
            if (Examples.Count < MaxExamples)
            {
                Examples.Add(new Example(line, value));
            }
        }
    }

    private sealed class ColumnState(ColumnExpectation spec, int index, Reservoir? reservoir)
    {
        private readonly Violation _nulls = new();
        private readonly Violation _type = new();
        private readonly Violation _range = new();
        private readonly Violation _allowed = new();

        public int Index => index;

        public void Observe(string? raw, long line, IReadOnlySet<string> nullValues)
        {
            var value = raw?.Trim();
            if (value is null || nullValues.Contains(value))
            {
                _nulls.Add(line, null);
                return;
            }

            double? number = null;
            switch (spec.Type)
            {
                case "integer":
                    if (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l))
                    {
                        number = l;
                    }
                    else
                    {
                        _type.Add(line, value);
                        return;
                    }

                    break;
                case "number":
                    if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d))
                    {
                        number = d;
                    }
                    else
                    {
                        _type.Add(line, value);
                        return;
                    }

                    break;
                case "boolean":
                    if (!IsBoolean(value))
                    {
                        _type.Add(line, value);
                        return;
                    }

                    break;
                default:
                    if ((spec.Min is not null || spec.Max is not null || reservoir is not null)
                        && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var any))
                    {
                        number = any;
                    }

                    break;
            }

            if (number is { } n)
            {
                if ((spec.Min is { } min && n < min) || (spec.Max is { } max && n > max))
                {
                    _range.Add(line, value);
                }

                reservoir?.Add(n, line);
            }

            if (spec.Allowed is { } allowed && !allowed.Contains(value))
            {
                _allowed.Add(line, value);
            }
        }

        private static bool IsBoolean(string v) =>
            v is "0" or "1" || v.Equals("true", StringComparison.OrdinalIgnoreCase) || v.Equals("false", StringComparison.OrdinalIgnoreCase)
            || v.Equals("yes", StringComparison.OrdinalIgnoreCase) || v.Equals("no", StringComparison.OrdinalIgnoreCase);

        public void Finish(long rows, List<ExpectationResult> results)
        {
            var name = spec.Name;
            if (spec.Type is not null)
            {
                results.Add(ExpectationResult.Check(_type.Count == 0, $"type {spec.Type}", name,
                    $"{_type.Count} value(s) are not {spec.Type}", _type.Count, _type.Examples));
            }

            if (spec.NotNull)
            {
                results.Add(ExpectationResult.Check(_nulls.Count == 0, "not null", name, $"{_nulls.Count} null value(s)", _nulls.Count, _nulls.Examples));
            }

            if (spec.MaxNullFraction is { } maxNull)
            {
                var fraction = rows == 0 ? 0 : (double)_nulls.Count / rows;
                results.Add(ExpectationResult.Check(fraction <= maxNull, $"null fraction <= {F(maxNull)}", name,
                    $"null fraction {F(fraction)} ({_nulls.Count} of {rows})", _nulls.Count, _nulls.Examples));
            }

            if (spec.Min is not null || spec.Max is not null)
            {
                var range = $"[{(spec.Min is { } a ? F(a) : "-inf")}, {(spec.Max is { } b ? F(b) : "+inf")}]";
                results.Add(ExpectationResult.Check(_range.Count == 0, $"range {range}", name,
                    $"{_range.Count} value(s) outside {range}", _range.Count, _range.Examples));
            }

            if (spec.Allowed is { } allowed)
            {
                results.Add(ExpectationResult.Check(_allowed.Count == 0, $"values in {{{string.Join(", ", allowed.Order(StringComparer.Ordinal))}}}", name,
                    $"{_allowed.Count} value(s) not in the allowed set", _allowed.Count, _allowed.Examples));
            }

            if (reservoir is not null && spec.MaxOutlierFraction is { } maxOutliers)
            {
                var sorted = reservoir.SortedValues();
                var q1 = Reservoir.Quantile(sorted, 0.25);
                var q3 = Reservoir.Quantile(sorted, 0.75);
                var iqr = q3 - q1;
                var lo = q1 - (spec.IqrMultiplier * iqr);
                var hi = q3 + (spec.IqrMultiplier * iqr);
                var outliers = reservoir.Items.Where(i => i.Value < lo || i.Value > hi).OrderBy(i => i.Line).ToList();
                var fraction = sorted.Length == 0 ? 0 : (double)outliers.Count / sorted.Length;
                var method = reservoir.Exact ? "" : $", estimated from a {sorted.Length}-value sample";
                results.Add(ExpectationResult.Check(fraction <= maxOutliers, $"IQR outlier fraction <= {F(maxOutliers)}", name,
                    $"outlier fraction {F(fraction)} outside [{F(lo)}, {F(hi)}] (Q1 {F(q1)}, Q3 {F(q3)}, k {F(spec.IqrMultiplier)}{method})",
                    (long)Math.Round(fraction * reservoir.Seen), [.. outliers.Take(MaxExamples).Select(o => new Example(o.Line, F(o.Value)))]));
            }
        }
    }
}

/// <summary>Parsed `with.expectations` of validate-data.</summary>
internal sealed record Expectations(
    IReadOnlyList<ColumnExpectation> Columns, long? MinRows, long? MaxRows, double? MaxDuplicateFraction, IReadOnlySet<string> NullValues)
{
    public static Expectations Parse(StepInputs inputs)
    {
        var root = inputs.Object("expectations");
        var columns = new List<ColumnExpectation>();
        long? minRows = null, maxRows = null;
        double? maxDup = null;
        var nullValues = new HashSet<string>(StringComparer.Ordinal) { "", "NA", "null", "NULL" };
        foreach (var p in root.EnumerateObject())
        {
            var where = $"expectations.{p.Name}";
            switch (p.Name)
            {
                case "columns":
                    if (p.Value.ValueKind != JsonValueKind.Object)
                    {
                        throw inputs.Bad(where, "must map column names to their expectations");
                    }

                    foreach (var c in p.Value.EnumerateObject())
                    {
                        columns.Add(ColumnExpectation.Parse(inputs, c.Name, c.Value));
                    }

                    break;
                case "rowCount":
                    minRows = (long?)Num(inputs, where, p.Value, "min");
                    maxRows = (long?)Num(inputs, where, p.Value, "max");
                    break;
                case "minRows":
                    minRows = (long)inputs.ToNumber(p.Value, where);
                    break;
                case "maxRows":
                    maxRows = (long)inputs.ToNumber(p.Value, where);
                    break;
                case "maxDuplicateFraction":
                    maxDup = Fraction(inputs, where, p.Value);
                    break;
                case "nullValues":
                    nullValues = [.. p.Value.EnumerateArray().Select(v => v.GetString() ?? "")];
                    break;
                default:
                    throw inputs.Bad(where, "is not a known expectation (columns, rowCount, minRows, maxRows, maxDuplicateFraction, nullValues)");
            }
        }

        return new Expectations(columns, minRows, maxRows, maxDup, nullValues);
    }

    internal static double? Num(StepInputs inputs, string where, JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) ? inputs.ToNumber(v, $"{where}.{name}") : null;

    internal static double Fraction(StepInputs inputs, string where, JsonElement v)
    {
        var d = inputs.ToNumber(v, where);
        return d is >= 0 and <= 1 ? d : throw inputs.Bad(where, $"must be a fraction in [0, 1], got {v.GetRawText()}");
    }
}

/// <summary>Expectations on one column.</summary>
internal sealed record ColumnExpectation(string Name)
{
    private static readonly string[] Types = ["integer", "number", "string", "boolean"];

    public string? Type { get; init; }

    public bool Required { get; init; } = true;

    public bool NotNull { get; init; }

    public double? Min { get; init; }

    public double? Max { get; init; }

    public IReadOnlySet<string>? Allowed { get; init; }

    public double? MaxNullFraction { get; init; }

    public double? MaxOutlierFraction { get; init; }

    public double IqrMultiplier { get; init; } = 1.5;

    public static ColumnExpectation Parse(StepInputs inputs, string name, JsonElement v)
    {
        var where = $"expectations.columns.{name}";
        if (v.ValueKind == JsonValueKind.String)
        {
            v = JsonSerializer.SerializeToElement(new { type = v.GetString() });
        }

        if (v.ValueKind != JsonValueKind.Object)
        {
            throw inputs.Bad(where, "must be an object (type, required, notNull, min, max, allowed, maxNullFraction, maxOutlierFraction) or a type name");
        }

        var c = new ColumnExpectation(name);
        foreach (var p in v.EnumerateObject())
        {
            var at = $"{where}.{p.Name}";
            c = p.Name switch
            {
                "type" => c with
                {
                    Type = p.Value.GetString() is { } t && Types.Contains(t) ? t : throw inputs.Bad(at, $"must be one of {string.Join(", ", Types)}"),
                },
                "required" => c with { Required = p.Value.ValueKind == JsonValueKind.True },
                "notNull" => c with { NotNull = p.Value.ValueKind == JsonValueKind.True },
                "min" => c with { Min = inputs.ToNumber(p.Value, at) },
                "max" => c with { Max = inputs.ToNumber(p.Value, at) },
                "allowed" => c with
                {
                    Allowed = p.Value.ValueKind == JsonValueKind.Array
                        ? p.Value.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText()).ToHashSet(StringComparer.Ordinal)
                        : throw inputs.Bad(at, "must be a list of values"),
                },
                "maxNullFraction" => c with { MaxNullFraction = Expectations.Fraction(inputs, at, p.Value) },
                "maxOutlierFraction" => c with { MaxOutlierFraction = Expectations.Fraction(inputs, at, p.Value) },
                "iqrMultiplier" => c with { IqrMultiplier = inputs.ToNumber(p.Value, at) },
                _ => throw inputs.Bad(at, "is not a known column expectation (type, required, notNull, min, max, allowed, maxNullFraction, maxOutlierFraction, iqrMultiplier)"),
            };
        }

        return c;
    }
}

/// <summary>The JSON report of validate-data.</summary>
internal sealed record ValidationReport(
    string Dataset, string Sha256, long Rows, IReadOnlyList<string> Columns, bool Passed, IReadOnlyList<ExpectationResult> Expectations,
    string? DuplicateMethod, string QuantileMethod, string Positions);

/// <summary>One checked expectation.</summary>
internal sealed record ExpectationResult(string Expectation, string? Column, bool Passed, string Observed, long Offending, IReadOnlyList<Example> Examples)
{
    public static ExpectationResult Check(bool passed, string expectation, string? column, string observed, long offending, IReadOnlyList<Example> examples) =>
        new(expectation, column, passed, observed, passed ? 0 : offending, passed ? [] : examples);

    public static ExpectationResult Fail(string expectation, string? column, string observed, long offending, IReadOnlyList<Example> examples) =>
        new(expectation, column, false, observed, offending, examples);
}

/// <summary>An offending row: its file line and value.</summary>
internal sealed record Example(long Line, string? Value);
