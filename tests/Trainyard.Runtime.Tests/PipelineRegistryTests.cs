using Trainyard.Core.Spec;
using Trainyard.Runtime.InMemory;
using Trainyard.Execution.Registry;

namespace Trainyard.Runtime.Tests;

/// <summary>Which pipeline version is active: the last pushed one, never one that was only run.</summary>
public sealed class PipelineRegistryTests
{
    private const string V1 = "name: nightly\ntriggers:\n  - { type: schedule, id: nightly, cron: '0 2 * * *' }\nsteps:\n  - id: a\n    uses: echo\n";
    private const string V2 = "name: nightly\ntriggers:\n  - { type: schedule, id: nightly, cron: '0 3 * * *' }\nsteps:\n  - id: a\n    uses: echo\n";

    [Fact]
    public async Task RunningAFileByHand_StoresItsVersion_ButDoesNotActivateItsTriggers()
    {
        await using var backend = new InMemoryBackend();
        var engine = new RunEngine(backend, new RunEngineOptions { WorkRoot = Path.GetTempPath() });
        await engine.StartRunAsync(new StartRunRequest { Spec = PipelineLoader.LoadOrThrow(V1, "nightly.yaml"), SpecText = V1 }, CancellationToken.None);
        var registry = new PipelineRegistry(backend.Store, backend.Store);

        Assert.Single(await registry.VersionsAsync("nightly", CancellationToken.None));
        Assert.Null(await registry.ActiveVersionAsync("nightly", CancellationToken.None));
        Assert.Empty(await registry.ActiveAsync(CancellationToken.None));

        var pushed = await registry.RegisterAsync(V1, "nightly.yaml", CancellationToken.None);

        Assert.False(pushed.Created);
        Assert.True(pushed.Activated);
        var (version, spec) = Assert.Single(await registry.ActiveAsync(CancellationToken.None));
        Assert.Equal(pushed.Version!.ContentHash, version.ContentHash);
        Assert.Equal("0 2 * * *", Assert.IsType<ScheduleTriggerSpec>(Assert.Single(spec.Triggers)).Cron);
    }

    [Fact]
    public async Task PushingANewerVersion_ActivatesIt_AndPushingTheOlderOneAgainRollsBack()
    {
        await using var backend = new InMemoryBackend();
        var registry = new PipelineRegistry(backend.Store, backend.Store);

        var v1 = await registry.RegisterAsync(V1, "nightly.yaml", CancellationToken.None);
        var v2 = await registry.RegisterAsync(V2, "nightly.yaml", CancellationToken.None);
        Assert.True(v2.Created && v2.Activated);
        Assert.Equal(v2.Version!.ContentHash, (await registry.ActiveVersionAsync("nightly", CancellationToken.None))!.ContentHash);

        var again = await registry.RegisterAsync(V2, "nightly.yaml", CancellationToken.None);
        Assert.False(again.Created);
        Assert.False(again.Activated);

        var back = await registry.RegisterAsync(V1, "nightly.yaml", CancellationToken.None);
        Assert.False(back.Created);
        Assert.True(back.Activated);
        Assert.Equal(v1.Version!.ContentHash, (await registry.ActiveVersionAsync("nightly", CancellationToken.None))!.ContentHash);
        Assert.Equal(v1.Version.ContentHash, Assert.Single(await registry.ActiveAsync(CancellationToken.None)).Version.ContentHash);
        Assert.Equal(2, (await registry.VersionsAsync("nightly", CancellationToken.None)).Count);
    }

    [Fact]
    public async Task ConcurrentPushes_EndWithOneOfThemActive()
    {
        await using var backend = new InMemoryBackend();
        var registry = new PipelineRegistry(backend.Store, backend.Store);

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => registry.RegisterAsync(i % 2 == 0 ? V1 : V2, "nightly.yaml", CancellationToken.None))));

        var active = (await registry.ActiveVersionAsync("nightly", CancellationToken.None))!.ContentHash;
        Assert.Contains(results, r => r.Version!.ContentHash == active);
    }
}
