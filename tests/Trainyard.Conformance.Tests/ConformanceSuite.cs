using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Engine.Durable.Hosting;
using Trainyard.Testing;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

[assembly: TestFramework("Trainyard.Testing.AzuriteTestFramework", "Trainyard.Testing")]

namespace Trainyard.Conformance.Tests;

/// <summary>
/// One parameterised suite: every scenario of the <see cref="Corpus"/> on an engine, checked against the outcome
/// written in the corpus (run status; each task's status, attempt and outputs; no other tasks). The subclasses only
/// say which engine: so every engine is held to the same outcomes, and a difference between two engines fails one of them.
/// </summary>
public abstract class ConformanceSuite
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    /// <summary>The scenario names.</summary>
    public static TheoryData<string> Scenarios()
    {
        var data = new TheoryData<string>();
        foreach (var name in Corpus.All.Keys)
        {
            data.Add(name);
        }

        return data;
    }

    /// <summary>A fresh engine.</summary>
    protected abstract Task<IEngineUnderTest> CreateAsync();

    [Theory]
    [MemberData(nameof(Scenarios))]
    public async Task Scenario_GivesTheCorpusOutcome(string name)
    {
        var scenario = Corpus.All[name];
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var engine = await CreateAsync();
        var runId = await engine.StartAsync(scenario, ct);
        switch (scenario.Act)
        {
            case Act.ApproveWhileBuildRuns:
                await WaitForRunningAsync(engine, runId, "build", ct);
                var payload = JsonSerializer.SerializeToElement(new { ok = true, by = "ops" });
                await engine.RaiseAsync(runId, "approval", payload, "approve-1", ct);
                await engine.RaiseAsync(runId, "approval", payload, "approve-1", ct);
                break;
            case Act.CancelWhileSlowRuns:
                await WaitForRunningAsync(engine, runId, "slow", ct);
                await engine.CancelAsync(runId, ct);
                break;
            case Act.RunTwice:
                var first = await engine.WaitAsync(runId, ct);
                Assert.True(first.Status == RunStatus.Succeeded, $"first run: {first.Status} {first.Error}");
                runId = await engine.StartAsync(scenario, ct);
                break;
        }

        var state = await engine.WaitAsync(runId, ct);

        Assert.True(state.Status == scenario.Run, $"{name}: run {state.Status}, expected {scenario.Run}: {state.Error}\n{Describe(state)}");
        Assert.Equal(scenario.Tasks.Keys.Order(StringComparer.Ordinal), state.Tasks.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, expect) in scenario.Tasks)
        {
            var task = state.Tasks[key];
            Assert.True(task.Status == expect.Status, $"{name}: task {key} is {task.Status}, expected {expect.Status} ({task.Message})\n{Describe(state)}");
            if (expect.Attempt is { } attempt)
            {
                Assert.True(task.Attempt == attempt, $"{name}: task {key} ended on attempt {task.Attempt}, expected {attempt}");
            }

            foreach (var (output, json) in expect.Outputs ?? new Dictionary<string, string>())
            {
                JsonElement value = default;
                Assert.True(task.Result?.Outputs.TryGetValue(output, out value) == true, $"{name}: task {key} has no output '{output}'");
                Assert.True(JsonElement.DeepEquals(JsonDocument.Parse(json).RootElement, value), $"{name}: task {key} output '{output}' is {value.GetRawText()}, expected {json}");
            }
        }
    }

    private static async Task WaitForRunningAsync(IEngineUnderTest engine, string runId, string taskKey, CancellationToken ct)
    {
        while (await engine.TaskStatusAsync(runId, taskKey, ct) is not (TaskStatus.Running or TaskStatus.Dispatched))
        {
            await Task.Delay(25, ct);
        }
    }

    private static string Describe(RunState state)
        => string.Join("\n", state.Tasks.Values.Select(t => $"  {t.TaskKey}: {t.Status} attempt {t.Attempt} {t.Message}"));
}

/// <summary>The embedded engine (in-memory backend).</summary>
public sealed class EmbeddedConformanceTests : ConformanceSuite
{
    /// <inheritdoc />
    protected override Task<IEngineUnderTest> CreateAsync() => Task.FromResult<IEngineUnderTest>(new EmbeddedEngine());
}

/// <summary>The Durable engine on the in-memory task hub.</summary>
public sealed class DurableMemoryConformanceTests : ConformanceSuite
{
    /// <inheritdoc />
    protected override async Task<IEngineUnderTest> CreateAsync() => await DurableEngine.StartAsync(DurableStore.Memory);
}

/// <summary>The Durable engine on an Azure Storage task hub on Azurite (a fresh hub per test).</summary>
[NeedsAzurite]
public sealed class DurableAzuriteConformanceTests(AzuriteFixture azurite) : ConformanceSuite, IClassFixture<AzuriteFixture>
{
    /// <inheritdoc />
    protected override async Task<IEngineUnderTest> CreateAsync()
    {
        azurite.EnsureAvailable();
        return await DurableEngine.StartAsync(DurableStore.AzureStorage(azurite.ConnectionString, AzuriteFixture.NewTaskHub()));
    }
}
