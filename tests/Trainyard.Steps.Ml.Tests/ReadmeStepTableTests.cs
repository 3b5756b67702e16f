using Trainyard.Core.Steps;
using Trainyard.Testing;

namespace Trainyard.Steps.Ml.Tests;

/// <summary>README's table of ML steps names every step with exactly its declared inputs (required ones in bold) and outputs.</summary>
public sealed class ReadmeStepTableTests
{
    [Fact]
    public void ReadmeTable_MatchesEveryMlStepDescriptor()
    {
        var rows = File.ReadAllLines(Path.Combine(RepoPaths.Root, "README.md"))
            .Where(l => l.StartsWith("| `", StringComparison.Ordinal))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries))
            .ToDictionary(c => c[1].Trim('`'), c => c);

        foreach (var step in MlSteps.All.Select(s => s.Info))
        {
            Assert.True(rows.TryGetValue(step.Name, out var row), $"README's step table has no row for {step.Name}");
            var inputs = step.Inputs.Select(i => i.Required ? $"**`{i.Name}`**" : $"`{i.Name}`");
            Assert.Equal(string.Join(", ", inputs), row[2]);
            Assert.Equal(string.Join(", ", step.Outputs.Select(o => $"`{o}`")), row[3]);
            Assert.False(string.IsNullOrWhiteSpace(row[4]), $"README gives no failure for {step.Name}");
        }
    }
}
