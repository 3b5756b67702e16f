using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trainyard.Runtime.Contracts;
using Trainyard.Storage.Azure;
using Trainyard.Execution.Contracts;

namespace Trainyard.Cli;

/// <summary>
/// What the Functions host does for the app, done locally: starts the custom handler process on 127.0.0.1 with
/// FUNCTIONS_CUSTOMHANDLER_PORT, waits for it to answer <c>GET /</c>, and POSTs invocations in the host's payload shapes
/// (<c>{Data, Metadata}</c> in, <c>{Outputs, Logs, ReturnValue}</c> out; string trigger values JSON-encoded twice).
/// </summary>
internal sealed class FunctionHostDriver : IAsyncDisposable
{
    /// <summary>Host version sent in X-Azure-Functions-HostVersion (the Functions runtime these shapes follow).</summary>
    public const string HostVersion = "4.1040.300.0";

    private readonly Process _process;
    private readonly HttpClient _http;
    private readonly Task _pumps;

    private FunctionHostDriver(Process process, HttpClient http, Task pumps, int port)
    {
        _process = process;
        _http = http;
        _pumps = pumps;
        Port = port;
    }

    /// <summary>The handler's port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>Whether the handler process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>
    /// Starts the handler (<paramref name="app"/>: its .dll, apphost or folder) with <paramref name="environment"/> and
    /// waits until it answers; <paramref name="appLine"/> receives each line it prints.
    /// </summary>
    public static async Task<FunctionHostDriver> StartAsync(string app, IReadOnlyDictionary<string, string> environment, Action<string> appLine, TimeSpan startTimeout, CancellationToken cancellationToken)
    {
        var port = FreePort();
        var info = StartInfo(app);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        info.UseShellExecute = false;
        foreach (var (k, v) in environment)
        {
            info.Environment[k] = v;
        }

        info.Environment["FUNCTIONS_CUSTOMHANDLER_PORT"] = port.ToString(CultureInfo.InvariantCulture);
        info.Environment["FUNCTIONS_WORKER_RUNTIME"] = "custom";
        var process = Process.Start(info) ?? throw new CliInputException($"could not start the Function App '{info.FileName}'.");
        process.StandardInput.Close();
        var pumps = Task.WhenAll(Pump(process.StandardOutput, appLine), Pump(process.StandardError, appLine));
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(11) };
        var driver = new FunctionHostDriver(process, http, pumps, port);
        try
        {
            await driver.WaitReadyAsync(startTimeout, cancellationToken);
        }
        catch
        {
            await driver.DisposeAsync();
            throw;
        }

        return driver;
    }

    /// <summary>POSTs one invocation; returns the status and the parsed answer (an empty result when it is not JSON).</summary>
    public async Task<InvocationAnswer> InvokeAsync(string function, JsonObject data, JsonObject metadata, CancellationToken cancellationToken)
    {
        metadata["sys"] = new JsonObject
        {
            ["MethodName"] = function,
            ["UtcNow"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["RandGuid"] = Guid.NewGuid().ToString(),
        };
        var body = new JsonObject { ["Data"] = data, ["Metadata"] = metadata }.ToJsonString();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/" + function) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Azure-Functions-InvocationId", Guid.NewGuid().ToString());
        request.Headers.Add("X-Azure-Functions-HostVersion", HostVersion);
        try
        {
            using var response = await _http.SendAsync(request, cancellationToken);
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            JsonObject? parsed = null;
            try
            {
                parsed = JsonNode.Parse(text) as JsonObject;
            }
            catch (JsonException)
            {
                // Not the handler's JSON (e.g. an empty 500): keep the status only.
            }

            var logs = parsed?["Logs"] is JsonArray arr ? arr.Select(l => l?.GetValue<string>() ?? "").ToList() : [];
            return new InvocationAnswer((int)response.StatusCode, logs, parsed?["Outputs"] as JsonObject);
        }
        catch (HttpRequestException ex)
        {
            return new InvocationAnswer(0, [$"the Function App did not answer: {ex.Message}"], null);
        }
    }

    /// <summary>Stops the handler process (SIGTERM first, so it shuts down cleanly; killed after 10 s).</summary>
    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (!_process.HasExited)
        {
            try
            {
                using var term = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]);
                await term.WaitForExitAsync();
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }

        await _pumps.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
        _process.Dispose();
    }

    /// <summary>The handler bundled with the CLI (functionapp/ beside trainyard.dll, copied there by the build).</summary>
    public static string BundledApp() => Path.Combine(AppContext.BaseDirectory, "functionapp");

    private async Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new CliInputException($"the Function App exited with code {_process.ExitCode} before it answered; its output is above.");
            }

            try
            {
                using var probe = await _http.GetAsync("/", cts.Token);
                return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new CliInputException($"the Function App did not answer on 127.0.0.1:{Port} within {timeout.TotalSeconds:0} s; its output is above.");
            }

            try
            {
                await Task.Delay(100, cts.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new CliInputException($"the Function App did not answer on 127.0.0.1:{Port} within {timeout.TotalSeconds:0} s; its output is above.");
            }
        }
    }

    private static ProcessStartInfo StartInfo(string app)
    {
        var path = Path.GetFullPath(app);
        if (Directory.Exists(path))
        {
            path = Path.Combine(path, "Trainyard.FunctionApp.dll");
        }

        if (!File.Exists(path))
        {
            throw new CliInputException($"the Function App was not found at '{path}'. Build src/Trainyard.Cli (it bundles the app under functionapp/), or pass --app with the folder of `dotnet publish src/Trainyard.FunctionApp`.");
        }

        ProcessStartInfo info;
        if (path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            // Run the handler's own assembly with the same dotnet host as this CLI.
            var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h
                : Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
            info = new ProcessStartInfo(host);
            info.ArgumentList.Add(path);
        }
        else
        {
            info = new ProcessStartInfo(path);
        }

        info.WorkingDirectory = Environment.CurrentDirectory;
        return info;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task Pump(StreamReader reader, Action<string> line)
    {
        while (await reader.ReadLineAsync() is { } l)
        {
            line(l);
        }
    }
}

