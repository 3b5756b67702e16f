using System.Text.Json;
using Azure.Storage.Blobs;
using Trainyard.Storage.Azure;
using Trainyard.Testing;

namespace Trainyard.Cli.Tests;

/// <summary>
/// What `--store azure:...` still means: the registry commands (pipelines, models, lineage) on Trainyard's blob
/// containers, the ones the Function App reads. Real `trainyard` processes on Azurite; each test's task hub is deleted after.
/// </summary>
[NeedsAzurite]
[Collection(AzuriteCliCollection.Name)]
public sealed class AzureStoreRegistryTests(AzuriteFixture azurite) : IDisposable
{
    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    [AzuriteFact]
    public async Task Pipelines_PushListShow_OnAzureStorage_StoreVersionsInTheTaskHubsContainers()
    {
        var hub = AzuriteFixture.NewTaskHub();
        var store = azurite.CliStore(hub);
        var stores = new AzureBlobStores(AzureStorageOptions.Parse(store));
        try
        {
            var v1 = _cli.WriteFile("greet.yaml", PipelineCommandsTests.Greet("data", "{who}.txt"));
            var push = await _cli.RunAsync(["pipelines", "push", v1, "--store", store, "--json"]);
            Assert.True(push.ExitCode == 0, push.ToString());
            var hash = JsonDocument.Parse(push.Stdout).RootElement.GetProperty("version").GetString()!;
            var again = await _cli.RunAsync(["pipelines", "push", v1, "--store", store, "--json"]);
            Assert.False(JsonDocument.Parse(again.Stdout).RootElement.GetProperty("created").GetBoolean(), again.ToString());

            var v2 = _cli.WriteFile("greet2.yaml", PipelineCommandsTests.Greet("data", "in/{who}.txt"));
            Assert.Equal(0, (await _cli.RunAsync(["pipelines", "push", v2, "--store", store])).ExitCode);

            var list = await _cli.RunAsync(["pipelines", "list", "--store", store, "--json"]);
            var row = Assert.Single(JsonDocument.Parse(list.Stdout).RootElement.EnumerateArray());
            Assert.Equal(2, row.GetProperty("versions").GetInt32());
            var show = await _cli.RunAsync(["pipelines", "show", "greet", "--version", hash[..8], "--store", store, "--json"]);
            Assert.True(show.ExitCode == 0, show.ToString());
            Assert.False(JsonDocument.Parse(show.Stdout).RootElement.GetProperty("active").GetBoolean());

            // What the Function App reads: the version by hash, and the active pointer naming the last push.
            Assert.Equal("greet", (await stores.Pipelines.GetPipelineAsync(hash, CancellationToken.None))?.Name);
            Assert.NotEqual(hash, (await stores.Values.GetValueAsync("active-pipelines", "greet", CancellationToken.None))?.Value);
            var blobs = new BlobServiceClient(AzureStorageOptions.DevelopmentStorage).GetBlobContainerClient(stores.Names.Pipelines);
            Assert.True((await blobs.GetBlobClient(hash + ".json").ExistsAsync()).Value);
            Assert.False(Directory.Exists(Path.Combine(_cli.WorkingDirectory, ".trainyard")), "an Azure store command created the embedded store");
        }
        finally
        {
            using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await stores.DeleteAllAsync(cleanup.Token);
        }
    }

    [AzuriteFact]
    public async Task ModelsAndLineage_OnAzureStorage_ReadTheBlobRegistry()
    {
        var store = azurite.CliStore(AzuriteFixture.NewTaskHub());
        var stores = new AzureBlobStores(AzureStorageOptions.Parse(store));
        try
        {
            var models = await _cli.RunAsync(["models", "list", "--store", store, "--json"]);
            Assert.True(models.ExitCode == 0, models.ToString());
            Assert.Equal("[]", models.Stdout.Trim());

            await stores.Artifacts.PutAsync("runs/r1/prep/d1/data.csv", new MemoryStream("a,b\n1,2\n"u8.ToArray()), CancellationToken.None);
            var lineage = await _cli.RunAsync(["lineage", "runs/r1/prep/d1/data.csv", "--store", store, "--json"]);
            Assert.True(lineage.ExitCode == 0, lineage.ToString());
            var root = JsonDocument.Parse(lineage.Stdout).RootElement;
            Assert.Equal("runs/r1/prep/d1/data.csv", root.GetProperty("path").GetString());
            Assert.StartsWith("no producer recorded", root.GetProperty("note").GetString(), StringComparison.Ordinal);

            var missing = await _cli.RunAsync(["lineage", "churn:3", "--store", store]);
            Assert.Equal(2, missing.ExitCode);
            Assert.Contains("no model 'churn:3'", missing.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await stores.DeleteAllAsync(cleanup.Token);
        }
    }
}
