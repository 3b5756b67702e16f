using System.Collections.Concurrent;
using System.Globalization;

namespace Trainyard.Compute.Local.Tests;

/// <summary>
/// A step process gets an allow-listed environment: the host's credentials never reach it. The tests set hostile
/// variables in this (test) process, which a real child process would inherit unless the executor strips them.
/// </summary>
[Collection(ProcessEnvironment.Name)]
public sealed class StepEnvironmentTests : IDisposable
{
    private static readonly string[] Hostile =
    [
        "AZURE_CLIENT_SECRET", "AZURE_STORAGE_CONNECTION_STRING", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_SECRET",
        "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "MY_API_KEY", "DB_PASSWORD", "TRAINYARD_FAULT", "AzureWebJobsStorage",
        "UNRELATED_HOST_VARIABLE",
    ];

    private readonly string _root = Directory.CreateTempSubdirectory("trainyard-env-").FullName;
    private readonly ConcurrentQueue<string> _log = new();

    public StepEnvironmentTests()
    {
        foreach (var name in Hostile)
        {
            Environment.SetEnvironmentVariable(name, "leaked-" + name);
        }

        Environment.SetEnvironmentVariable("TRAINYARD_TEST_PASS", "passed-through");
    }

    public void Dispose()
    {
        foreach (var name in Hostile)
        {
            Environment.SetEnvironmentVariable(name, null);
        }

        Environment.SetEnvironmentVariable("TRAINYARD_TEST_PASS", null);
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task StepProcess_HostCredentials_AreNotInherited()
    {
        var env = await RunEnv(new LocalProcessExecutor(), new Dictionary<string, string> { ["SPEC_VAR"] = "from-spec" });

        foreach (var name in Hostile)
        {
            Assert.False(env.ContainsKey(name), $"host variable {name} reached the step process");
        }

        Assert.Equal("from-spec", env["SPEC_VAR"]);
        Assert.Equal(Environment.GetEnvironmentVariable("PATH"), env["PATH"]);
        Assert.Equal("run-1", env["TRAINYARD_RUN_ID"]);
        Assert.DoesNotContain(env.Values, v => v.StartsWith("leaked-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StepProcess_SpecEnvCannotOverrideTrainyardContextVariables()
    {
        var env = await RunEnv(new LocalProcessExecutor(), new Dictionary<string, string> { ["TRAINYARD_OUTPUT_DIR"] = "/etc", ["TRAINYARD_RUN_ID"] = "forged" });

        Assert.Equal("run-1", env["TRAINYARD_RUN_ID"]);
        Assert.EndsWith("out", env["TRAINYARD_OUTPUT_DIR"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task StepProcess_OperatorPassThrough_PassesNamedVariablesButNeverCredentials()
    {
        var options = LocalExecutorOptions.FromEnvironment(name => name == LocalExecutorOptions.PassThroughVariable
            ? "TRAINYARD_TEST_PASS, AZURE_CLIENT_SECRET ,GITHUB_TOKEN"
            : null);

        var env = await RunEnv(new LocalProcessExecutor(options), new Dictionary<string, string>());

        Assert.Equal("passed-through", env["TRAINYARD_TEST_PASS"]);
        Assert.False(env.ContainsKey("AZURE_CLIENT_SECRET"));
        Assert.False(env.ContainsKey("GITHUB_TOKEN"));
    }

    [Theory]
    [InlineData("AZURE_CLIENT_ID", true)]
    [InlineData("IDENTITY_HEADER", true)]
    [InlineData("MSI_ENDPOINT", true)]
    [InlineData("OPENAI_API_KEY", true)]
    [InlineData("client_secret", true)]
    [InlineData("HF_TOKEN", true)]
    [InlineData("PGPASSWORD", true)]
    [InlineData("STORAGE_CONNECTION_STRING", true)]
    [InlineData("AzureWebJobsStorage", true)]
    [InlineData("CUDA_VISIBLE_DEVICES", false)]
    [InlineData("PATH", false)]
    [InlineData("KEYBOARD", false)]
    public void IsCredentialName_Classifies(string name, bool expected)
        => Assert.Equal(expected, StepEnvironment.IsCredentialName(name));

    private async Task<Dictionary<string, string>> RunEnv(LocalProcessExecutor executor, IReadOnlyDictionary<string, string> specEnv)
    {
        var work = new TaskWorkItem
        {
            RunId = "run-1",
            TaskKey = "env",
            StepId = "env",
            Attempt = 1,
            DispatchId = "d-env-" + Guid.NewGuid().ToString("n", CultureInfo.InvariantCulture),
            PipelineName = "p",
            PipelineHash = "h",
            Executor = ExecutorKind.Local,
            Command = ["/bin/sh", "-c", "env -0 > \"$TRAINYARD_OUTPUT_DIR/env.bin\""],
            Env = specEnv,
        };
        var artifacts = new FileSystemArtifactStore(Path.Combine(_root, "artifacts"));
        var workDir = Path.Combine(_root, work.DispatchId);
        Directory.CreateDirectory(workDir);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var outcome = await executor.ExecuteAsync(LocalProcessExecutorTests.Context(work, artifacts, workDir, _log), timeout.Token);
        var artifact = Assert.Single(Assert.IsType<TaskOutcome.Succeeded>(outcome).Result.Artifacts);
        await using var stream = await artifacts.OpenReadAsync(artifact.Path, timeout.Token);
        Assert.NotNull(stream);
        using var reader = new StreamReader(stream);
        var text = await reader.ReadToEndAsync(timeout.Token);
        return text.Split('\0', StringSplitOptions.RemoveEmptyEntries).Select(e => e.Split('=', 2)).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
    }
}

/// <summary>Tests that change this process's environment variables run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironment
{
    /// <summary>The collection name.</summary>
    public const string Name = "process environment";
}
