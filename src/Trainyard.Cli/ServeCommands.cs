using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Messaging.ServiceBus;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Core.Text;
using Trainyard.Execution.Registry;
using Trainyard.Execution.Security;
using Trainyard.Service;
using Trainyard.Storage.Azure;

namespace Trainyard.Cli;

/// <summary>
/// `trainyard serve`: the Function App's triggers and HTTP API on this machine, over the durable engine hosted in this
/// process, with the same handler code as the Functions (<see cref="ServiceHandlers"/>): the HTTP API under /api/ on
/// 127.0.0.1 (token required), the schedule timer every minute, new blobs in the data container (polled: Event Grid has
/// no local form), the drift-signals Storage queue, and the Service Bus drain when a namespace is configured.
/// </summary>
internal static class ServeCommands
{
    /// <summary>The Function App's drift queue (FunctionNames.DriftQueue).</summary>
    public const string DriftQueue = "drift-signals";

    /// <summary>How often the data container is listed for new blobs.</summary>
    public static readonly TimeSpan BlobPollEvery = TimeSpan.FromSeconds(2);

    /// <summary>How often the drift queue is read when it was empty.</summary>
    public static readonly TimeSpan QueuePollEvery = TimeSpan.FromSeconds(1);

    /// <summary>Dequeues after which a malformed drift message goes to the poison queue (the Functions host's default).</summary>
    public const int MaxDequeueCount = 5;

