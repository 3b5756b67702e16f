using System.CommandLine;
using Trainyard.Runtime;
using Trainyard.Runtime.Contracts;
using Trainyard.Storage.Azure;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.Cli;

/// <summary>`trainyard poison list|requeue`: quarantined queue messages (see PoisonQueueHandler).</summary>
internal static class PoisonCommands
{
    public static Command Create()
    {
        var command = new Command("poison", "Inspect and requeue messages quarantined after too many deliveries (Azure Storage: <hub>-work-poison, <hub>-control-poison).");
        command.Subcommands.Add(ListCommand());
        command.Subcommands.Add(RequeueCommand());
        return command;
    }

    private static Option<string> Store() => new("--store")
    {
        Description = "azure:UseDevelopmentStorage=true (Azurite) or azure:https://<account>.blob.core.windows.net[;TaskHub=name].",
        Required = true,
    };

    private static Option<string> Queue() => new("--queue")
    {
        Description = "Which poison queue: work or control.",
        DefaultValueFactory = _ => "work",
    };

    private static Command ListCommand()
    {
        var store = Store();
        var queue = Queue();
        var json = new Option<bool>("--json") { Description = "Print JSON for tools." };
        var command = new Command("list", "Shows quarantined messages (up to 32, oldest first) with why they were quarantined.") { store, queue, json };
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, parse.GetValue(json));
            return await RunCommands.Guarded(output, async () =>
            {
                await using var backend = Open(parse.GetValue(store)!);
                var poison = PoisonQueue(backend, parse.GetValue(store)!, parse.GetValue(queue)!);
                var count = await poison.CountAsync(ct);
                var messages = poison is AzureMessageQueue azure ? await azure.PeekAsync(32, ct) : [];
                var parsed = messages.Select(m => PoisonQueueHandler.TryParse(m.Body) ?? new PoisonMessage("?", m.Id, m.Body, "(not written by Trainyard)", m.DequeueCount, default)).ToList();
                if (output.Json)
                {
                    output.WriteJson(new { queue = poison.Name, count, messages = parsed });
                    return RunCommands.Ok;
                }

                output.Info($"{poison.Name}: {count} message(s){(count > parsed.Count ? $", showing {parsed.Count}" : "")}");
                foreach (var p in parsed)
                {
                    output.Info($"  {p.Id}  from {p.Source}  {p.DequeueCount} deliveries  {p.At:u}  {p.Reason}");
                }

                if (count > 0)
                {
                    output.Info("requeue them with `trainyard poison requeue` once the cause is fixed.");
                }

                return RunCommands.Ok;
            });
        });
        return command;
    }

    private static Command RequeueCommand()
    {
        var store = Store();
        var queue = Queue();
        var max = new Option<int>("--max") { Description = "Most messages to requeue.", DefaultValueFactory = _ => 1000 };
        var command = new Command("requeue", "Sends quarantined messages back to the queue they came from, unchanged.") { store, queue, max };
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, json: false);
            return await RunCommands.Guarded(output, async () =>
            {
                await using var backend = Open(parse.GetValue(store)!);
                var name = parse.GetValue(queue)!;
                var poison = PoisonQueue(backend, parse.GetValue(store)!, name);
                var target = name == "control" ? backend.Control : backend.Work;
                var moved = await PoisonQueueHandler.RequeueAsync(poison, target, parse.GetValue(max), TimeSpan.FromMinutes(1), ct);
                output.Info($"requeued {moved} message(s) from {poison.Name} to {target.Name}");
                return RunCommands.Ok;
            });
        });
        return command;
    }

    private static AzureBackend Open(string store) =>
        AzureStore.TryOpen(store) ?? throw new CliInputException(
            $"--store '{store}' is not an Azure store; poison queues exist on Azure Storage: pass --store azure:UseDevelopmentStorage=true (Azurite) or azure:https://<account>.blob.core.windows.net.");

    private static IMessageQueue PoisonQueue(IBackend backend, string store, string queue) => queue switch
    {
        "work" => AzureStore.PoisonQueues(backend, store).PoisonQueueFor(backend.Work),
        "control" => AzureStore.PoisonQueues(backend, store).PoisonQueueFor(backend.Control),
        _ => throw new CliInputException($"--queue '{queue}' is unknown: use work or control."),
    };
}
