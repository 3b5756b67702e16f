using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Trainyard.Runtime.Contracts;
using Trainyard.Steps.Ml;
using Trainyard.Storage.Azure;
using Trainyard.Execution.Contracts;

namespace Trainyard.Cli;

/// <summary>
/// `trainyard serve`: the Function App on a laptop. Starts the same custom handler process the Functions host starts,
/// and plays the host: a one-minute timer, a watcher for new blobs (a local folder, or a container in Azurite), drift
/// signals from the local queue, and the control and work queues, each delivered over HTTP in the host's payload shape.
/// </summary>
internal static class ServeCommands
{
    public static Command Create()
    {
        var store = PipelineCommands.StoreOption();
        var watch = new Option<string>("--watch") { Description = "Local folder watched for new files (blob trigger, container = --container). Ignored with an Azure store, where the container itself is watched.", DefaultValueFactory = _ => "data" };
        var container = new Option<string>("--container") { Description = "Data container name the blob triggers name (TRAINYARD_DATA_CONTAINER).", DefaultValueFactory = _ => "data" };
        var app = new Option<string?>("--app") { Description = "The Function App to run: a folder of `dotnet publish src/Trainyard.FunctionApp`, or its .dll/executable (default: the one bundled with this CLI)." };
        var workers = new Option<int>("--workers", "-w") { Description = "Work-queue messages (task attempts) invoked at once.", DefaultValueFactory = _ => Math.Max(2, Environment.ProcessorCount) };
        var poll = new Option<string>("--poll") { Description = "How often the queues, the watched place and the drift-signal queue are polled, e.g. 500ms, 2s.", DefaultValueFactory = _ => "1s" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Also print every line the Function App logs (default: warnings and errors)." };
        var command = new Command("serve", "Run the Function App locally, driven like the Functions host: timer, blob watcher, drift signals, control and work queues. Ctrl+C stops.")
        {
            store, watch, container, app, workers, poll, verbose,
        };
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.For(parse, json: false);
            return await RunCommands.Guarded(output, async () =>
            {
                if (!CliDuration.TryParse(parse.GetValue(poll)!, out var interval) || interval < TimeSpan.FromMilliseconds(50))
                {
                    throw new CliInputException($"--poll '{parse.GetValue(poll)}' is not a duration of at least 50ms; write e.g. 500ms or 2s.");
                }

                if (parse.GetValue(workers) is < 1 or > 64)
                {
                    throw new CliInputException("--workers must be between 1 and 64.");
                }

                var options = new ServeOptions(
                    parse.GetValue(store)!,
                    Path.GetFullPath(parse.GetValue(watch)!),
                    parse.GetValue(container)!,
                    parse.GetValue(app) ?? FunctionHostDriver.BundledApp(),
                    parse.GetValue(workers),
                    interval,
                    parse.GetValue(verbose));
                using var stop = new GracefulStop(ct);
                return await new LocalServe(options, output).RunAsync(stop.Token);
            });
        });
        return command;
    }
}

/// <summary>Settings of one `trainyard serve`.</summary>
internal sealed record ServeOptions(string Store, string WatchFolder, string Container, string App, int Workers, TimeSpan Poll, bool Verbose);

/// <summary>The loops of `trainyard serve`; each delivers one kind of event to the handler as the Functions host would.</summary>
internal sealed class LocalServe(ServeOptions options, CliOutput output)
{
    /// <summary>host.json maxDequeueCount: a message failing this often goes to the poison queue.</summary>
    private const int MaxDequeueCount = AzureStore.MaxDequeueCount;

    /// <summary>Service Bus MaxDeliveryCount default: a signal failing this often is dead-lettered.</summary>
    private const int MaxDeliveryCount = 10;

    /// <summary>host.json visibilityTimeout: the delay before a failed message is delivered again.</summary>
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(10);

    /// <summary>Lease taken per received message; renewed while the invocation runs (the host does the same).</summary>
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(60);

