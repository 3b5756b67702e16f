using System.CommandLine;

namespace Trainyard.Cli;

/// <summary>The command groups of the `trainyard` CLI. One line per group.</summary>
internal static class CliCommands
{
    public static IEnumerable<Command> All()
    {
        yield return ValidateCommands.Create();
        yield return PlanCommands.Create();
        foreach (var command in RunCommands.Create()) { yield return command; }
        foreach (var command in ModelCommands.Create()) { yield return command; }
        yield return PurgeCommands.Create();
        yield return PipelineCommands.Create();
        yield return SignalCommands.Create();
        yield return StatsCommands.Create();
        yield return UiCommands.Create();
        yield return ServeCommands.Create();
    }
}
