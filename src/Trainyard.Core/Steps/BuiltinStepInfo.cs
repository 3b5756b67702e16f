namespace Trainyard.Core.Steps;

/// <summary>Describes a built-in step so specs can be validated without loading its implementation.</summary>
public sealed record BuiltinStepInfo(string Name, string Version, string Description)
{
    /// <summary>Accepted `with` inputs.</summary>
    public IReadOnlyList<StepInputInfo> Inputs { get; init; } = [];

    /// <summary>Outputs it always reports.</summary>
    public IReadOnlyList<string> Outputs { get; init; } = [];

    /// <summary>True when unknown `with` keys are allowed (e.g. echo).</summary>
    public bool AllowsExtraInputs { get; init; }

    /// <summary>True when every `with` input is also reported as an output of the same name (e.g. echo).</summary>
    public bool EchoesInputs { get; init; }
}

/// <summary>One `with` input of a built-in step.</summary>
public sealed record StepInputInfo(string Name, string Type, bool Required, string Description)
{
    /// <summary>The rule its string values (each element of a list) follow; `validate` and the step apply the same one.</summary>
    public InputRule Rule { get; init; }
}

/// <summary>What a built-in step's string input names, so a value that would leave its root is refused by `validate`.</summary>
public enum InputRule
{
    /// <summary>Free text.</summary>
    None,

    /// <summary>An artifact path inside the artifact store (<see cref="Spec.PathRules.PathProblem"/>).</summary>
    ArtifactPath,

    /// <summary>A relative file path inside the step's output folder (same rule as an artifact path).</summary>
    OutputPath,

    /// <summary>A single file name: no folders.</summary>
    FileName,

    /// <summary>A model name in the registry (<see cref="Spec.PathRules.ModelNameProblem"/>).</summary>
    ModelName,
}

/// <summary>The built-in steps known to validation. Hosts compose it from every registered step.</summary>
public sealed class StepCatalog
{
    private readonly Dictionary<string, BuiltinStepInfo> _steps = new(StringComparer.Ordinal);

    /// <summary>Creates a catalog.</summary>
    public StepCatalog(IEnumerable<BuiltinStepInfo> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        foreach (var s in steps)
        {
            _steps[s.Name] = s;
        }
    }

    /// <summary>All steps by name.</summary>
    public IReadOnlyCollection<BuiltinStepInfo> All => _steps.Values;

    /// <summary>Finds a step, or null.</summary>
    public BuiltinStepInfo? Find(string name) => _steps.GetValueOrDefault(name);
}
