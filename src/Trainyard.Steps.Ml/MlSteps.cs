using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml;

/// <summary>The ML built-in steps, for hosts to register with the built-in executor.</summary>
public static class MlSteps
{
    /// <summary>Every ML step.</summary>
    public static IReadOnlyList<IBuiltinStep> All { get; } =
    [
        new GenerateChurnDataStep(),
        new IngestStep(),
        new ValidateDataStep(),
        new FeaturesStep(),
        new TrainMlnetStep(),
        new SelectBestStep(),
        new QualityGateStep(),
        new DriftStep(),
        new RegisterModelStep(),
        new PromoteModelStep(),
    ];
}
