using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Execution;
using Trainyard.Execution.Contracts;

namespace Trainyard.Runtime.Contracts;

/// <summary>Body of a control-queue message: one inbound event for one run. Serialized with <see cref="EngineJson.Options"/>.</summary>
public sealed record ControlMessage(string RunId, RunEvent Event);

/// <summary>Body of a work-queue message: one task attempt (plus executor state when polling a remote task).</summary>
public sealed record WorkMessage(TaskWorkItem Work)
{
    /// <summary>State from a previous <see cref="TaskOutcome.Pending"/>, when this message is a poll.</summary>
    public JsonElement? ResumeState { get; init; }

    /// <summary>Poll count for remote tasks (drives backoff).</summary>
    public int Poll { get; init; }

    /// <summary>When the commit that dispatched the attempt built this message (dispatch latency); null from older hosts.</summary>
    public DateTimeOffset? DispatchedAt { get; init; }
}
