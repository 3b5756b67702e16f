using Trainyard.Cli;

return await CliApp.InvokeAsync(args, Console.Out, Console.Error);
