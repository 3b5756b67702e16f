using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Builtins;
using Trainyard.Execution.Contracts;

namespace Trainyard.Execution.Tests.Builtins;

/// <summary>
/// A duration `validate` accepts for a built-in step's input is one the step accepts at run time, with the same
/// value, and the other way round: both go through Core's <see cref="Duration"/>.
/// </summary>
public sealed class DurationAgreementTests
{
    public static TheoryData<string> Forms => new()
    {
        "\"500ms\"", "\"2s\"", "\"5m\"", "\"1h30m\"", "\"1.5h\"", "\"2d\"", "\"PT5M\"", "\"P1DT2H\"", "\"00:00:02\"", "\"2\"",
        "\"-1s\"", "\"1w\"", "\"5 m\"", "\"\"", "\"1e3s\"", "\"NaNs\"", "\"99999999999d\"", "2", "0.5", "-3", "true",
    };

    [Theory]
    [MemberData(nameof(Forms))]
    public void SleepDuration_ValidateAndRunTime_Agree(string json)
    {
        var validated = PipelineLoader.Load($"name: p\nsteps:\n  - {{ id: s, uses: sleep, with: {{ duration: {json} }} }}\n", "p.yaml");
        using var doc = JsonDocument.Parse(json);
        var work = new TaskWorkItem
        {
            RunId = "r",
            TaskKey = "s",
            StepId = "s",
            Attempt = 1,
            DispatchId = "d",
            PipelineName = "p",
            PipelineHash = "h",
            Executor = ExecutorKind.Builtin,
            Uses = "sleep",
            Inputs = new Dictionary<string, JsonElement> { ["duration"] = doc.RootElement.Clone() },
        };
        TimeSpan? atRun;
        try
        {
            atRun = StepInputs.RequireDuration(work, "duration");
        }
        catch (StepFailedException)
        {
            atRun = null;
        }

        Assert.Equal(validated.Spec is not null, atRun is not null);
        if (atRun is { } value && doc.RootElement.ValueKind == JsonValueKind.String)
        {
            Assert.Equal(Duration.Parse(doc.RootElement.GetString()!), value);
        }
    }
}
