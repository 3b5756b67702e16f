using Trainyard.Core.Spec;

namespace Trainyard.Core.Steps;

/// <summary>Applies an <see cref="InputRule"/>: the check `validate` runs on literal values and steps run on resolved ones.</summary>
public static class InputRules
{
    /// <summary>Why <paramref name="value"/> breaks <paramref name="rule"/>, or null when it follows it.</summary>
    public static string? Problem(InputRule rule, string value) => rule switch
    {
        InputRule.ArtifactPath or InputRule.OutputPath => PathRules.PathProblem(value),
        InputRule.FileName => value.Contains('/', StringComparison.Ordinal) ? "has a folder in it; give a plain file name" : PathRules.PathProblem(value),
        InputRule.ModelName => PathRules.ModelNameProblem(value),
        _ => null,
    };

    /// <summary>What to write instead, for a diagnostic's hint.</summary>
    public static string Hint(InputRule rule) => rule switch
    {
        InputRule.ArtifactPath => "name an artifact inside the store, e.g. ${{ steps.<id>.outputs.<name> }} or runs/<run>/<task>/<file>",
        InputRule.OutputPath => "give a relative file name inside the step's output folder, e.g. data.csv or reports/data.csv",
        InputRule.FileName => "give a plain file name such as data.csv",
        InputRule.ModelName => "use letters, digits, '-', '_' or '.', starting with a letter or digit, e.g. churn-model",
        _ => "",
    };
}
