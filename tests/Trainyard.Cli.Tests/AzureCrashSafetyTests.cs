using Trainyard.Testing;
using Xunit.Abstractions;

namespace Trainyard.Cli.Tests;

/// <summary>
/// The engine's crash-kill test (see <see cref="CrashSafetyTests"/> for what a passing scenario proves) on the Azure
/// Storage backend: `trainyard run --store azure:...` against Azurite, each scenario in its own task hub. A subset of
/// the fault points, one per crash window, since every Azure scenario costs seconds of Azurite time.
/// </summary>
[NeedsAzurite]
[Collection(AzuriteCliCollection.Name)]
public sealed class AzureCrashSafetyTests(AzuriteFixture azurite, ITestOutputHelper output) : IDisposable
{
    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    private CrashScenario NewScenario(string name)
    {
        azurite.EnsureAvailable();
        return new CrashScenario(_cli, name, $"azure:{azurite.ConnectionString};TaskHub={AzuriteFixture.NewTaskHub()}");
    }

    public static TheoryData<string, int> FaultPoints() => new()
    {
        { "after-commit", 2 },
        { "after-commit", 5 },
        { "after-dispatch", 2 },
        { "mid-task", 2 },
        { "before-complete", 3 },
    };

    [AzuriteTheory]
    [MemberData(nameof(FaultPoints))]
    public async Task KilledAtFaultPoint_OnAzureStorage_ResumeCompletesEveryTaskOnce(string point, int hit)
    {
        var scenario = NewScenario($"azure-{point}-{hit}");
        var first = await scenario.RunAsync(new Dictionary<string, string> { ["TRAINYARD_FAULT"] = $"{point}:{hit}" });

        Assert.True(CrashSafetyTests.IsKilled(first), $"the fault {point}:{hit} did not kill `trainyard run`:\n{first}");
        await scenario.ResumeUntilDoneAndVerifyAsync(output, killFirstResumeAfter: null);
    }

    [AzuriteFact]
    public async Task KilledAtRandomMoments_OnAzureStorage_ResumeCompletesEveryTaskOnce()
    {
        var random = new Random(20261124);
        var kills = 0;
        for (var i = 0; i < 3; i++)
        {
            var scenario = NewScenario($"azure-random-{i}");
            // Within the first second after `started`: the whole run takes about 1.5-3 s on Azurite.
            var delay = TimeSpan.FromMilliseconds(random.Next(50, 900));
            var child = scenario.Start(null);
            await CrashSafetyTests.WaitForOutput(child, " started", TimeSpan.FromSeconds(60));
            await Task.Delay(delay);
            kills += child.Process.HasExited ? 0 : 1;
            await child.KillAsync();
            output.WriteLine($"azure-random-{i}: SIGKILL {delay.TotalMilliseconds}ms after the run started");
            await scenario.ResumeUntilDoneAndVerifyAsync(output, i == 1 ? TimeSpan.FromMilliseconds(random.Next(500, 2500)) : null);
        }

        Assert.True(kills >= 2, $"only {kills} of 3 random kills hit a running process");
    }
}
