using System.Text.Json;
using Trainyard.Runtime.Contracts;
using Trainyard.Storage.Azure;
using Trainyard.Testing;
using Trainyard.Execution.Contracts;

namespace Trainyard.Cli.Tests;

/// <summary>`trainyard poison list|requeue` on Azure Storage (Azurite), after the CLI's own worker quarantined a message.</summary>
[NeedsAzurite]
[Collection(AzuriteCliCollection.Name)]
public sealed class PoisonCommandsTests(AzuriteFixture azurite) : IDisposable
{
    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    [AzuriteFact]
    public async Task UnreadableWorkMessage_IsQuarantined_ListedWithItsReason_AndRequeuedUnchanged()
    {
        azurite.EnsureAvailable();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var store = $"azure:{azurite.ConnectionString};TaskHub={AzuriteFixture.NewTaskHub()}";
        await using var backend = new AzureBackend(AzureBackendOptions.Parse(store));
        await backend.Work.SendAsync([new OutgoingMessage("garbage-1", "{ this is not a work message")], limit.Token);

        // `trainyard run` drives its run through a worker that also drains whatever else is on the work queue. The step is
        // a process (built-in steps run inline and never touch the work queue), queued behind the unreadable message.
        var pipeline = _cli.WriteFile("p.yaml", "name: p\nsteps:\n  - id: a\n    run: { command: [sh, -c, 'true'] }\n");
        var run = await _cli.RunAsync(["run", pipeline, "--store", store]);
        Assert.True(run.ExitCode == 0, run.ToString());

        var list = await _cli.RunAsync(["poison", "list", "--store", store]);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("-work-poison: 1 message(s)", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("garbage-1", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("unreadable work message", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("trainyard poison requeue", list.Stdout, StringComparison.Ordinal);

        var json = await _cli.RunAsync(["poison", "list", "--store", store, "--json"]);
        using (var doc = JsonDocument.Parse(json.Stdout))
        {
            Assert.Equal(1, doc.RootElement.GetProperty("count").GetInt32());
            var message = doc.RootElement.GetProperty("messages")[0];
            Assert.Equal("{ this is not a work message", message.GetProperty("body").GetString());
            Assert.Equal(backend.Work.Name, message.GetProperty("source").GetString());
        }

        var requeue = await _cli.RunAsync(["poison", "requeue", "--store", store]);
        Assert.True(requeue.ExitCode == 0, requeue.ToString());
        Assert.Contains("requeued 1 message(s)", requeue.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, await backend.WorkPoison.CountAsync(limit.Token));
        var back = Assert.Single(await backend.Work.ReceiveAsync(32, TimeSpan.FromSeconds(30), limit.Token));
        Assert.Equal("garbage-1", back.Id);
        Assert.Equal("{ this is not a work message", back.Body);
    }

    [AzuriteTheory]
    [InlineData("list", ".trainyard", "is not an Azure store")]
    [InlineData("requeue", "AZURE", "--queue 'sideways' is unknown")]
    public async Task Poison_BadInput_ExitsTwoSayingWhatToPass(string verb, string store, string message)
    {
        if (store == "AZURE")
        {
            azurite.EnsureAvailable();
            store = $"azure:{azurite.ConnectionString};TaskHub={AzuriteFixture.NewTaskHub()}";
        }

        var result = await _cli.RunAsync(["poison", verb, "--store", store, "--queue", store.StartsWith("azure:", StringComparison.Ordinal) ? "sideways" : "work"]);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(message, result.Stderr + result.Stdout, StringComparison.Ordinal);
    }
}