    /// <summary>The handler refuses invocations over 64 MiB; larger blobs are announced with empty content.</summary>
    private const long MaxBlobContent = 32L * 1024 * 1024;

    private const string DeadLetterPrefix = "signals/drift-deadletter/";

    private readonly object _gate = new();
    private readonly Dictionary<string, int> _signalDeliveries = new(StringComparer.Ordinal);

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        await using var cli = await CliStore.OpenAsync(options.Store, lease: null, noCache: false);
        var azure = options.Store.StartsWith(AzureStore.Prefix, StringComparison.OrdinalIgnoreCase);
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["TRAINYARD_STORE"] = azure ? options.Store : "sqlite:" + Path.Combine(cli.Folder, CliStore.DatabaseFile),
            ["TRAINYARD_DATA_CONTAINER"] = options.Container,
            ["TRAINYARD_WORK_DIR"] = Path.Combine(cli.Folder, "work"),
        };
        if (azure && AzureBackendOptions.Parse(options.Store) is { } azureOptions && !azureOptions.TaskHub.Equals(AzureBackendOptions.DefaultTaskHub, StringComparison.Ordinal))
        {
            environment["TRAINYARD_TASK_HUB"] = azureOptions.TaskHub;
        }

        Info($"starting the Function App ({Path.GetFullPath(options.App)})");
        await using var app = await FunctionHostDriver.StartAsync(options.App, environment, AppLine, TimeSpan.FromSeconds(60), cancellationToken);
        var watched = azure ? $"container '{options.Container}' in {Redact(options.Store)}" : $"folder {options.WatchFolder} (container '{options.Container}')";
        Info($"Function App ready on http://127.0.0.1:{app.Port} after {started.Elapsed.TotalSeconds:0.0} s; store {(azure ? Redact(options.Store) : cli.Folder)}");
        Info($"watching {watched}; drift signals from {ArtifactSignalSink.Prefix} (`trainyard signal drift`); timer every minute. Ctrl+C stops.");

        IBlobSource blobs = azure
            ? new ContainerBlobSource(BlobContainer(options.Store, options.Container))
            : new FolderBlobSource(options.WatchFolder);
        await blobs.SnapshotAsync(cancellationToken);

        var since = DateTimeOffset.UtcNow;
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var ct = stopping.Token;
        var loops = new List<Task>
        {
            Resilient("timer", c => TimerLoop(app, c), ct),
            Resilient("blob", c => BlobLoop(app, blobs, c), ct),
            Resilient("drift", c => SignalLoop(app, cli.Backend.Artifacts, c), ct),
            Resilient("control", c => QueueLoop(app, cli.Backend, cli.Backend.Control, "AdvanceRun", 8, c), ct),
            Resilient("work", c => QueueLoop(app, cli.Backend, cli.Backend.Work, "ExecuteTask", options.Workers, c), ct),
            Resilient("run", c => RunWatchLoop(cli.Backend.Store, since, c), ct),
            ExitWatch(app, ct),
        };
        var first = await Task.WhenAny(loops);
        var crashed = app.HasExited && !cancellationToken.IsCancellationRequested;
        if (!cancellationToken.IsCancellationRequested && first.IsFaulted)
        {
            output.Error($"serve stopped: {first.Exception!.InnerException!.Message}");
        }

        // Whatever ended first (Ctrl+C, the app exiting, a loop failing), the other loops stop too.
        await stopping.CancelAsync();
        Info("stopping: waiting for invocations in flight");
        await Task.WhenAll(loops.Select(l => l.ContinueWith(_ => { }, TaskScheduler.Default))).WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(_ => { }, TaskScheduler.Default);
        if (crashed)
        {
            output.Error("the Function App exited unexpectedly; its output is above.");
            return 1;
        }

        Info("stopped");
        return first.IsFaulted && !cancellationToken.IsCancellationRequested ? 1 : RunCommands.Ok;
    }

    /// <summary>Runs a loop again after an unexpected error (storage briefly unavailable, a locked file): serve keeps serving.</summary>
    private async Task Resilient(string tag, Func<CancellationToken, Task> loop, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await loop(ct);
                return;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Info($"[{tag}] error: {ex.GetType().Name}: {ex.Message}; trying again in 5 s");
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(5), ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private static async Task ExitWatch(FunctionHostDriver app, CancellationToken ct)
    {
        while (!app.HasExited)
        {
            await Task.Delay(500, ct);
        }
    }

    private async Task TimerLoop(FunctionHostDriver app, CancellationToken ct)
    {
        var last = DateTimeOffset.UtcNow;

        // One evaluation at start, so schedules missed while serve was down are caught up (per their catch-up policy)
        // at once rather than at the first minute; the durable watermark makes the extra firing harmless.
        var (startData, startMetadata) = HostPayloads.Timer(last, last.AddMinutes(1), pastDue: false);
        Report("timer", "OnSchedule", await app.InvokeAsync("OnSchedule", startData, startMetadata, ct), quietWhenIdle: true);
        while (!ct.IsCancellationRequested)
        {
            // NCRONTAB "0 * * * * *": second 0 of every minute.
            var now = DateTimeOffset.UtcNow;
            var next = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero).AddMinutes(1);
            await Task.Delay(next - now, ct);
            var (data, metadata) = HostPayloads.Timer(last, next.AddMinutes(1), pastDue: DateTimeOffset.UtcNow - next > TimeSpan.FromSeconds(30));
            var answer = await app.InvokeAsync("OnSchedule", data, metadata, ct);
            last = next;
            Report("timer", "OnSchedule", answer, quietWhenIdle: true);
        }
    }

    private async Task BlobLoop(FunctionHostDriver app, IBlobSource source, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(options.Poll, ct);
            IReadOnlyList<SeenBlob> arrived;
            try
            {
                arrived = await source.NewBlobsAsync(ct);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Azure.RequestFailedException)
            {
                Info($"[blob] cannot list {source.Description}: {ex.Message}; trying again");
                continue;
            }

            foreach (var blob in arrived)
            {
                var content = blob.Length <= MaxBlobContent ? await source.ReadAsync(blob, ct) : "";
                var (data, metadata) = HostPayloads.Blob(blob.Name, blob.Uri, blob.ETag, blob.Length, blob.LastModified, content);
                Info($"[blob] {options.Container}/{blob.Name} arrived ({blob.Length} bytes)");
                for (int attempt = 1; attempt <= MaxDequeueCount; attempt++)
                {
                    var answer = await app.InvokeAsync("OnBlobArrived", data, metadata, ct);
                    Report("blob", "OnBlobArrived", answer, quietWhenIdle: false);
                    if (answer.Succeeded || answer.Status == 400)
                    {
                        break;
                    }

                    await Task.Delay(TimeSpan.FromSeconds(attempt), ct);
                }
            }
        }
    }

    private async Task SignalLoop(FunctionHostDriver app, IArtifactStore artifacts, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(options.Poll, ct);
            var pending = new List<ArtifactInfo>();
            await foreach (var a in artifacts.ListAsync(ArtifactSignalSink.Prefix, ct))
            {
                pending.Add(a);
            }

            foreach (var signal in pending.OrderBy(a => a.LastModified))
            {
                await using var stream = await artifacts.OpenReadAsync(signal.Path, ct);
                if (stream is null)
                {
                    continue;
                }

                var body = await new StreamReader(stream).ReadToEndAsync(ct);
                var messageId = SignalId(body) ?? Path.GetFileNameWithoutExtension(signal.Path);
                int delivery;
                lock (_gate)
                {
                    delivery = _signalDeliveries[signal.Path] = _signalDeliveries.GetValueOrDefault(signal.Path) + 1;
                }

                var (data, metadata) = HostPayloads.ServiceBus(body, messageId, delivery, signal.LastModified);
                var answer = await app.InvokeAsync("OnDriftSignal", data, metadata, ct);
                Report("drift", "OnDriftSignal", answer, quietWhenIdle: false);
                if (answer.Succeeded)
                {
                    await artifacts.DeleteAsync(signal.Path, ct);
                }
                else if (delivery >= MaxDeliveryCount || answer.Status == 400)
                {
                    // A malformed signal will never succeed: dead-letter it as Service Bus would after MaxDeliveryCount.
                    await artifacts.PutAsync(DeadLetterPrefix + signal.Path[ArtifactSignalSink.Prefix.Length..], new MemoryStream(System.Text.Encoding.UTF8.GetBytes(body)), ct);
                    await artifacts.DeleteAsync(signal.Path, ct);
                    Info($"[drift] signal {messageId} dead-lettered to {DeadLetterPrefix} after {delivery} delivery(ies)");
                }
            }
        }
    }

    private async Task QueueLoop(FunctionHostDriver app, IBackend backend, IMessageQueue queue, string function, int parallel, CancellationToken ct)
    {
        var inFlight = new List<Task>();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                inFlight.RemoveAll(t => t.IsCompleted);
                if (inFlight.Count >= parallel)
                {
                    // Every slot busy, as the host's batchSize allows: wait for one invocation to end.
                    await Task.WhenAny(inFlight).WaitAsync(ct);
                    continue;
                }

                var messages = await queue.ReceiveAsync(parallel - inFlight.Count, Lease, ct);
                foreach (var message in messages)
                {
                    inFlight.Add(DeliverAsync(app, backend, queue, function, message, ct));
                }

                if (messages.Count == 0)
                {
                    await Task.Delay(options.Poll, ct);
                }
            }
        }
        finally
        {
            await Task.WhenAll(inFlight).WaitAsync(TimeSpan.FromSeconds(20), CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private async Task DeliverAsync(FunctionHostDriver app, IBackend backend, IMessageQueue queue, string function, LeasedMessage message, CancellationToken ct)
    {
        try
        {
            await DeliverOnceAsync(app, backend, queue, function, message, ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The lease runs out and the queue delivers the message again, as it would after a host crash.
            Info($"[{queue.Name}] message {message.Id}: {ex.GetType().Name}: {ex.Message}; it is delivered again when its lease ends");
        }
    }

    private async Task DeliverOnceAsync(FunctionHostDriver app, IBackend backend, IMessageQueue queue, string function, LeasedMessage message, CancellationToken ct)
    {
        using var renewing = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var current = message;
        var renew = Task.Run(async () =>
        {
            while (!renewing.IsCancellationRequested)
            {
                await Task.Delay(Lease / 3, renewing.Token);
                current = await queue.RenewAsync(current, Lease, renewing.Token);
            }
        }, CancellationToken.None);
        InvocationAnswer answer;
        try
        {
            var (data, metadata) = HostPayloads.Queue(message, DateTimeOffset.UtcNow, RetryDelay);
            answer = await app.InvokeAsync(function, data, metadata, ct);
        }
        finally
        {
            await renewing.CancelAsync();
            await renew.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        try
        {
            if (answer.Succeeded)
            {
                Report(function == "AdvanceRun" ? "control" : "work", function, answer, quietWhenIdle: function == "AdvanceRun" && !options.Verbose);
                await queue.CompleteAsync(current, CancellationToken.None);
                return;
            }

            Report(function == "AdvanceRun" ? "control" : "work", function, answer, quietWhenIdle: false);
            if (current.DequeueCount >= MaxDequeueCount)
            {
                if (backend is IPoisonQueues poison)
                {
                    var body = JsonSerializer.Serialize(new PoisonMessage(queue.Name, current.Id, current.Body, $"{function} failed {current.DequeueCount} times (HTTP {answer.Status})", current.DequeueCount, DateTimeOffset.UtcNow), Core.Engine.EngineJson.Options);
                    await poison.PoisonQueueFor(queue).SendAsync([new OutgoingMessage(current.Id, body)], CancellationToken.None);
                    Info($"[{queue.Name}] message {current.Id} moved to the poison queue after {current.DequeueCount} deliveries (`trainyard poison list`)");
                }
                else
                {
                    Info($"[{queue.Name}] message {current.Id} dropped after {current.DequeueCount} failed deliveries; see the Function App's error above");
                }

                await queue.CompleteAsync(current, CancellationToken.None);
                return;
            }

            await queue.AbandonAsync(current, RetryDelay, CancellationToken.None);
        }
        catch (LeaseLostException)
        {
            // Delivered again by the queue: the handler's entry points are idempotent.
        }
    }

    private async Task RunWatchLoop(IRunStore store, DateTimeOffset since, CancellationToken ct)
    {
        var known = new Dictionary<string, string>(StringComparer.Ordinal);
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
            foreach (var run in (await store.ListRunsAsync(new RunQuery { Limit = 50 }, ct)).Where(r => r.UpdatedAt >= since).Reverse())
            {
                if (known.TryGetValue(run.RunId, out var status) && status == run.Status)
                {
                    continue;
                }

                known[run.RunId] = run.Status;
                var took = run.FinishedAt is { } f ? $" in {(f - run.CreatedAt).TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s" : "";
                Info($"[run] {run.RunId} ({run.PipelineName}, {run.TriggerKind ?? "manual"}): {run.Status.ToLowerInvariant()}{took}");
            }
        }
    }

    private void Report(string tag, string function, InvocationAnswer answer, bool quietWhenIdle)
    {
        if (quietWhenIdle && answer.Succeeded && (answer.Outputs?["runs"] is null or System.Text.Json.Nodes.JsonArray { Count: 0 }))
        {
            return;
        }

        var lines = answer.Logs.Count == 0 ? [$"{function} answered {answer.Status}"] : answer.Logs;
        foreach (var line in lines)
        {
            Info($"[{tag}] {line}{(answer.Succeeded ? "" : $" (HTTP {answer.Status})")}");
        }
    }

    private void AppLine(string line)
    {
        if (options.Verbose || line.StartsWith("warn:", StringComparison.Ordinal) || line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal) || line.StartsWith("Unhandled", StringComparison.Ordinal))
        {
            Info("[app] " + line);
        }
    }

    private void Info(string line)
    {
        lock (_gate)
        {
            output.Info($"{DateTime.Now.ToString("HH:mm:ss", CultureInfo.InvariantCulture)} {line}");
            output.Out.Flush();
        }
    }

    private static string? SignalId(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("signalId", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Redact(string store) => store.Contains("AccountKey=", StringComparison.OrdinalIgnoreCase) ? "azure:(connection string)" : store;

    private static BlobContainerClient BlobContainer(string store, string container)
    {
        var parsed = AzureBackendOptions.Parse(store);
        if (parsed.ConnectionString is not { } cs)
        {
            throw new CliInputException("`trainyard serve` plays the Functions host on this machine: use a local folder store or azure:UseDevelopmentStorage=true (Azurite); in Azure the Functions host itself runs the app.");
        }

        return new BlobServiceClient(cs).GetBlobContainerClient(container);
    }
}

/// <summary>A blob (or file) seen by the watcher.</summary>
internal sealed record SeenBlob(string Name, string? Uri, string ETag, long Length, DateTimeOffset LastModified);

/// <summary>Where new blobs appear: a local folder or a container.</summary>
internal interface IBlobSource
{
    /// <summary>For messages.</summary>
    string Description { get; }

    /// <summary>Records what exists now; only later arrivals are events (as with Event Grid).</summary>
    Task SnapshotAsync(CancellationToken cancellationToken);

    /// <summary>Blobs new or changed since the last call.</summary>
    Task<IReadOnlyList<SeenBlob>> NewBlobsAsync(CancellationToken cancellationToken);

    /// <summary>The content as text.</summary>
    Task<string> ReadAsync(SeenBlob blob, CancellationToken cancellationToken);
}

/// <summary>A local folder as a container: a file is announced once its size and time stop changing between polls.</summary>
internal sealed class FolderBlobSource(string folder) : IBlobSource
{
    private readonly Dictionary<string, string> _announced = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _settling = new(StringComparer.Ordinal);

    public string Description => folder;

    public Task SnapshotAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(folder);
        foreach (var (name, file) in Files())
        {
            _announced[name] = ETag(file);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<SeenBlob>> NewBlobsAsync(CancellationToken cancellationToken)
    {
        var result = new List<SeenBlob>();
        foreach (var (name, file) in Files())
        {
            var etag = ETag(file);
            if (_announced.TryGetValue(name, out var known) && known == etag)
            {
                continue;
            }

            // Announce only when the file looked the same on two polls in a row, so a half-copied file is not read.
            if (_settling.TryGetValue(name, out var before) && before == etag)
            {
                _settling.Remove(name);
                _announced[name] = etag;
                result.Add(new SeenBlob(name, null, etag, file.Length, file.LastWriteTimeUtc));
            }
            else
            {
                _settling[name] = etag;
            }
        }

        return Task.FromResult<IReadOnlyList<SeenBlob>>(result);
    }

    public async Task<string> ReadAsync(SeenBlob blob, CancellationToken cancellationToken)
    {
        try
        {
            return await File.ReadAllTextAsync(Path.Combine(folder, blob.Name), cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    private IEnumerable<(string Name, FileInfo File)> Files()
    {
        if (!Directory.Exists(folder))
        {
            yield break;
        }

        foreach (var path in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            var name = Path.GetRelativePath(folder, path).Replace(Path.DirectorySeparatorChar, '/');
            if (Path.GetFileName(name).StartsWith('.'))
            {
                continue;
            }

            yield return (name, new FileInfo(path));
        }
    }

    // Like a blob ETag, it changes on every write: time and size of the file.
    private static string ETag(FileInfo file) => $"0x{file.LastWriteTimeUtc.Ticks:X}{file.Length:X}";
}

/// <summary>A blob container (Azurite, or Azure with an identity), listed on every poll.</summary>
internal sealed class ContainerBlobSource(BlobContainerClient container) : IBlobSource
{
    private readonly Dictionary<string, string> _announced = new(StringComparer.Ordinal);

    public string Description => container.Uri.ToString();

    public async Task SnapshotAsync(CancellationToken cancellationToken)
    {
        await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        await foreach (var b in container.GetBlobsAsync(cancellationToken: cancellationToken))
        {
            _announced[b.Name] = b.Properties.ETag?.ToString() ?? "";
        }
    }

    public async Task<IReadOnlyList<SeenBlob>> NewBlobsAsync(CancellationToken cancellationToken)
    {
        var result = new List<SeenBlob>();
        await foreach (BlobItem b in container.GetBlobsAsync(cancellationToken: cancellationToken))
        {
            var etag = b.Properties.ETag?.ToString() ?? "";
            if (_announced.TryGetValue(b.Name, out var known) && known == etag)
            {
                continue;
            }

            _announced[b.Name] = etag;
            var uri = container.GetBlobClient(b.Name).Uri.ToString();
            result.Add(new SeenBlob(b.Name, uri, etag, b.Properties.ContentLength ?? 0, b.Properties.LastModified ?? DateTimeOffset.UtcNow));
        }

        return result;
    }

    public async Task<string> ReadAsync(SeenBlob blob, CancellationToken cancellationToken)
    {
        var content = await container.GetBlobClient(blob.Name).DownloadContentAsync(cancellationToken);
        return content.Value.Content.ToString();
    }
}