/// <summary>The handler's answer to one invocation.</summary>
/// <param name="Status">HTTP status (0: no answer).</param>
/// <param name="Logs">The Logs lines.</param>
/// <param name="Outputs">The Outputs object, if any.</param>
internal sealed record InvocationAnswer(int Status, IReadOnlyList<string> Logs, JsonObject? Outputs)
{
    /// <summary>2xx: the host completes the message.</summary>
    public bool Succeeded => Status is >= 200 and < 300;
}

/// <summary>The invocation payloads the Functions host builds for each trigger (see docs/function-app.md).</summary>
internal static class HostPayloads
{
    /// <summary>Timer: TimerInfo with the schedule status.</summary>
    public static (JsonObject Data, JsonObject Metadata) Timer(DateTimeOffset last, DateTimeOffset next, bool pastDue)
    {
        var timer = new JsonObject
        {
            ["Schedule"] = new JsonObject { ["AdjustForDST"] = true },
            ["ScheduleStatus"] = new JsonObject
            {
                ["Last"] = last.ToString("O", CultureInfo.InvariantCulture),
                ["Next"] = next.ToString("O", CultureInfo.InvariantCulture),
                ["LastUpdated"] = last.ToString("O", CultureInfo.InvariantCulture),
            },
            ["IsPastDue"] = pastDue,
        };
        return (new JsonObject { ["timer"] = timer }, new JsonObject());
    }

    /// <summary>Event Grid-sourced blob trigger: the content in Data.blob, identity in Metadata (name, Uri, Properties).</summary>
    public static (JsonObject Data, JsonObject Metadata) Blob(string name, string? uri, string etag, long length, DateTimeOffset lastModified, string content)
    {
        var metadata = new JsonObject
        {
            ["name"] = name,
            ["Properties"] = new JsonObject
            {
                ["ETag"] = etag,
                ["ContentLength"] = length,
                ["LastModified"] = lastModified.ToString("O", CultureInfo.InvariantCulture),
                ["BlobType"] = "BlockBlob",
            },
            ["Metadata"] = new JsonObject(),
        };
        if (uri is not null)
        {
            metadata["Uri"] = uri;
        }

        return (new JsonObject { ["blob"] = JsonSerializer.Serialize(content) }, metadata);
    }

    /// <summary>Service Bus trigger: the body as a JSON-encoded string, MessageId and DeliveryCount in Metadata.</summary>
    public static (JsonObject Data, JsonObject Metadata) ServiceBus(string body, string messageId, int deliveryCount, DateTimeOffset enqueued)
    {
        var metadata = new JsonObject
        {
            ["MessageId"] = messageId,
            ["DeliveryCount"] = deliveryCount,
            ["EnqueuedTimeUtc"] = enqueued.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["ContentType"] = "application/json",
            ["ApplicationProperties"] = new JsonObject(),
        };
        return (new JsonObject { ["message"] = JsonSerializer.Serialize(body) }, metadata);
    }

    /// <summary>
    /// Queue trigger. The Azure backend writes base64 of a JSON envelope and host.json sets messageEncoding base64, so
    /// the host hands the function the decoded envelope text; the same text is built here from the leased message.
    /// </summary>
    public static (JsonObject Data, JsonObject Metadata) Queue(LeasedMessage message, DateTimeOffset now, TimeSpan visibility)
    {
        var text = Encoding.UTF8.GetString(Convert.FromBase64String(QueueEnvelope.Encode(message.Id, message.Body)));
        var metadata = new JsonObject
        {
            ["DequeueCount"] = message.DequeueCount,
            ["Id"] = message.Id,
            ["InsertionTime"] = now.ToString("O", CultureInfo.InvariantCulture),
            ["NextVisibleTime"] = (now + visibility).ToString("O", CultureInfo.InvariantCulture),
            ["ExpirationTime"] = now.AddDays(7).ToString("O", CultureInfo.InvariantCulture),
            ["PopReceipt"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(message.Receipt)),
        };
        return (new JsonObject { ["message"] = JsonSerializer.Serialize(text) }, metadata);
    }
}
