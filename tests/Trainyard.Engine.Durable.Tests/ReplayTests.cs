using DurableTask.Core;
using DurableTask.Core.History;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Worker;
using Microsoft.DurableTask.Worker.Shims;
using Newtonsoft.Json;
using Trainyard.Core.Engine;
using Trainyard.Testing;

namespace Trainyard.Engine.Durable.Tests;

/// <summary>
/// Replay safety: recorded RunPipeline histories (the samples that run here without Azure: hello, churn, drift; and the
/// scenario pipelines) are replayed through
/// today's orchestrator and must make the same decisions, ending in the recorded outcome. Re-record with
/// TRAINYARD_RECORD_HISTORIES=1 after an intended change to the orchestrator, and review the diff.
/// </summary>
public sealed class ReplayTests
{
    private static readonly JsonSerializerSettings HistoryJson = new()
    {
        TypeNameHandling = TypeNameHandling.Objects,
        Formatting = Formatting.Indented,
        DateTimeZoneHandling = DateTimeZoneHandling.Utc,
    };

    public static TheoryData<string> Recorded => [.. Corpus().Select(c => c.Name)];

    /// <summary>The pipelines whose histories are checked in: every sample that runs here, and the scenario corpus.</summary>
    private static IEnumerable<(string Name, string Yaml, Func<DurableHarness, string, Task>? During)> Corpus()
    {
        yield return ("sample-hello", File.ReadAllText(RepoPaths.Of("samples", "hello", "pipeline.yaml")), null);
        yield return ("sample-churn", File.ReadAllText(RepoPaths.Of("samples", "churn", "pipeline.yaml")), null);
        yield return ("sample-drift", File.ReadAllText(RepoPaths.Of("samples", "drift", "pipeline.yaml")), null);
        yield return ("diamond", Pipelines.Diamond, null);
        yield return ("retries", Pipelines.Retries, null);
        yield return ("timeout", Pipelines.Timeout, null);
        yield return ("foreach-30-chunks", Pipelines.Foreach(30), null);
        yield return ("approval", Pipelines.Approval, async (h, runId) =>
        {
            await h.WaitForProgressAsync(runId, p => p.Waiting.Contains("approval"));
            await h.Client.RaiseEventAsync(runId, DurableNames.SignalEvent, new RunSignal
            {
                Kind = RunSignal.Event, EventId = "approve-1", Name = "approval", Payload = System.Text.Json.JsonSerializer.SerializeToElement(new { ok = true, by = "ops" }),
            });
        });
        yield return ("cancel", Pipelines.LongSleep, async (h, runId) =>
        {
            await h.WaitForProgressAsync(runId, p => p.Running.Contains("slow"));
            await h.Client.RaiseEventAsync(runId, DurableNames.SignalEvent, new RunSignal { Kind = RunSignal.Cancel, EventId = "cancel-1", Reason = "test" });
        });
    }

    [Theory]
    [MemberData(nameof(Recorded))]
    public async Task RecordedHistory_ReplaysWithoutNonDeterminism(string name)
    {
        var file = Path.Combine(AppContext.BaseDirectory, "Histories", name + ".json");
        if (Environment.GetEnvironmentVariable("TRAINYARD_RECORD_HISTORIES") == "1")
        {
            var recorded = await RecordAsync(Corpus().Single(c => c.Name == name));
            await File.WriteAllTextAsync(RepoPaths.Of("tests", "Trainyard.Engine.Durable.Tests", "Histories", name + ".json"), recorded);
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            await File.WriteAllTextAsync(file, recorded);
        }

        Assert.True(File.Exists(file), $"no recorded history {file}: record it with TRAINYARD_RECORD_HISTORIES=1");
        var history = JsonConvert.DeserializeObject<RecordedHistory>(await File.ReadAllTextAsync(file), HistoryJson)!;
        var output = Replay(history.Events);
        Assert.Equal(history.Status, output.Status);
        Assert.Equal(history.Tasks, output.State.Tasks.ToDictionary(t => t.Key, t => t.Value.Status.ToString()));
    }

