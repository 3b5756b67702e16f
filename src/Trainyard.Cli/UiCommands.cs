using System.CommandLine;
using Trainyard.Dashboard;
using Trainyard.Notifications;

namespace Trainyard.Cli;

/// <summary>`trainyard ui [--port N] [--store ...]`: the web dashboard on 127.0.0.1.</summary>
internal static class UiCommands
{
    /// <summary>How often the dashboard process sweeps for stuck runs (`notify: run-stuck`).</summary>
    public static readonly TimeSpan StuckSweepEvery = TimeSpan.FromMinutes(1);

    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "Port on 127.0.0.1 (0 or omitted: a free port).", DefaultValueFactory = _ => 0 };
        port.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 0 or > 65535)
            {
                r.AddError("--port must be between 0 and 65535.");
            }
        });
        var workers = new Option<int>("--workers", "-w") { Description = "Tasks this process executes at once for runs started, retried or approved from the dashboard (0: leave them to `trainyard worker`).", DefaultValueFactory = _ => 2 };
        workers.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 0 or > 256)
            {
                r.AddError("--workers must be between 0 and 256.");
            }
        });
        var store = RunCommands.StoreOption();
        var command = new Command("ui", "Serve the web dashboard on 127.0.0.1 (runs, live DAGs, timelines, logs, models, pipelines). Its first line with http:// is the URL to open; it carries the access token.");
        command.Options.Add(port);
        command.Options.Add(workers);
        command.Options.Add(store);
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, json: false);
            return await RunCommands.Guarded(output, async () =>
            {
                using var stop = new GracefulStop(ct);
                ct = stop.Token;
                if (AzureStore.IsAzure(parse.GetValue(store)!))
                {
                    return await ServeDurableAsync(output, parse.GetValue(store)!, parse.GetValue(port), ct);
                }

                await using var cli = await CliStore.OpenAsync(parse.GetValue(store)!, lease: null, noCache: false);
                var catalog = new RunCatalog(cli.Engine);
                DashboardServer server;
                try
                {
                    server = await DashboardServer.StartAsync(new DashboardOptions
                    {
                        Engine = cli.Engine,
                        Port = parse.GetValue(port),
                        StuckSweepEvery = StuckSweepEvery,
                        StuckSweep = async (running, token) =>
                        {
                            var withSpecs = new List<RunWithSpec>();
                            foreach (var run in running)
                            {
                                if (await catalog.SpecAsync(run.PipelineHash, token) is { } spec)
                                {
                                    withSpecs.Add(new RunWithSpec(run, spec));
                                }
                            }

                            await WebhookNotifier.SweepStuckAsync(cli.Webhooks, withSpecs, cli.Backend.Store, DateTimeOffset.UtcNow, token);
                        },
                    }, ct);
                }
                catch (IOException e)
                {
                    throw new CliInputException($"cannot listen on 127.0.0.1:{parse.GetValue(port)}: {e.Message}. Pick another --port, or 0 for a free one.");
                }

                await using (server)
                {
                    output.Out.WriteLine($"trainyard ui: {server.Url}");
                    output.Out.WriteLine($"serving runs of {cli.Folder}; Ctrl+C stops it.");
                    await output.Out.FlushAsync(ct);
                    var work = parse.GetValue(workers) is > 0 and var n ? cli.CreateWorker(n, CliStore.DefaultRecoverEvery).RunAsync(ct) : Task.CompletedTask;
                    await server.WaitAsync(ct);
                    await work.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }

                return RunCommands.Ok;
            });
        });
        return command;
    }

    /// <summary>
    /// `trainyard ui --store azure:UseDevelopmentStorage=true[;TaskHub=x]`: the runs of that Durable task hub (started by
    /// `trainyard run --engine durable` or the Function App) over a client-only connection; pipelines, logs and models from its blobs.
    /// </summary>
    private static async Task<int> ServeDurableAsync(CliOutput output, string storeText, int port, CancellationToken ct)
    {
        await using var hub = await DurableCommands.ConnectAsync(storeText, ct);
        var stores = hub.Blobs;
        DashboardServer server;
        try
        {
            server = await DashboardServer.StartAsync(new DashboardOptions
            {
                Durable = new DurableDashboardSource(hub.Runs, stores.Pipelines, stores.Values, stores.Artifacts),
                Port = port,
            }, ct);
        }
        catch (IOException e)
        {
            throw new CliInputException($"cannot listen on 127.0.0.1:{port}: {e.Message}. Pick another --port, or 0 for a free one.");
        }

        await using (server)
        {
            output.Out.WriteLine($"trainyard ui: {server.Url}");
            output.Out.WriteLine($"serving runs of the Durable task hub '{stores.Names.TaskHub}'; Ctrl+C stops it.");
            await output.Out.FlushAsync(ct);
            await server.WaitAsync(ct);
        }

        return RunCommands.Ok;
    }
}