    /// <summary>The serve command.</summary>
    public static Command Create()
    {
        var files = new Argument<FileInfo[]>("FILE") { Description = "Pipeline files to register before serving (as `trainyard pipelines push` does).", Arity = ArgumentArity.ZeroOrMore };
        var store = new Option<string>("--store")
        {
            Description = "The durable task hub: azure:UseDevelopmentStorage=true[;TaskHub=name] (Azurite; default) or memory (HTTP API and schedules only).",
            DefaultValueFactory = _ => "azure:UseDevelopmentStorage=true",
        };
        var port = new Option<int>("--port") { Description = "Port of the HTTP API on 127.0.0.1 (0: a free one).", DefaultValueFactory = _ => 0 };
        var workers = new Option<int>("--workers", "-w") { Description = "Activities (steps) run at once.", DefaultValueFactory = _ => Math.Max(2, Environment.ProcessorCount) };
        var container = new Option<string>("--data-container") { Description = "Blob container whose new blobs start blob-triggered pipelines (TRAINYARD_DATA_CONTAINER).", DefaultValueFactory = _ => DurableRun.DataContainer };
        var command = new Command("serve", "Run the Function App's triggers (schedules, blob arrivals, drift queue, Service Bus drain) and HTTP API on this machine over the durable engine; Ctrl+C stops it.")
        {
            files, store, port, workers, container,
        };
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, json: false);
            return await RunCommands.Guarded(output, async () =>
            {
                if (parse.GetValue(port) is < 0 or > 65535)
                {
                    throw new CliInputException("--port must be 0 (a free port) to 65535.");
                }

                if (parse.GetValue(workers) is < 1 or > 256)
                {
                    throw new CliInputException("--workers must be between 1 and 256.");
                }

                return await ServeAsync(parse.GetValue(store)!, parse.GetValue(files) ?? [], parse.GetValue(port), parse.GetValue(workers), parse.GetValue(container)!, output, ct);
            });
        });
        return command;
    }

    private static async Task<int> ServeAsync(string store, FileInfo[] files, int port, int workers, string dataContainer, CliOutput output, CancellationToken ct)
    {
        using var stop = new GracefulStop(ct);
        ct = stop.Token;
        if (AzureStore.IsAzure(store))
        {
            AzureStore.RequireDevelopmentStorage(store, "`trainyard serve`");
        }

        var work = Directory.CreateTempSubdirectory("trainyard-serve-").FullName;
        var stores = await DurableRun.OpenAsync(store, work, ct);
        var registry = new PipelineRegistry(stores.Pipelines, stores.Values);
        foreach (var file in files)
        {
            var text = PipelineFiles.ReadText(file.FullName);
            var result = await registry.RegisterAsync(text, file.FullName, ct);
            if (!result.Ok)
            {
                ValidateCommands.WriteDiagnostics(result.Diagnostics, output.Err);
                throw new CliSpecException($"{file.FullName}: invalid; nothing served. `trainyard validate {file.FullName}` shows the errors.");
            }

            output.Info($"registered {result.Version!.Name} version {result.Version.ContentHash[..12]}");
        }

        await using var host = await DurableRun.StartHostAsync(stores, workers, noCache: false, work, ct, dataContainer);
        var handlers = new ServiceHandlers(registry, stores.Values, new TriggerOptions { Webhooks = DurableRun.Webhooks.Value }, TimeProvider.System, NullLoggerFactory.Instance);
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        await using var http = await StartHttpAsync(handlers, host.Client, port, token, ct);
        output.Info($"trainyard serve: http://127.0.0.1:{http.Port.ToString(CultureInfo.InvariantCulture)}/api/ (send Authorization: Bearer {token})");
        output.Info($"  durable engine on the {stores.Label}, {workers} steps at once; pipelines from its registry (`trainyard pipelines push FILE --store {store}`)");

        var loops = new List<Task> { Loop("schedule timer", TimeSpan.FromMinutes(1), c => Report("schedule", handlers.Triggers(host.Client).OnScheduleAsync(c), output), output, ct) };
        output.Info("  schedule timer: every minute (due schedules, debounce windows, stuck runs)");
        if (AzureStore.IsAzure(store))
        {
            var blobs = new BlobServiceClient(AzureStorageOptions.DevelopmentStorage).GetBlobContainerClient(dataContainer);
            await blobs.CreateIfNotExistsAsync(cancellationToken: ct);
            var poller = new BlobArrivalPoller(blobs, stores.Values, stores.Hub is Engine.Durable.Hosting.AzureStorageStore a ? a.TaskHubName : "memory");
            var baseline = await poller.BaselineAsync(ct);
            loops.Add(Loop("blob poller", BlobPollEvery, async c =>
            {
                foreach (var arrival in await poller.NewBlobsAsync(c))
                {
                    await Report($"blob {arrival.Container}/{arrival.Path}", handlers.Triggers(host.Client).OnBlobAsync(arrival, c), output);
                    await poller.MarkSeenAsync(arrival, c);
                }
            }, output, ct));
            output.Info($"  blob arrivals: container '{dataContainer}' polled every {BlobPollEvery.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s ({baseline} existing blob(s) seen before; only new ones trigger)");

            var queue = new QueueClient(AzureStorageOptions.DevelopmentStorage, DriftQueue, QueueSignalSink.ClientOptions());
            var poison = new QueueClient(AzureStorageOptions.DevelopmentStorage, DriftQueue + "-poison", QueueSignalSink.ClientOptions());
            await queue.CreateIfNotExistsAsync(cancellationToken: ct);
            loops.Add(Loop("drift queue", QueuePollEvery, c => DrainQueueAsync(queue, poison, handlers.Triggers(host.Client), output, c), output, ct));
            output.Info($"  drift signals: Storage queue '{DriftQueue}' (malformed messages go to '{DriftQueue}-poison' after {MaxDequeueCount} tries)");
        }
        else
        {
            output.Info("  blob arrivals and the drift queue need a Storage account: use --store azure:UseDevelopmentStorage=true (Azurite)");
        }

        if (Environment.GetEnvironmentVariable("ServiceBusConnection__fullyQualifiedNamespace") is { Length: > 0 } ns)
        {
            var bus = new ServiceBusClient(ns, new Azure.Identity.DefaultAzureCredential());
            var drain = new ServiceBusDrain(bus.CreateReceiver("drift-signals", "trainyard", new ServiceBusReceiverOptions { ReceiveMode = ServiceBusReceiveMode.PeekLock }), NullLogger<ServiceBusDrain>.Instance);
            loops.Add(Loop("Service Bus drain", TimeSpan.FromSeconds(30), async c =>
            {
                var report = await drain.DrainAsync(handlers.Triggers(host.Client), batchSize: 32, maxWait: TimeSpan.FromSeconds(2), maxBatches: 8, c);
                if (report.Received > 0)
                {
                    output.Info($"service bus: {report.Received} received, {report.Completed} completed, {report.DeadLettered.Count} dead-lettered, {report.Abandoned.Count} abandoned");
                }
            }, output, ct));
            output.Info($"  Service Bus: drift-signals/trainyard on {ns}, drained every 30s");
        }
        else
        {
            output.Info("  Service Bus: not configured (set ServiceBusConnection__fullyQualifiedNamespace to drain a drift-signals subscription)");
        }

        output.Info("Ctrl+C or SIGTERM stops serving (runs stay in the task hub and go on with the next worker)");
        try
        {
            await Task.Delay(Timeout.Infinite, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The normal way out.
        }

        await Task.WhenAll(loops);
        output.Info("stopped serving");
        return CliApp.Ok;
    }

    private static async Task Report(string source, Task<TriggerReport> handling, CliOutput output)
    {
        var report = await handling;
        foreach (var line in report.Lines)
        {
            output.Info($"{source}: {line}");
        }

        foreach (var failure in report.Failures)
        {
            output.Error($"{source}: {failure}");
        }
    }

    /// <summary>Runs <paramref name="tick"/> now and then every <paramref name="every"/>; a failing tick is reported and retried next time.</summary>
    private static async Task Loop(string name, TimeSpan every, Func<CancellationToken, Task> tick, CliOutput output, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await tick(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A trigger loop reports and goes on: one bad tick must not stop serving.
            catch (Exception e)
#pragma warning restore CA1031
            {
                output.Error($"{name}: {e.GetType().Name}: {e.Message} (retrying in {every.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s)");
            }

            try
            {
                await Task.Delay(every, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static async Task DrainQueueAsync(QueueClient queue, QueueClient poison, TriggerService triggers, CliOutput output, CancellationToken ct)
    {
        while (true)
        {
            var messages = (await queue.ReceiveMessagesAsync(maxMessages: 16, visibilityTimeout: TimeSpan.FromSeconds(30), ct)).Value;
            if (messages.Length == 0)
            {
                return;
            }

            foreach (var message in messages)
            {
                Execution.Contracts.DriftSignal signal;
                try
                {
                    signal = DriftSignalReader.ReadQueue(message.Body.ToString(), message.MessageId);
                }
                catch (TriggerPayloadException e)
                {
                    output.Error($"drift queue: message {message.MessageId} refused (try {message.DequeueCount.ToString(CultureInfo.InvariantCulture)}): {e.Field}: {e.Message}");
                    if (message.DequeueCount >= MaxDequeueCount)
                    {
                        await poison.CreateIfNotExistsAsync(cancellationToken: ct);
                        await poison.SendMessageAsync(message.Body, cancellationToken: ct);
                        await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt, ct);
                    }

                    continue;
                }

                var report = await triggers.OnDriftAsync(signal, ct);
                foreach (var line in report.Lines)
                {
                    output.Info($"drift queue: {line}");
                }

                if (report.Failures.Count == 0)
                {
                    await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt, ct);
                }
                else
                {
                    // Left on the queue: it comes back after its visibility timeout (run ids are deterministic).
                    output.Error($"drift queue: {string.Join("; ", report.Failures)}");
                }
            }
        }
    }

    private static async Task<HttpServer> StartHttpAsync(ServiceHandlers handlers, Microsoft.DurableTask.Client.DurableTaskClient client, int port, string token, CancellationToken ct)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(LoopbackGuard.BindAddress, port));
        builder.Services.AddSingleton<IHostLifetime, ProcessOwnedLifetime>();
        builder.WebHost.UseSetting(WebHostDefaults.SuppressStatusMessagesKey, "true");
        var app = builder.Build();
        var server = new HttpServer(app);
        LoopbackGuard? guard = null;
        app.Run(async context =>
        {
            var request = context.Request;
            guard ??= new LoopbackGuard(server.Port, token);
            var presented = request.Query["token"].ToString() is { Length: > 0 } q ? "Bearer " + q : request.Headers.Authorization.ToString();
            var decision = guard.Check(new LoopbackRequest(request.Method, request.Host.HasValue ? request.Host.Value : null, presented, request.ContentType, request.ContentLength,
                request.Headers.Origin.ToString() is { Length: > 0 } origin ? origin : null)
            {
                RemoteAddress = context.Connection.RemoteIpAddress,
                Chunked = request.Headers.TransferEncoding.ToString().Contains("chunked", StringComparison.OrdinalIgnoreCase),
            });
            foreach (var (name, value) in LoopbackGuard.ResponseHeaders)
            {
                context.Response.Headers[name] = value;
            }

            ApiResponse response;
            if (!decision.Allowed)
            {
                var code = (int)decision.StatusCode;
                response = new ApiResponse(code, new System.Text.Json.Nodes.JsonObject
                {
                    ["code"] = code == 421 ? "misdirected" : code == 401 ? "unauthorized" : "refused",
                    ["message"] = decision.Reason ?? "refused",
                    ["field"] = null,
                });
            }
            else if (!request.Path.StartsWithSegments(Dashboard.ApiHttp.RoutePrefix))
            {
                response = new ApiResponse(404, new System.Text.Json.Nodes.JsonObject { ["code"] = "not_found", ["message"] = "the HTTP API is under /api/ (e.g. GET /api/runs)", ["field"] = null });
            }
            else
            {
                response = await Dashboard.ApiHttp.ReadAsync(request) is { } read
                    ? await handlers.Api(client).HandleAsync(read, context.RequestAborted)
                    : ApiResponse.BodyTooLarge();
            }

            context.Response.StatusCode = response.StatusCode;
            context.Response.ContentType = "application/json; charset=utf-8";
            await context.Response.WriteAsync(response.Body.ToJsonString(), context.RequestAborted);
        });
        try
        {
            await app.StartAsync(ct);
        }
        catch (IOException e)
        {
            await app.DisposeAsync();
            throw new CliInputException($"cannot listen on 127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}: {e.Message}. Pick another --port, or 0 for a free one.");
        }

        server.Port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        return server;
    }

    /// <summary>Leaves Ctrl+C and SIGTERM to this command (GracefulStop), not to the web host.</summary>
    private sealed class ProcessOwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class HttpServer(WebApplication app) : IAsyncDisposable
    {
        public int Port { get; set; }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }
}

