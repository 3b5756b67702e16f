using System.Text.Json;
using Trainyard.Testing;

namespace Trainyard.Cli.Tests;

/// <summary>`trainyard pipelines push | list | show` and `trainyard signal drift`, as real processes on a SQLite store.</summary>
public sealed class PipelineCommandsTests : IDisposable
{
    private static readonly string Hello = Greet("data", "{who}.txt");

    private readonly TrainyardProcesses _cli = new();

    /// <summary>An echo pipeline with a blob trigger whose `{who}` capture fills the param of the same name.</summary>
    internal static string Greet(string container, string path, string moreTriggers = "") => $$$"""
        name: greet
        params:
          who: { type: string, default: world }
        triggers:
          - type: blob
            id: drop
            container: {{{container}}}
            path: "{{{path}}}"
        {{{moreTriggers}}}
        steps:
          - id: say
            uses: echo
            with: { message: "hello ${{ params.who }}" }
        """;

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Push_SameFileTwice_RegistersOneVersion_SecondPushChangesNothing()
    {
        var file = _cli.WriteFile("greet.yaml", Hello);

        var first = await _cli.RunAsync(["pipelines", "push", file, "--json"]);
        var second = await _cli.RunAsync(["pipelines", "push", file, "--json"]);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(second.ExitCode == 0, second.ToString());
        using var a = JsonDocument.Parse(first.Stdout);
        using var b = JsonDocument.Parse(second.Stdout);
        Assert.True(a.RootElement.GetProperty("created").GetBoolean());
        Assert.False(b.RootElement.GetProperty("created").GetBoolean());
        Assert.Equal(a.RootElement.GetProperty("version").GetString(), b.RootElement.GetProperty("version").GetString());

        var list = await _cli.RunAsync(["pipelines", "list", "--json"]);
        using var rows = JsonDocument.Parse(list.Stdout);
        var row = Assert.Single(rows.RootElement.EnumerateArray());
        Assert.Equal("greet", row.GetProperty("name").GetString());
        Assert.Equal(1, row.GetProperty("versions").GetInt32());
        Assert.Contains("blob drop data/{who}.txt", row.GetProperty("triggers").EnumerateArray().Select(t => t.GetString()));
    }

    [Fact]
    public async Task Push_SpecWithCycle_Exit2WithEveryDiagnostic_NothingRegistered()
    {
        var file = _cli.WriteFile("cycle.yaml", """
            name: loop
            steps:
              - { id: a, uses: echo, needs: [c] }
              - { id: b, uses: echo, needs: [a] }
              - { id: c, uses: echo, needs: [b] }
              - { id: d, uses: nope }
            """);

        var push = await _cli.RunAsync(["pipelines", "push", file]);

        Assert.Equal(CliApp.InvalidSpec, push.ExitCode);
        Assert.Contains("TY014", push.Stderr);
        Assert.Contains("cycle", push.Stderr);
        Assert.Contains("TY025", push.Stderr);
        Assert.Contains("nothing was registered", push.Stderr);
        var list = await _cli.RunAsync(["pipelines", "list"]);
        Assert.Contains("no pipelines registered", list.Stdout);
    }

    [Fact]
    public async Task Show_TwoVersions_ActiveByDefault_OlderByHashPrefix_UnknownIsExit2()
    {
        var v1 = _cli.WriteFile("v1.yaml", Hello);
        var v2 = _cli.WriteFile("v2.yaml", Hello.Replace("default: world", "default: moon", StringComparison.Ordinal));
        var first = await _cli.RunAsync(["pipelines", "push", v1, "--json"]);
        await Task.Delay(20);
        await _cli.RunAsync(["pipelines", "push", v2]);
        using var doc = JsonDocument.Parse(first.Stdout);
        var oldHash = doc.RootElement.GetProperty("version").GetString()!;

        var active = await _cli.RunAsync(["pipelines", "show", "greet"]);
        var old = await _cli.RunAsync(["pipelines", "show", "greet", "--version", oldHash[..10]]);
        var unknown = await _cli.RunAsync(["pipelines", "show", "greet", "--version", "ffffffffff"]);
        var missing = await _cli.RunAsync(["pipelines", "show", "nope"]);

        Assert.True(active.ExitCode == 0, active.ToString());
        Assert.Contains("default: moon", active.Stdout);
        Assert.Contains("(active)", active.Stdout);
        Assert.Contains("versions (2", active.Stdout);
        Assert.True(old.ExitCode == 0, old.ToString());
        Assert.Contains("default: world", old.Stdout);
        Assert.DoesNotContain("(active)", old.Stdout);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("has no version 'ffffffffff'", unknown.Stderr);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("no pipeline 'nope'", missing.Stderr);
    }

    [Fact]
    public async Task SignalDrift_WritesOneSignalToTheLocalQueue_SameIdTwiceIsOneSignal()
    {
        var first = await _cli.RunAsync(["signal", "drift", "--model", "churn", "--metric", "psi", "--value", "0.31", "--feature", "age", "--id", "sig-1"]);
        var again = await _cli.RunAsync(["signal", "drift", "--model", "churn", "--metric", "psi", "--value", "0.31", "--feature", "age", "--id", "sig-1"]);
        var bad = await _cli.RunAsync(["signal", "drift", "--metric", "psi", "--value", "0.31"]);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(again.ExitCode == 0, again.ToString());
        var files = Directory.GetFiles(Path.Combine(_cli.WorkingDirectory, ".trainyard", "artifacts", "signals", "drift"));
        var file = Assert.Single(files);
        using var signal = JsonDocument.Parse(File.ReadAllText(file));
        Assert.Equal("sig-1", signal.RootElement.GetProperty("signalId").GetString());
        Assert.Equal("churn", signal.RootElement.GetProperty("model").GetString());
        Assert.Equal("age", signal.RootElement.GetProperty("feature").GetString());
        Assert.Equal(0.31, signal.RootElement.GetProperty("value").GetDouble());
        Assert.Equal(0.2, signal.RootElement.GetProperty("threshold").GetDouble());
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--model", bad.Stderr);
    }

    [Fact]
    public async Task ChurnSample_WithBlobTrigger_StillValid()
    {
        var result = await _cli.RunAsync(["validate", RepoPaths.Of("samples", "churn", "pipeline.yaml")]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("0 error(s), 0 warning(s)", result.Stdout);
    }
}
