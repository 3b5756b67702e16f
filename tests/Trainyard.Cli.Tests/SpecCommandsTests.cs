using System.Text.Json;
using Trainyard.Testing;

namespace Trainyard.Cli.Tests;

/// <summary>`trainyard validate` and `trainyard plan`, invoked in-process through the same entry point as the executable.</summary>
public sealed class SpecCommandsTests : IDisposable
{
    private static readonly string Churn = RepoPaths.Of("samples", "churn", "pipeline.yaml");
    private static readonly Trainyard.Core.Spec.PipelineSpec ChurnSpec = Trainyard.Core.Spec.PipelineLoader.Load(File.ReadAllText(Churn), Churn).Spec!;
    private readonly string _dir = Directory.CreateTempSubdirectory("trainyard-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        int code = await CliApp.InvokeAsync(args, output, error, cts.Token);
        return (code, output.ToString().Replace("\r\n", "\n", StringComparison.Ordinal), error.ToString());
    }

    private string Write(string name, string yaml)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public async Task Validate_ValidFile_ExitsZeroAndSaysOk()
    {
        var (code, output, _) = await Run("validate", Churn);
        Assert.Equal(0, code);
        Assert.Contains($"{Churn}: ok ({ChurnSpec.Steps.Count} steps, 0 warnings)", output, StringComparison.Ordinal);
        Assert.EndsWith("1 file(s) checked, 1 valid: 0 error(s), 0 warning(s)\n", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_InvalidFile_ExitsInvalidSpecWithErrorsBeforeWarnings()
    {
        var bad = Write("bad.yaml", "name: demo\nparams:\n  unused: { type: string }\nsteps:\n  - id: train\n    uses: echo\n  - id: eval\n    uses: echo\n    needs: traim\n");
        var (code, output, _) = await Run("validate", bad, Churn);
        Assert.Equal(CliApp.InvalidSpec, code);
        var lines = output.Split('\n');
        int error = Array.FindIndex(lines, l => l == $"{bad}:9:12: error TY012: steps.eval.needs[0]: unknown step 'traim' — did you mean 'train'?");
        int warning = Array.FindIndex(lines, l => l == $"{bad}:3:3: warning TY101: params.unused: param 'unused' is never used");
        Assert.True(error >= 0 && warning > error, output);
        Assert.Equal("    help: change it to 'train'", lines[error + 1]);
        Assert.Contains("2 file(s) checked, 1 valid: 1 error(s), 1 warning(s)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_Json_PrintsAnArrayOfDiagnostics()
    {
        var bad = Write("bad.yaml", "name: demo\nsteps:\n  - id: a\n    uses: nope\n");
        var (code, output, _) = await Run("validate", "--json", bad);
        Assert.Equal(CliApp.InvalidSpec, code);
        var d = Assert.Single(JsonDocument.Parse(output).RootElement.EnumerateArray());
        Assert.Equal("error", d.GetProperty("severity").GetString());
        Assert.Equal("TY025", d.GetProperty("code").GetString());
        Assert.Equal(4, d.GetProperty("line").GetInt32());
        Assert.Equal(11, d.GetProperty("column").GetInt32());
        Assert.Equal("a", d.GetProperty("stepId").GetString());
        Assert.Equal("steps[0].uses", d.GetProperty("field").GetString());
    }

    [Fact]
    public async Task Validate_MissingFileOrNoArguments_ExitsTwo()
    {
        var (code, _, err) = await Run("validate", Path.Combine(_dir, "missing.yaml"));
        Assert.Equal(2, code);
        Assert.Contains("missing.yaml: cannot read the file", err, StringComparison.Ordinal);
        Assert.Equal(2, (await Run("validate")).Code);
    }

    [Fact]
    public async Task Plan_Churn_ShowsParamsStagesParallelismAndCriticalPath()
    {
        var (code, output, _) = await Run("plan", Churn);
        Assert.Equal(0, code);
        var graph = Trainyard.Core.Spec.PipelineGraph.FromSpec(ChurnSpec);
        Assert.Contains(" = [\"fasttree\",\"lightgbm\",\"logistic\"]  (list, default)\n", output, StringComparison.Ordinal);
        Assert.Contains(". features-behaviour, features-billing\n", output, StringComparison.Ordinal);
        Assert.Contains(". train [foreach ${{ params.trainers }}: 3 items, maxParallel 3]\n", output, StringComparison.Ordinal);
        Assert.Contains("max parallelism: 2 steps, 3 tasks with fan-out\n", output, StringComparison.Ordinal);
        Assert.Contains($"critical path: {graph.CriticalPathLength} steps ({string.Join(" -> ", graph.CriticalPath())})\n", output, StringComparison.Ordinal);
        Assert.Equal("promote-model", graph.CriticalPath()[^1]);
    }

    [Fact]
    public async Task Plan_Params_AreTypeCheckedAndChangeTheFanOut()
    {
        var (code, output, _) = await Run("plan", Churn, "--param", "trainers=[sdca, fastforest]", "--param", "minAuc=0.9");
        Assert.Equal(0, code);
        Assert.Contains(" = 0.9  (number, --param)\n", output, StringComparison.Ordinal);
        Assert.Contains("train [foreach ${{ params.trainers }}: 2 items, maxParallel 3]", output, StringComparison.Ordinal);

        var (badCode, _, err) = await Run("plan", Churn, "--param", "minAuc=high", "--param", "minAcu=1");
        Assert.Equal(CliApp.UsageError, badCode);
        Assert.Contains("error TY021: params.minAuc: 'high' is not a number", err, StringComparison.Ordinal);
        Assert.Contains("error TY033: params.minAcu: the pipeline declares no param 'minAcu' — did you mean 'minAuc'?", err, StringComparison.Ordinal);

        Assert.Equal(2, (await Run("plan", Churn, "--param", "novalue")).Code);
    }

    [Fact]
    public async Task Plan_MermaidAndDot_PrintTheDag()
    {
        var (code, mermaid, _) = await Run("plan", Churn, "--format", "mermaid");
        Assert.Equal(0, code);
        Assert.StartsWith("flowchart TD\n", mermaid, StringComparison.Ordinal);
        Assert.Contains("  train[\"train ×3<br/>uses train-mlnet\"]\n", mermaid, StringComparison.Ordinal);
        Assert.Contains("  promote_model{{\"promote-model (conditional)<br/>uses promote-model\"}}\n", mermaid, StringComparison.Ordinal);
        Assert.Contains("  features_billing --> train\n", mermaid, StringComparison.Ordinal);

        var (_, dot, _) = await Run("plan", Churn, "--format", "dot");
        Assert.StartsWith("digraph \"churn-retrain\" {\n", dot, StringComparison.Ordinal);
        Assert.Contains("  \"register-model\" -> \"promote-model\";\n", dot, StringComparison.Ordinal);
        Assert.Equal(ChurnSpec.Steps.Count, dot.Split('\n').Count(l => l.Contains("[label=", StringComparison.Ordinal)));

        Assert.Equal(2, (await Run("plan", Churn, "--format", "png")).Code);
    }

    [Fact]
    public async Task Plan_InvalidPipeline_ExitsInvalidSpecWithDiagnostics()
    {
        var bad = Write("cycle.yaml", "name: demo\nsteps:\n  - { id: a, uses: echo, needs: b }\n  - { id: b, uses: echo, needs: a }\n");
        var (code, _, err) = await Run("plan", bad);
        Assert.Equal(CliApp.InvalidSpec, code);
        Assert.Contains($"{bad}:3:33: error TY014: steps.a.needs[0]: steps form a cycle: a -> b -> a", err, StringComparison.Ordinal);
    }
}