/// <summary>
/// Blob arrivals without Event Grid: lists the data container and reports blobs not seen before (by name and ETag). What
/// was seen is kept in the key-value store, so a restart does not trigger old blobs again; the first start records what
/// is there as the baseline.
/// </summary>
internal sealed class BlobArrivalPoller(BlobContainerClient container, Execution.Contracts.IKeyValueStore values, string hub)
{
    private const string Scope = "serve-blob-cursor";
    private readonly Dictionary<string, string> _seen = new(StringComparer.Ordinal);
    private string? _etag;

    private string Key => $"{hub}/{container.Name}";

    /// <summary>Loads what was seen; on the first start records every blob there as seen. Returns how many are known.</summary>
    public async Task<int> BaselineAsync(CancellationToken ct)
    {
        if (await values.GetValueAsync(Scope, Key, ct) is { } stored)
        {
            _etag = stored.ETag;
            foreach (var (name, etag) in JsonSerializer.Deserialize<Dictionary<string, string>>(stored.Value) ?? [])
            {
                _seen[name] = etag;
            }

            return _seen.Count;
        }

        await foreach (var blob in container.GetBlobsAsync(cancellationToken: ct))
        {
            _seen[blob.Name] = blob.Properties.ETag?.ToString().Trim('"') ?? "";
        }

        await SaveAsync(ct);
        return _seen.Count;
    }

