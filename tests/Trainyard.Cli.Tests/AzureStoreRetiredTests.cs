namespace Trainyard.Cli.Tests;

/// <summary>
/// What retired with the Azure run store: `--store azure:...` is a Durable task hub (the run commands work on it, see
/// DurableCommandsTests), commands of the embedded store refuse it, the poison commands are gone, and `trainyard run` refuses Batch steps (the Durable
/// engine's Batch sub-orchestration runs them). Real `trainyard` processes; no storage is touched.
/// </summary>
public sealed class AzureStoreRetiredTests : IDisposable
{
    private const string AzureStore = "azure:UseDevelopmentStorage=true;TaskHub=retired";

    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    public static TheoryData<string[]> EmbeddedOnlyCommands() => new()
    {
        new[] { "stats", "hello" },
    };

    [Theory]
    [MemberData(nameof(EmbeddedOnlyCommands))]
    public async Task EmbeddedOnlyCommand_OnAnAzureStore_IsRefusedWithOneErrorPointingToTheDurableCommands(string[] command)
    {
        var args = command.Concat(["--store", AzureStore]).ToList();

        var result = await _cli.RunAsync(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal("", result.Stdout);
        var error = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: --store azure:... is a durable task hub, which this command does not read", error, StringComparison.Ordinal);
        Assert.Contains("Function App's HTTP API", error, StringComparison.Ordinal);
        Assert.Contains("`trainyard runs`", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_cli.WorkingDirectory, ".trainyard")), "a refused command created the embedded store");
    }

    [Theory]
    [InlineData("run", "FILE")]
    [InlineData("worker")]
    public async Task EmbeddedEngine_WithAnAzureStore_IsAUsageError(params string[] command)
    {
        var file = _cli.WriteFile("hello.yaml", "name: hello\nsteps:\n  - id: a\n    uses: echo\n    with: { message: hi }\n");
        var args = command.Select(a => a == "FILE" ? file : a).Concat(["--engine", "embedded", "--store", AzureStore]).ToList();

        var result = await _cli.RunAsync(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("--engine embedded cannot use --store azure:", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("poison", "list")]
    [InlineData("poison", "requeue")]
    public async Task PoisonCommands_AreGone(string group, string verb)
    {
        var result = await _cli.RunAsync([group, verb, "--store", AzureStore]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("poison", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BatchStep_InTrainyardRun_IsRefusedAtStart_NamingTheStepAndTheDurableSubOrchestration()
    {
        var pipeline = _cli.WriteFile("train.yaml", """
            name: train-on-batch
            steps:
              - id: prep
                uses: echo
              - id: train
                needs: [prep]
                executor: batch
                resources: { pool: gpu }
                run:
                  command: [python, train.py]
            """);

        // Batch settings in the environment change nothing: the CLI never submits Batch work any more.
        var result = await _cli.RunAsync(["run", pipeline], env: new Dictionary<string, string> { ["TRAINYARD_BATCH_ENDPOINT"] = "https://acct.westeurope.batch.azure.com" });

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("Step 'train'", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("Batch sub-orchestration", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("trainyard pipelines push", result.Stderr, StringComparison.Ordinal);
        var runs = await _cli.RunAsync(["runs", "--json"]);
        Assert.Equal("[]", runs.Stdout.Trim());
    }

    [Fact]
    public async Task StoreWithAKey_IsRefused_WithoutRepeatingTheKey()
    {
        var result = await _cli.RunAsync(["pipelines", "list", "--store", "azure:DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=c2VjcmV0a2V5"]);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("keys, SAS tokens and connection strings are not accepted", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("azure:https://<account>.blob.core.windows.net", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("c2VjcmV0a2V5", result.ToString(), StringComparison.Ordinal);
    }
}
