using System.CommandLine;
using Trainyard.Cli;

// Each command group lives in its own file (XxxCommands.Create()) so features can be added without touching the others.
var root = new RootCommand("trainyard: event-driven ML pipeline orchestrator (validate, plan, run and inspect pipelines)");
foreach (var command in CliCommands.All())
{
    root.Subcommands.Add(command);
}

return await root.Parse(args).InvokeAsync();