    /// <summary>Blobs created or replaced since they were last seen, oldest first.</summary>
    public async Task<IReadOnlyList<BlobArrival>> NewBlobsAsync(CancellationToken ct)
    {
        var found = new List<(DateTimeOffset At, BlobArrival Arrival)>();
        try
        {
            await foreach (var blob in container.GetBlobsAsync(cancellationToken: ct))
            {
                var etag = blob.Properties.ETag?.ToString().Trim('"') ?? "";
                if (!_seen.TryGetValue(blob.Name, out var known) || known != etag)
                {
                    found.Add((blob.Properties.LastModified ?? DateTimeOffset.MinValue,
                        new BlobArrival(container.Name, blob.Name, etag, container.GetBlobClient(blob.Name).Uri.GetLeftPart(UriPartial.Path), blob.Properties.ContentLength)));
                }
            }
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return [];
        }

        return [.. found.OrderBy(f => f.At).Select(f => f.Arrival)];
    }

    /// <summary>Records a blob as handled (after its trigger ran).</summary>
    public Task MarkSeenAsync(BlobArrival arrival, CancellationToken ct)
    {
        _seen[arrival.Path] = arrival.ETag;
        return SaveAsync(ct);
    }

    private async Task SaveAsync(CancellationToken ct)
    {
        // One `serve` per hub and container owns the cursor; a conflict means another one runs: say so.
        _etag = await values.TryPutValueAsync(Scope, Key, JsonSerializer.Serialize(_seen), _etag, ct)
            ?? throw new InvalidOperationException($"another `trainyard serve` polls container '{container.Name}' of task hub '{hub}'; stop it (blob arrivals would start runs twice otherwise).");
    }
}
