using Trainyard.Core.Steps;
using Trainyard.Execution.Contracts;

namespace Trainyard.Execution.Builtins;

/// <summary>The built-in steps a host can run, by name. Hosts add ML steps next to <see cref="Standard"/>.</summary>
public sealed class BuiltinStepRegistry
{
    private readonly Dictionary<string, IBuiltinStep> _steps = new(StringComparer.Ordinal);

    /// <summary>Creates a registry holding <paramref name="steps"/>.</summary>
    public BuiltinStepRegistry(IEnumerable<IBuiltinStep> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        foreach (var s in steps)
        {
            Add(s);
        }
    }

    /// <summary>The runtime's own steps: echo, sleep, fail, write-file.</summary>
    public static IReadOnlyList<IBuiltinStep> Standard { get; } = [new EchoStep(), new SleepStep(), new FailStep(), new WriteFileStep()];

    /// <summary>A registry with the standard steps only.</summary>
    public static BuiltinStepRegistry CreateStandard() => new(Standard);

    /// <summary>Registered steps.</summary>
    public IReadOnlyCollection<IBuiltinStep> All => _steps.Values;

    /// <summary>A validation catalog of the registered steps.</summary>
    public StepCatalog Catalog => new(_steps.Values.Select(s => s.Info));

    /// <summary>Adds a step; a second step with the same name is an error.</summary>
    public BuiltinStepRegistry Add(IBuiltinStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        if (!_steps.TryAdd(step.Info.Name, step))
        {
            throw new InvalidOperationException($"Built-in step '{step.Info.Name}' is registered twice ({_steps[step.Info.Name].GetType().Name} and {step.GetType().Name}); register each step once.");
        }

        return this;
    }

    /// <summary>Finds a step by name, or null.</summary>
    public IBuiltinStep? Find(string name) => _steps.GetValueOrDefault(name);
}
