using Trainyard.Execution.Contracts;

namespace Trainyard.Service.Tests;

/// <summary>Pipelines and signals the trigger tests share.</summary>
internal static class TestSpecs
{
    public const string DriftPipeline = """
        name: retrain
        triggers:
          - type: drift
            id: drifted
            model: churn
            metric: psi
            threshold: 0.2
            cooldown: 6h
        steps:
          - id: hello
            uses: echo
            with:
              message: retrain
        """;

    public static DriftSignal Signal(double value, string id) => new()
    {
        SignalId = id,
        Model = "churn",
        Feature = "tenure",
        Metric = "psi",
        Value = value,
        Threshold = 0.2,
        Window = "2026-11-22/P1D",
        Source = "monitor",
    };

}
