using System.Text.Json;
using Trainyard.Core.Engine;

namespace Trainyard.Engine.Durable.Tests;

/// <summary>The data converter and the instance ids every host relies on.</summary>
public sealed class ContractTests
{
    [Fact]
    public void DataConverter_WritesEngineJson_AndReadsItBack()
    {
        var signal = new RunSignal { Kind = RunSignal.Event, EventId = "e1", Name = "approval", Payload = JsonSerializer.SerializeToElement(new { ok = true }) };
        var text = EngineDataConverter.Instance.Serialize(signal)!;
        Assert.Contains("\"kind\":\"event\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("reason", text, StringComparison.Ordinal);
        var back = EngineDataConverter.Instance.Deserialize<RunSignal>(text)!;
        Assert.True(back.Payload!.Value.GetProperty("ok").GetBoolean());

        var report = new AttemptReport { Kind = AttemptReportKind.Pending, PollAfter = TimeSpan.FromSeconds(5) };
        Assert.Contains("\"kind\":\"pending\"", EngineDataConverter.Instance.Serialize(report), StringComparison.Ordinal);
        Assert.Null(EngineDataConverter.Instance.Serialize(null));
        Assert.Null(EngineDataConverter.Instance.Deserialize(null, typeof(RunSignal)));
    }

    [Fact]
    public void SubInstanceId_StaysWithinDurablesLimitForLongRunIds()
    {
        var dispatch = EngineIds.DispatchId("r", "t", 1);
        Assert.Equal($"run-1:chunk:{dispatch}", DurableLimits.SubInstanceId("run-1", "chunk", dispatch));

        var longRun = new string('r', 100);
        var id = DurableLimits.SubInstanceId(longRun, "remote", dispatch);
        Assert.True(id.Length <= 100, id);
        Assert.EndsWith(":remote:" + dispatch, id, StringComparison.Ordinal);
        Assert.Equal(id, DurableLimits.SubInstanceId(longRun, "remote", dispatch));
        Assert.NotEqual(id, DurableLimits.SubInstanceId(new string('s', 100), "remote", dispatch));
    }

    [Fact]
    public void DurableFunctions_RegisterEveryName()
    {
        Assert.Equal([DurableNames.RunPipeline, DurableNames.RunTaskChunk, DurableNames.RunRemoteTask], DurableFunctions.Orchestrators.Select(o => o.Name));
        using var activities = new RecordingActivities();
        Assert.Equal(
            [DurableNames.RunTask, DurableNames.CancelAttempt, DurableNames.LoadPipeline, DurableNames.RunFinished],
            DurableFunctions.Activities(activities).Select(a => a.Name));
    }
}
