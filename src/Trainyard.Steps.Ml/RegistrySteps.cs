using System.Globalization;
using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Steps;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml;

/// <summary>`register-model`: a new immutable version in the <see cref="ModelRegistry"/> with metrics, params, data hashes and lineage.</summary>
public sealed class RegisterModelStep : IBuiltinStep
{
    /// <inheritdoc />
    public BuiltinStepInfo Info => StandardSteps.RegisterModel;

    /// <inheritdoc />
    public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var inputs = StepInputs.Of(Info.Name, context);
        var io = new StepIo(context, inputs) { Token = cancellationToken };
        var name = inputs.Checked("name", inputs.RequiredString("name"), InputRule.ModelName);
        var model = inputs.RequiredPath("model");
        var files = new Dictionary<string, string>(StringComparer.Ordinal) { ["model.zip"] = model };
        foreach (var extra in inputs.PathList("files"))
        {
            // Two steps' stats.json must not collide: the second becomes <task>-stats.json (task from runs/<run>/<task>/...).
            var segments = extra.Split('/');
            var fileName = segments[^1];
            if (!files.TryAdd(fileName, extra) && !files.TryAdd($"{(segments.Length >= 4 ? segments[^3] : "file")}-{fileName}", extra))
            {
                throw inputs.Bad("files", $"lists '{extra}', whose name collides with another file; list each file once");
            }
        }

        var data = new List<LineageArtifact>();
        foreach (var path in inputs.PathList("data"))
        {
            var info = await context.Artifacts.GetInfoAsync(path, cancellationToken) ?? throw inputs.Bad("data", $"names artifact '{path}', which does not exist");
            data.Add(new LineageArtifact("data", info.Path, info.Sha256));
            io.RecordInput("data", info);
        }

        foreach (var path in files.Values)
        {
            if (await context.Artifacts.GetInfoAsync(path, cancellationToken) is { } info)
            {
                io.RecordInput("model", info);
            }
        }

        var work = context.Work;
        var registry = context.Services?.GetService(typeof(ModelRegistry)) as ModelRegistry ?? new ModelRegistry(context.Artifacts, context.Time);
        ModelVersion version;
        try
        {
            version = await registry.RegisterAsync(new ModelRegistration(name)
            {
                Files = files,
                Metrics = ReadMetrics(inputs, "metrics"),
                Params = inputs.Raw("params"),
                Data = data,
                Producer = new Producer(work.RunId, work.TaskKey, work.StepId, work.Attempt, work.DispatchId, work.PipelineName, work.PipelineHash, work.Uses),
                Description = inputs.OptionalString("description"),
            }, cancellationToken);
        }
        catch (ModelRegistryException e)
        {
            throw new StepFailedException($"register-model: {e.Message}");
        }

        await context.Log($"register-model: {name} version {version.Version}", cancellationToken);
        io.SetOutput("name", name);
        io.SetOutput("version", version.Version);
        io.SetOutput("path", ModelRegistry.VersionPrefix(name, version.Version));
        io.SetOutput("model", version.Files[0].Path);
        return await io.FinishAsync();
    }

    internal static Dictionary<string, double> ReadMetrics(StepInputs inputs, string name)
    {
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        if (inputs.OptionalObject(name) is { } obj)
        {
            foreach (var p in obj.EnumerateObject())
            {
                if (p.Value.ValueKind == JsonValueKind.Number)
                {
                    metrics[p.Name] = p.Value.GetDouble();
                }
            }
        }

        return metrics;
    }
}

/// <summary>`promote-model`: moves a stage alias to a version (or, with `rollback: true`, back to the previous one).</summary>
public sealed class PromoteModelStep : IBuiltinStep
{
    /// <inheritdoc />
    public BuiltinStepInfo Info => StandardSteps.PromoteModel;

    /// <inheritdoc />
    public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var inputs = StepInputs.Of(Info.Name, context);
        var io = new StepIo(context, inputs) { Token = cancellationToken };
        var name = inputs.Checked("name", inputs.RequiredString("name"), InputRule.ModelName);
        var stage = inputs.RequiredString("stage");
        var by = $"run {context.Work.RunId} task {context.Work.TaskKey}";
        var registry = context.Services?.GetService(typeof(ModelRegistry)) as ModelRegistry ?? new ModelRegistry(context.Artifacts, context.Time);
        StageChange change;
        try
        {
            if (inputs.Boolean("rollback", false))
            {
                change = await registry.RollbackAsync(name, stage, by, null, cancellationToken);
            }
            else
            {
                var version = inputs.Integer("version", 0, 1);
                if (version == 0)
                {
                    throw inputs.Bad("version", "is required unless rollback is true");
                }

                var (current, _) = await registry.GetStageAsync(name, stage, cancellationToken);
                // Re-running the same promotion (a retried attempt) is a no-op, not a second history entry.
                change = current?.Version == version
                    ? new StageChange(name, stage, version, current.History.Count > 0 ? current.History[^1] : null)
                    : await registry.PromoteAsync(name, version, stage, by, null, cancellationToken);
            }
        }
        catch (ModelRegistryConflictException e)
        {
            throw new StepFailedException($"promote-model: {e.Message}", retryable: true);
        }
        catch (ModelRegistryException e)
        {
            throw new StepFailedException($"promote-model: {e.Message}");
        }

        await context.Log(string.Create(CultureInfo.InvariantCulture, $"promote-model: {name} {stage} -> version {change.Version} (was {change.Previous?.ToString(CultureInfo.InvariantCulture) ?? "unset"})"), cancellationToken);
        io.SetOutput("stage", stage);
        io.SetOutput("version", change.Version);
        io.SetOutput("previous", change.Previous);
        return await io.FinishAsync();
    }
}
