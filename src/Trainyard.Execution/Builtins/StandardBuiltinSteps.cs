using System.Text;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Steps;
using Trainyard.Execution.Contracts;

namespace Trainyard.Execution.Builtins;

/// <summary>`echo`: logs `message` and returns every input as an output.</summary>
internal sealed class EchoStep : IBuiltinStep
{
    public BuiltinStepInfo Info => StandardSteps.Echo;

    public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var message = StepInputs.GetString(context.Work, "message");
        if (message is not null)
        {
            await context.Log(message, cancellationToken).ConfigureAwait(false);
        }

        return new TaskResult { Outputs = context.Work.Inputs };
    }
}

/// <summary>`sleep`: waits for `duration`, cancellable.</summary>
internal sealed class SleepStep : IBuiltinStep
{
    public BuiltinStepInfo Info => StandardSteps.Sleep;

    public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var duration = StepInputs.RequireDuration(context.Work, "duration");
        await Task.Delay(duration, context.Time, cancellationToken).ConfigureAwait(false);
        return new TaskResult();
    }
}

/// <summary>`fail`: fails its first `times` attempts (default: all), then succeeds; for testing retries.</summary>
internal sealed class FailStep : IBuiltinStep
{
    public BuiltinStepInfo Info => StandardSteps.Fail;

    public Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var times = StepInputs.GetInteger(context.Work, "times");
        var message = StepInputs.GetString(context.Work, "message") ?? "planned failure";
        var attempt = context.Work.Attempt;
        if (times is null || attempt <= times)
        {
            var of = times is null ? "always fails" : $"fails {times} time(s)";
            throw new StepFailedException($"{message} (attempt {attempt}; this step {of})", retryable: true);
        }

        return Task.FromResult(new TaskResult
        {
            Outputs = new Dictionary<string, JsonElement> { ["attempt"] = JsonSerializer.SerializeToElement(attempt) },
        });
    }
}

/// <summary>`write-file`: writes `content` to `name` in the attempt's output folder.</summary>
internal sealed class WriteFileStep : IBuiltinStep
{
    public BuiltinStepInfo Info => StandardSteps.WriteFile;

    public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var name = StepInputs.RequireString(context.Work, "name");
        var content = StepInputs.RequireString(context.Work, "content");
        string path;
        try
        {
            path = Artifacts.ArtifactPath.Validate(context.Work.OutputPrefix + name, "name");
        }
        catch (ArgumentException e)
        {
            throw new StepFailedException($"Step '{context.Work.StepId}' (write-file): input 'name' is not a valid file name: {e.Message}");
        }

        using var data = new MemoryStream(Encoding.UTF8.GetBytes(content));
        var info = await context.Artifacts.PutAsync(path, data, cancellationToken).ConfigureAwait(false);
        return new TaskResult
        {
            Outputs = new Dictionary<string, JsonElement>
            {
                ["path"] = JsonSerializer.SerializeToElement(info.Path),
                ["sha256"] = JsonSerializer.SerializeToElement(info.Sha256),
            },
            Artifacts = [new ArtifactRef(name, info.Path, info.Sha256, info.Size)],
        };
    }
}
