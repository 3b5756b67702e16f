using Trainyard.Storage.Azure;
using Trainyard.Testing;

namespace Trainyard.Cli.Tests;

/// <summary>`trainyard run FILE --engine durable`: the Function App's orchestrator in-process, with the embedded run's report and exit codes.</summary>
[Collection(AzuriteCliCollection.Name)]
public sealed class DurableRunTests(AzuriteFixture azurite) : IDisposable
{
    private const string Pipeline = """
        name: durable-cli
        params:
          fail: { type: boolean, default: false }
        steps:
          - id: a
            uses: echo
            with: { message: hi }
          - id: b
            uses: echo
            needs: [a]
            foreach: { items: [1, 2, 3] }
            with: { message: "${{ item }}" }
          - id: c
            uses: fail
            needs: [b]
            when: "${{ params.fail }}"
            with: { message: planned }
        """;

    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task InMemory_RunsThePipeline_PrintsTheSameReport_AndExitCodesFollowTheOutcome()
    {
        var file = _cli.WriteFile("p.yaml", Pipeline);

        var ok = await _cli.RunAsync(["run", file, "--engine", "durable"]);
        var failed = await _cli.RunAsync(["run", file, "--engine", "durable", "-p", "fail=true"]);

        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Contains("started on the durable engine (in memory", ok.Stdout + ok.Stderr, StringComparison.Ordinal);
        Assert.Contains("b[2]", ok.Stdout, StringComparison.Ordinal);
        Assert.Contains("6 tasks: 1 skipped, 5 succeeded", ok.Stdout, StringComparison.Ordinal);
        Assert.True(failed.ExitCode == 1, failed.ToString());
        Assert.Contains("planned", failed.Stdout + failed.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_cli.WorkingDirectory, ".trainyard")), "the durable engine must not touch the embedded store");
    }

    [AzuriteFact]
    public async Task OnAzurite_RunsOnAnAzureStorageTaskHub_AndKeepsThePipelineVersionInTheBlobStore()
    {
        var hub = AzuriteFixture.NewTaskHub();
        var store = azurite.CliStore(hub);
        var file = _cli.WriteFile("p.yaml", Pipeline);
        try
        {
            var ok = await _cli.RunAsync(["run", file, "--engine", "durable", "--store", store], TimeSpan.FromMinutes(3));

            Assert.True(ok.ExitCode == 0, ok.ToString());
            Assert.Contains("Azure Storage task hub", ok.Stdout + ok.Stderr, StringComparison.Ordinal);
            var stores = new AzureBlobStores(AzureStorageOptions.Parse(store));
            Assert.Single(await stores.Pipelines.ListPipelinesAsync("durable-cli", CancellationToken.None));
        }
        finally
        {
            await new AzureBlobStores(AzureStorageOptions.Parse(store)).DeleteAllAsync(CancellationToken.None);
        }
    }

    [Theory]
    [InlineData("run", "/tmp/some-folder", "not a durable store")]
    [InlineData("serve", "azure:https://acct.blob.core.windows.net", "Azurite")]
    [InlineData("signal", "azure:https://acct.blob.core.windows.net", "Azurite")]
    public async Task AStoreTheCommandCannotUse_IsAUsageError_NamingWhatToUse(string command, string store, string expected)
    {
        // An account URL is a task hub for run/worker/runs... (DefaultAzureCredential); serve's triggers and signal drift
        // read this machine's Azurite queues and containers, so they refuse it before any network call.
        var file = _cli.WriteFile("p.yaml", Pipeline);
        string[] args = command switch
        {
            "run" => ["run", file, "--engine", "durable", "--store", store],
            "serve" => ["serve", file, "--store", store],
            _ => ["signal", "drift", "--model", "m", "--metric", "psi", "--value", "0.3", "--store", store],
        };

        var result = await _cli.RunAsync(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(expected, result.Stderr, StringComparison.Ordinal);
    }
}