    [Fact]
    public async Task FreshHistoryOfTheHelloSample_ReplaysToTheSameOutcome()
    {
        var history = JsonConvert.DeserializeObject<RecordedHistory>(await RecordAsync(Corpus().First()), HistoryJson)!;
        var output = Replay(history.Events);
        Assert.Equal(RunStatus.Succeeded, output.Status);
        Assert.Equal(history.Tasks, output.State.Tasks.ToDictionary(t => t.Key, t => t.Value.Status.ToString()));
    }

    [Fact]
    public void HistoryThatDisagreesWithTheOrchestrator_IsReportedAsNonDeterministic()
    {
        // The check can fail: a history whose first activity was another one than today's code schedules.
        var file = Path.Combine(AppContext.BaseDirectory, "Histories", "diamond.json");
        var history = JsonConvert.DeserializeObject<RecordedHistory>(File.ReadAllText(file), HistoryJson)!;
        var events = history.Events.ToList();
        int i = events.FindIndex(e => e is TaskScheduledEvent { Name: DurableNames.LoadPipeline });
        var original = (TaskScheduledEvent)events[i];
        events[i] = new TaskScheduledEvent(original.EventId) { Name = DurableNames.RunTask, Input = original.Input, Timestamp = original.Timestamp };

        var error = Assert.Throws<NonDeterminismDetected>(() => Replay(events));
        Assert.Contains("NonDeterministic", error.Message, StringComparison.Ordinal);
    }

    private static RunPipelineOutput Replay(IReadOnlyList<HistoryEvent> events)
    {
        var shims = new DurableTaskShimFactory(new DurableTaskWorkerOptions { DataConverter = EngineDataConverter.Instance }, null);
        var orchestration = shims.CreateOrchestration(new TaskName(DurableNames.RunPipeline), new RunPipelineOrchestration(), null);
        var executor = new TaskOrchestrationExecutor(new OrchestrationRuntimeState([.. events]), orchestration, BehaviorOnContinueAsNew.Carryover, ErrorPropagationMode.UseFailureDetails);
        var result = executor.Execute();
        var completed = result.Actions.OfType<DurableTask.Core.Command.OrchestrationCompleteOrchestratorAction>().SingleOrDefault();
        Assert.NotNull(completed);
        if (completed.OrchestrationStatus != OrchestrationStatus.Completed)
        {
            throw new NonDeterminismDetected($"{completed.OrchestrationStatus}: {completed.FailureDetails?.ErrorType}: {completed.FailureDetails?.ErrorMessage ?? completed.Result}");
        }

        return EngineDataConverter.Instance.Deserialize<RunPipelineOutput>(completed.Result)!;
    }

    private static async Task<string> RecordAsync((string Name, string Yaml, Func<DurableHarness, string, Task>? During) pipeline)
    {
        await using var h = await DurableHarness.StartAsync(StoreKind.Memory, null);
        h.Host.History.RecordEvents = true;
        var runId = await h.StartAsync(pipeline.Yaml, runId: "replay-" + pipeline.Name);
        if (pipeline.During is { } during)
        {
            await during(h, runId);
        }

        var (_, output) = await h.WaitAsync(runId, TimeSpan.FromMinutes(3));
        var events = h.Host.History.EventsOf(runId) ?? throw new InvalidOperationException($"no history recorded for {runId}");
        var recorded = new RecordedHistory
        {
            Pipeline = pipeline.Name,
            Status = output.Status,
            Tasks = output.State.Tasks.ToDictionary(t => t.Key, t => t.Value.Status.ToString()),
            Events = events,
        };
        return JsonConvert.SerializeObject(recorded, HistoryJson);
    }

    private sealed class RecordedHistory
    {
        public string Pipeline { get; set; } = "";

        public RunStatus Status { get; set; }

        public Dictionary<string, string> Tasks { get; set; } = [];

        public IReadOnlyList<HistoryEvent> Events { get; set; } = [];
    }

    private sealed class NonDeterminismDetected(string message) : Exception(message);
}
