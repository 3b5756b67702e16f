using System.CommandLine;
using System.Globalization;
using Trainyard.Runtime.Contracts;
using Trainyard.Steps.Ml;
using Trainyard.Execution.Contracts;

namespace Trainyard.Cli;

/// <summary>
/// `trainyard signal drift`: posts a drift signal: with `--store azure:UseDevelopmentStorage=true` to the drift-signals
/// Storage queue that `trainyard serve` and the Function App's OnDriftSignal read; with a folder, to the embedded store's
/// local signal folder (signals/drift/ in its artifacts), where a drift step's signals go too.
/// </summary>
internal static class SignalCommands
{
    /// <summary>PSI level commonly read as significant drift; the default threshold of a hand-made signal.</summary>
    public const double DefaultThreshold = 0.2;

    public static Command Create()
    {
        var command = new Command("signal", "Send signals to triggered pipelines (through the local queue `trainyard serve` reads).");
        command.Subcommands.Add(DriftCommand());
        return command;
    }

    private static Command DriftCommand()
    {
        var model = new Option<string>("--model") { Description = "Model whose input drifted (a drift trigger's `model`).", Required = true };
        var metric = new Option<string>("--metric") { Description = "Drift metric (a drift trigger's `metric`), e.g. psi or ks.", Required = true };
        var value = new Option<double>("--value") { Description = "Measured value; the trigger starts a run when it is at or above the trigger's threshold.", Required = true };
        var feature = new Option<string>("--feature") { Description = "Feature (column) that drifted.", DefaultValueFactory = _ => "all" };
        var threshold = new Option<double>("--threshold") { Description = "Threshold the producer compared the value with.", DefaultValueFactory = _ => DefaultThreshold };
        var window = new Option<string?>("--window") { Description = "Window the current data covers (default: today, UTC), e.g. 2026-11-22/P1D." };
        var id = new Option<string?>("--id") { Description = "Signal id (Service Bus MessageId); sending the same id twice is one signal. Default: a new id." };
        var store = PipelineCommands.StoreOption();
        var command = new Command("drift", "Post a drift signal to the local drift-signal queue (exit 0; 2 on bad input).") { model, metric, value, feature, threshold, window, id, store };
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, json: false);
            return await RunCommands.Guarded(output, async () =>
            {
                var v = parse.GetValue(value);
                var t = parse.GetValue(threshold);
                if (!double.IsFinite(v) || !double.IsFinite(t))
                {
                    throw new CliInputException("--value and --threshold must be finite numbers, e.g. --value 0.31 --threshold 0.2.");
                }

                var signal = new DriftSignal
                {
                    SignalId = parse.GetValue(id) is { Length: > 0 } given ? given : Guid.NewGuid().ToString("N"),
                    Model = NonEmpty(parse.GetValue(model), "--model"),
                    Metric = NonEmpty(parse.GetValue(metric), "--metric"),
                    Feature = NonEmpty(parse.GetValue(feature), "--feature"),
                    Value = v,
                    Threshold = t,
                    Window = parse.GetValue(window) is { Length: > 0 } w ? w : DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                    Source = "trainyard signal drift",
                };
                if (AzureStore.IsAzure(parse.GetValue(store)!))
                {
                    // The Function App's drift-signals Storage queue, which `trainyard serve` reads too.
                    AzureStore.RequireDevelopmentStorage(parse.GetValue(store)!, "`signal drift`");
                    var queue = new Azure.Storage.Queues.QueueClient(Storage.Azure.AzureStorageOptions.DevelopmentStorage, Storage.Azure.QueueSignalSink.DefaultQueue, Storage.Azure.QueueSignalSink.ClientOptions());
                    await new Storage.Azure.QueueSignalSink(queue).SendAsync(signal, ct);
                    output.Info($"drift signal {signal.SignalId} queued on the '{Storage.Azure.QueueSignalSink.DefaultQueue}' Storage queue: {signal.Model} {signal.Metric}={v.ToString(CultureInfo.InvariantCulture)}; `trainyard serve --store {parse.GetValue(store)}` (or the Function App's OnDriftSignal) starts the drift-triggered runs");
                    return RunCommands.Ok;
                }

                await using var cli = await CliStore.OpenAsync(parse.GetValue(store)!, lease: null, noCache: false);
                await new ArtifactSignalSink(cli.Backend.Artifacts).SendAsync(signal, ct);
                output.Info($"drift signal {signal.SignalId} queued: {signal.Model} {signal.Metric}={v.ToString(CultureInfo.InvariantCulture)} (threshold {t.ToString(CultureInfo.InvariantCulture)}, feature {signal.Feature}); `trainyard serve` delivers it to OnDriftSignal");
                return RunCommands.Ok;
            });
        });
        return command;
    }

    private static string NonEmpty(string? text, string option) =>
        string.IsNullOrWhiteSpace(text) ? throw new CliInputException($"{option} must not be empty.") : text.Trim();
}
