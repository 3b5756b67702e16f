using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Trainyard.Core.Engine;
using Trainyard.Core.Steps;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml;

/// <summary>
/// `drift`: per-feature PSI (reference-quantile bins, see <see cref="DriftMath"/>) and two-sample KS between a
/// reference and a current CSV. Each file is streamed once into a bounded uniform reservoir per feature (exact up
/// to `sampleSize` rows). Writes `drift.json`; with `emit: true` sends a <see cref="DriftSignal"/> per drifted
/// feature to the <see cref="ISignalSink"/> from the step's services (else the artifact-store signal queue).
/// </summary>
public sealed class DriftStep : IBuiltinStep
{
    /// <inheritdoc />
    public BuiltinStepInfo Info => StandardSteps.Drift;

    /// <inheritdoc />
    public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var inputs = StepInputs.Of(Info.Name, context);
        var io = new StepIo(context, inputs) { Token = cancellationToken };
        var bins = inputs.Integer("bins", 10, 2, 1000);
        var psiThreshold = inputs.Number("psiThreshold", 0.2);
        var ksAlpha = inputs.Number("ksAlpha", 0.01);
        var sampleSize = inputs.Integer("sampleSize", 100_000, 100, 10_000_000);
        var features = inputs.StringList("features");
        var reference = await SampleAsync(io, "reference", features, sampleSize, cancellationToken);
        var current = await SampleAsync(io, "current", features, sampleSize, cancellationToken);
        var names = features.Count > 0 ? features : [.. reference.Keys.Where(current.ContainsKey)];
        var results = new List<FeatureDrift>();
        foreach (var name in names)
        {
            if (!reference.TryGetValue(name, out var r) || !current.TryGetValue(name, out var c))
            {
                throw inputs.Bad("features", $"names '{name}', which is not a numeric column of both datasets");
            }

            var refSorted = r.SortedValues();
            var curSorted = c.SortedValues();
            if (refSorted.Length == 0 || curSorted.Length == 0)
            {
                continue;
            }

            var psi = DriftMath.Psi(refSorted, curSorted, bins);
            var ks = DriftMath.KsStatistic(refSorted, curSorted);
            var p = DriftMath.KsPValue(ks, refSorted.Length, curSorted.Length);
            results.Add(new FeatureDrift(name, Math.Round(psi, 6), Math.Round(ks, 6), p, psi >= psiThreshold, p < ksAlpha, r.Seen, c.Seen));
        }

        var drifted = results.Where(f => f.PsiDrift).ToList();
        var maxPsi = results.Count == 0 ? 0 : results.Max(f => f.Psi);
        await io.PutJsonAsync("report", "drift.json", new
        {
            psiThreshold,
            ksAlpha,
            bins,
            binning = "reference-quantile bins (type-7), empty-bin proportions floored at 1e-4",
            sampling = $"uniform reservoir of up to {sampleSize} values per feature (exact below that)",
            features = results,
        });
        var emitted = 0;
        if (inputs.Boolean("emit", false) && drifted.Count > 0)
        {
            var model = inputs.Checked("model", inputs.RequiredString("model"), InputRule.ModelName);
            var window = inputs.OptionalString("window") ?? context.Time.GetUtcNow().ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            var sink = context.Services?.GetService(typeof(ISignalSink)) as ISignalSink ?? new ArtifactSignalSink(context.Artifacts);
            foreach (var f in drifted)
            {
                var source = $"{context.Work.RunId}/{context.Work.TaskKey}";
                await sink.SendAsync(new DriftSignal
                {
                    SignalId = Id($"{source}/{f.Feature}/psi"),
                    Model = model,
                    Feature = f.Feature,
                    Metric = "psi",
                    Value = f.Psi,
                    Threshold = psiThreshold,
                    Window = window,
                    Source = source,
                }, cancellationToken);
                emitted++;
            }
        }

        await context.Log($"drift: {drifted.Count} of {results.Count} feature(s) over PSI {psiThreshold}; {emitted} signal(s) sent", cancellationToken);
        io.SetOutput("drifted", drifted.Count > 0);
        io.SetOutput("driftedFeatures", drifted.Select(f => f.Feature).ToList());
        io.SetOutput("max_psi", maxPsi);
        io.SetOutput("signals", emitted);
        return await io.FinishAsync();
    }

    private static string Id(string s) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)))[..32];

    private static async Task<Dictionary<string, Reservoir>> SampleAsync(StepIo io, string input, IReadOnlyList<string> features, int size, CancellationToken cancellationToken)
    {
        var (stream, info) = await io.OpenInputAsync(input);
        using var csv = io.OpenCsv(stream, info.Path);
        var columns = csv.Header.Select((h, i) => (h, i)).Where(c => features.Count == 0 || features.Contains(c.h)).ToList();
        var reservoirs = columns.ToDictionary(c => c.h, _ => new Reservoir(size));
        var nonNumeric = new HashSet<string>(StringComparer.Ordinal);
        while (csv.Read())
        {
            if (csv.Fields.Count != csv.Header.Count)
            {
                continue;
            }

            foreach (var (name, index) in columns)
            {
                var raw = csv.Fields[index];
                if (raw.Length == 0 || nonNumeric.Contains(name))
                {
                    continue;
                }

                if (double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d))
                {
                    reservoirs[name].Add(d, csv.Line);
                }
                else
                {
                    nonNumeric.Add(name);
                }
            }

            cancellationToken.ThrowIfCancellationRequested();
        }

        foreach (var n in nonNumeric)
        {
            if (features.Contains(n))
            {
                throw new StepFailedException($"drift: feature '{n}' in {info.Path} is not numeric; drift compares numeric columns, drop it from `features`.");
            }

            reservoirs.Remove(n);
        }

        return reservoirs;
    }

    private sealed record FeatureDrift(string Feature, double Psi, double Ks, double KsPValue, bool PsiDrift, bool KsDrift, long ReferenceRows, long CurrentRows);
}

/// <summary>
/// The local drift-signal queue: each signal is a JSON file `signals/drift/&lt;signalId&gt;.json` in the artifact store,
/// written create-only so a re-sent signal is de-duplicated by its id (as Service Bus does by MessageId).
/// </summary>
public sealed class ArtifactSignalSink(IArtifactStore artifacts) : ISignalSink
{
    /// <summary>Prefix under which signals are stored.</summary>
    public const string Prefix = "signals/drift/";

    /// <inheritdoc />
    public async Task SendAsync(DriftSignal signal, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(signal);
        var bytes = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(signal, MlJson.Compact);
        try
        {
            await artifacts.PutIfMatchAsync(Prefix + signal.SignalId + ".json", new MemoryStream(bytes), null, cancellationToken);
        }
        catch (ConcurrencyException)
        {
            // Already sent (same deterministic id): at-least-once senders are de-duplicated here.
        }
    }

    /// <summary>Reads every stored signal, oldest path first.</summary>
    public async Task<IReadOnlyList<DriftSignal>> ReadAllAsync(CancellationToken cancellationToken)
    {
        var list = new List<DriftSignal>();
        await foreach (var a in artifacts.ListAsync(Prefix, cancellationToken))
        {
            await using var s = await artifacts.OpenReadAsync(a.Path, cancellationToken);
            if (s is not null && await System.Text.Json.JsonSerializer.DeserializeAsync<DriftSignal>(s, MlJson.Compact, cancellationToken) is { } d)
            {
                list.Add(d);
            }
        }

        return list;
    }
}
