using Trainyard.Core.Spec;

namespace Trainyard.Core.Engine;

/// <summary>The pure run state machine: Decide(spec, state, event) -> (state', recorded events, commands).</summary>
public static class Decider
{
    /// <summary>Applies one inbound event. <paramref name="state"/> is null only for <see cref="RunStarted"/>.</summary>
    public static Decision Decide(PipelineSpec spec, RunState? state, RunEvent evt)
        => throw new NotSupportedException("scaffold: the decider lands with the engine issue");
}
