using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Engine.Durable;
using Trainyard.Engine.Durable.Hosting;
using Trainyard.Execution.Contracts;
using Trainyard.Runtime.InMemory;

namespace Trainyard.Bench;

/// <summary>
/// `durable-compare`: the RunPipeline interpreter against a hand-written Durable orchestration of the same shape calling
/// a no-op activity, both on the in-process host with the Azure Storage provider on the same Azurite, and the embedded
/// engine (SQLite) beside them. Shapes: a 1,000-activity fan-out/fan-in (start, 1,000, join), a 100-step chain, 200
/// concurrent runs of a 5-step diamond. Storage requests are counted exactly by a counting TCP proxy in front of
/// Azurite (this process's requests only). Then a 10,000-item foreach on the memory store: wall time and largest
/// history. The interpreter's activities run the echo built-in and nothing else (no claims, cache or logs), so both
/// sides pay for orchestration only.
/// </summary>
internal static class DurableCompareBench
{
    private const string NoopActivity = "Noop";
    private const string AzuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private static readonly string[] Shapes = ["fanout-1000", "chain-100", "diamond-200x5"];

    public static async Task<int> RunAsync(string[] args)
    {
        var runs = args.SkipWhile(a => a != "--runs").Skip(1).Select(int.Parse).FirstOrDefault(1);
        var output = args.SkipWhile(a => a != "--out").Skip(1).FirstOrDefault();
        await using var proxy = await CountingProxy.StartAsync([10000, 10001, 10002]);
        var connection = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AzuriteKey};" +
            $"BlobEndpoint=http://127.0.0.1:{proxy.Ports[0]}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{proxy.Ports[1]}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{proxy.Ports[2]}/devstoreaccount1;";
        var report = new StringBuilder();
        void Line(string text)
        {
            Console.WriteLine(text);
            report.AppendLine(text);
        }

        Line($"# durable-compare ({DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC)");
        Line("");
        Line($"{Environment.ProcessorCount} cores, load average {LoadAverage()} at start, .NET {Environment.Version}; Azure Storage provider on Azurite 3.35 (1 partition, local settings); " +
             $"median of {runs} timed run(s) after one warm-up; requests counted by a TCP proxy in front of Azurite.");
        Line("");
        Line("| shape | tasks | engine | wall ms | tasks/s | storage requests | requests/task | largest history (events) | ratio to hand-written (wall / requests) |");
        Line("|---|---:|---|---:|---:|---:|---:|---:|---|");
        foreach (var shape in Shapes)
        {
            var hand = await MeasureAsync(() => HandWrittenAsync(shape, connection), proxy, runs);
            var interpreted = await MeasureAsync(() => InterpreterAsync(shape, connection), proxy, runs);
            var embedded = await MeasureAsync(() => EmbeddedAsync(shape), proxy, runs);
            var tasks = TaskCount(shape);
            Line(Row(shape, tasks, "hand-written orchestration", hand, null));
            Line(Row(shape, tasks, "RunPipeline interpreter", interpreted, hand));
            Line(Row(shape, tasks, "embedded engine (SQLite)", embedded with { Requests = -1 }, null));
        }

        Line("");
        var (ms, history) = await ForeachOnMemoryAsync(10_000);
        Line(string.Create(CultureInfo.InvariantCulture, $"10,000-item foreach, RunPipeline on the memory store: {ms:F0} ms ({10_000 / (ms / 1000):F0} tasks/s), largest history {history} events."));
        if (output is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
            await File.WriteAllTextAsync(output, report.ToString());
        }

        return 0;
    }

    private static int TaskCount(string shape) => shape switch { "fanout-1000" => 1002, "chain-100" => 100, _ => 1000 };

    private static string Row(string shape, int tasks, string engine, Measure m, Measure? hand)
    {
        var requests = m.Requests < 0 ? "n/a (SQLite)" : m.Requests.ToString(CultureInfo.InvariantCulture);
        var perTask = m.Requests < 0 ? "" : (m.Requests / (double)tasks).ToString("F2", CultureInfo.InvariantCulture);
        var ratio = hand is null ? "" : string.Create(CultureInfo.InvariantCulture, $"{m.Ms / hand.Ms:F2}x / {m.Requests / (double)hand.Requests:F2}x");
        var history = m.Requests < 0 ? "" : m.History.ToString(CultureInfo.InvariantCulture);
        return string.Create(CultureInfo.InvariantCulture, $"| {shape} | {tasks} | {engine} | {m.Ms:F0} | {tasks / (m.Ms / 1000):F0} | {requests} | {perTask} | {history} | {ratio} |");
    }

    private sealed record Measure(double Ms, long Requests, int History = 0);

    private static async Task<Measure> MeasureAsync(Func<Task<(double Ms, int History)>> once, CountingProxy proxy, int runs)
    {
        await once(); // warm-up (JIT, Azurite tables)
        var samples = new List<Measure>();
        for (int i = 0; i < runs; i++)
        {
            var before = proxy.Requests;
            var (ms, history) = await once();
            samples.Add(new Measure(ms, proxy.Requests - before, history));
        }

        return samples.OrderBy(s => s.Ms).ElementAt(samples.Count / 2);
    }

    /// <summary>One shape through RunPipeline; returns wall ms from the first start to the last completion.</summary>
    private static async Task<(double, int)> InterpreterAsync(string shape, string connection)
    {
        var pipelines = new InMemoryRunStore();
        var yaml = Yaml(shape);
        var hash = PipelineLoader.Hash(yaml);
        await pipelines.SavePipelineAsync(new PipelineVersion(shape, hash, yaml, DateTimeOffset.UtcNow), CancellationToken.None);
        return await OnHostAsync(connection, new DurableHostOptions(), new EchoOnlyActivities(pipelines), async client =>
        {
            var count = shape == "diamond-200x5" ? 200 : 1;
            var ids = Enumerable.Range(0, count).Select(i => $"r{i.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}").ToList();
            var sw = Stopwatch.StartNew();
            await Task.WhenAll(ids.Select(id => client.ScheduleNewOrchestrationInstanceAsync(DurableNames.RunPipeline,
                new RunPipelineInput { RunId = id, PipelineName = shape, PipelineHash = hash, SpecText = yaml }, new StartOrchestrationOptions(id))));
            foreach (var id in ids)
            {
                var done = await client.WaitForInstanceCompletionAsync(id, getInputsAndOutputs: true);
                if (done.ReadOutputAs<RunPipelineOutput>()?.Status != RunStatus.Succeeded)
                {
                    throw new InvalidOperationException($"{shape}: run {id} ended {done.RuntimeStatus}: {done.SerializedOutput}");
                }
            }

            return sw.Elapsed.TotalMilliseconds;
        });
    }

    /// <summary>The same shape as a plain Durable orchestration calling the no-op activity.</summary>
    private static Task<(double, int)> HandWrittenAsync(string shape, string connection)
    {
        var options = new DurableHostOptions
        {
            ExtraOrchestrators = new Dictionary<string, Func<ITaskOrchestrator>> { ["HandWritten"] = () => new HandWritten() },
            ExtraActivities = new Dictionary<string, ITaskActivity> { [NoopActivity] = new Noop() },
        };
        return OnHostAsync(connection, options, new EchoOnlyActivities(new InMemoryRunStore()), async client =>
        {
            var count = shape == "diamond-200x5" ? 200 : 1;
            var ids = Enumerable.Range(0, count).Select(i => $"h{i.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}").ToList();
            var sw = Stopwatch.StartNew();
            await Task.WhenAll(ids.Select(id => client.ScheduleNewOrchestrationInstanceAsync("HandWritten", shape, new StartOrchestrationOptions(id))));
            foreach (var id in ids)
            {
                var done = await client.WaitForInstanceCompletionAsync(id, getInputsAndOutputs: true);
                if (done.RuntimeStatus != OrchestrationRuntimeStatus.Completed || done.ReadOutputAs<int>() != TaskCount(shape) / count)
                {
                    throw new InvalidOperationException($"{shape}: hand-written {id} ended {done.RuntimeStatus} with {done.SerializedOutput}");
                }
            }

            return sw.Elapsed.TotalMilliseconds;
        });
    }

    private static async Task<(double, int)> OnHostAsync(string connection, DurableHostOptions options, IDurableActivities activities, Func<DurableTaskClient, Task<double>> body)
    {
        var hub = "cmp" + Guid.NewGuid().ToString("N")[..12];
        await using var host = await TrainyardDurableHost.StartAsync(options with { Store = DurableStore.AzureStorage(connection, hub), MaxConcurrentActivities = 32 }, activities);
        try
        {
            var ms = await body(host.Client).WaitAsync(TimeSpan.FromMinutes(10));
            return (ms, host.History.Largest?.Events ?? 0);
        }
        finally
        {
            await host.StopAndDeleteTaskHubAsync();
        }
    }

    private static async Task<(double, int)> EmbeddedAsync(string shape)
    {
        var scenario = shape switch { "fanout-1000" => "fanout-1000", "chain-100" => "chain-100", _ => "runs-200x5" };
        return ((await EngineBench.RunScenarioAsync(scenario, "sqlite")).Ms, 0);
    }

    private static async Task<(double Ms, int History)> ForeachOnMemoryAsync(int items)
    {
        var yaml = $"name: wide\nsteps:\n  - id: each\n    uses: echo\n    foreach: {{ items: [{string.Join(", ", Enumerable.Range(0, items))}] }}\n    with: {{ message: \"${{{{ item }}}}\" }}\n";
        var pipelines = new InMemoryRunStore();
        var hash = PipelineLoader.Hash(yaml);
        await pipelines.SavePipelineAsync(new PipelineVersion("wide", hash, yaml, DateTimeOffset.UtcNow), CancellationToken.None);
        await using var host = await TrainyardDurableHost.StartAsync(new DurableHostOptions { Store = DurableStore.Memory, MaxConcurrentActivities = 32 }, new EchoOnlyActivities(pipelines));
        var sw = Stopwatch.StartNew();
        await host.Client.ScheduleNewOrchestrationInstanceAsync(DurableNames.RunPipeline, new RunPipelineInput { RunId = "wide", PipelineName = "wide", PipelineHash = hash, SpecText = yaml }, new StartOrchestrationOptions("wide"));
        var done = await host.Client.WaitForInstanceCompletionAsync("wide", getInputsAndOutputs: true).WaitAsync(TimeSpan.FromMinutes(15));
        var ms = sw.Elapsed.TotalMilliseconds;
        if (done.ReadOutputAs<RunPipelineOutput>()?.Status != RunStatus.Succeeded)
        {
            throw new InvalidOperationException($"10,000-item foreach ended {done.RuntimeStatus}: {done.SerializedOutput?[..Math.Min(500, done.SerializedOutput.Length)]}");
        }

        return (ms, host.History.Largest?.Events ?? 0);
    }

    private static string Yaml(string shape)
    {
        var text = new StringBuilder($"name: {shape}\nsteps:\n");
        switch (shape)
        {
            case "fanout-1000":
                text.Append("  - { id: start, uses: echo }\n");
                for (int i = 0; i < 1000; i++)
                {
                    text.Append(CultureInfo.InvariantCulture, $"  - {{ id: t{i}, uses: echo, needs: [start] }}\n");
                }

                text.Append("  - { id: join, uses: echo, needs: [").AppendJoin(", ", Enumerable.Range(0, 1000).Select(i => $"t{i}")).Append("] }\n");
                break;
            case "chain-100":
                text.Append("  - { id: s0, uses: echo }\n");
                for (int i = 1; i < 100; i++)
                {
                    text.Append(CultureInfo.InvariantCulture, $"  - {{ id: s{i}, uses: echo, needs: [s{i - 1}] }}\n");
                }

                break;
            default:
                text.Append("  - { id: a, uses: echo }\n  - { id: b, uses: echo, needs: [a] }\n  - { id: c, uses: echo, needs: [a] }\n")
                    .Append("  - { id: d, uses: echo, needs: [a] }\n  - { id: e, uses: echo, needs: [b, c, d] }\n");
                break;
        }

        return text.ToString();
    }

    private static string LoadAverage()
        => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

    /// <summary>The hand-written orchestration: the shape's activities, returning how many ran.</summary>
    private sealed class HandWritten : TaskOrchestrator<string, int>
    {
        public override async Task<int> RunAsync(TaskOrchestrationContext context, string shape)
        {
            switch (shape)
            {
                case "fanout-1000":
                    await context.CallActivityAsync<int>(NoopActivity, 0);
                    await Task.WhenAll(Enumerable.Range(0, 1000).Select(i => context.CallActivityAsync<int>(NoopActivity, i)));
                    await context.CallActivityAsync<int>(NoopActivity, 0);
                    return 1002;
                case "chain-100":
                    for (int i = 0; i < 100; i++)
                    {
                        await context.CallActivityAsync<int>(NoopActivity, i);
                    }

                    return 100;
                default:
                    await context.CallActivityAsync<int>(NoopActivity, 0);
                    await Task.WhenAll(context.CallActivityAsync<int>(NoopActivity, 1), context.CallActivityAsync<int>(NoopActivity, 2), context.CallActivityAsync<int>(NoopActivity, 3));
                    await context.CallActivityAsync<int>(NoopActivity, 4);
                    return 5;
            }
        }
    }

    private sealed class Noop : TaskActivity<int, int>
    {
        public override Task<int> RunAsync(TaskActivityContext context, int input) => Task.FromResult(input);
    }

    /// <summary>RunPipeline's activities reduced to the echo step: no claims, cache or logs.</summary>
    private sealed class EchoOnlyActivities(IPipelineStore pipelines) : IDurableActivities
    {
        public Task<AttemptReport> RunTaskAsync(RunTaskInput input, CancellationToken cancellationToken)
            => Task.FromResult(new AttemptReport { Kind = AttemptReportKind.Succeeded, Result = new TaskResult { Outputs = input.Work.Inputs } });

        public Task CancelAttemptAsync(CancelAttemptInput input, CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task<string> LoadPipelineAsync(string pipelineHash, CancellationToken cancellationToken)
            => (await pipelines.GetPipelineAsync(pipelineHash, cancellationToken))!.SpecText;

        public Task RunFinishedAsync(RunFinishedInput input, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Forwards 127.0.0.1 ports to Azurite's and counts HTTP requests (request lines) going in.</summary>
    private sealed class CountingProxy : IAsyncDisposable
    {
        private static readonly byte[] Marker = Encoding.ASCII.GetBytes(" HTTP/1.1\r\n");
        private readonly List<TcpListener> _listeners = [];
        private readonly CancellationTokenSource _stop = new();
        private long _requests;

        public List<int> Ports { get; } = [];

        public long Requests => Interlocked.Read(ref _requests);

        public static Task<CountingProxy> StartAsync(int[] targets)
        {
            var proxy = new CountingProxy();
            foreach (var target in targets)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                proxy._listeners.Add(listener);
                proxy.Ports.Add(((IPEndPoint)listener.LocalEndpoint).Port);
                _ = proxy.AcceptLoopAsync(listener, target);
            }

            return Task.FromResult(proxy);
        }

        public ValueTask DisposeAsync()
        {
            _stop.Cancel();
            foreach (var l in _listeners)
            {
                l.Stop();
            }

            _stop.Dispose();
            return ValueTask.CompletedTask;
        }

        private async Task AcceptLoopAsync(TcpListener listener, int target)
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }

                _ = PipeAsync(client, target);
            }
        }

        private async Task PipeAsync(TcpClient client, int target)
        {
            using (client)
            using (var upstream = new TcpClient())
            {
                try
                {
                    await upstream.ConnectAsync(IPAddress.Loopback, target);
                    var a = client.GetStream();
                    var b = upstream.GetStream();
                    await Task.WhenAny(CopyAsync(a, b, count: true), CopyAsync(b, a, count: false));
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
                {
                    // A closed connection ends its pipe.
                }
            }
        }

        private async Task CopyAsync(Stream from, Stream to, bool count)
        {
            var buffer = new byte[64 * 1024];
            var carry = Array.Empty<byte>();
            int read;
            while ((read = await from.ReadAsync(buffer)) > 0)
            {
                if (count)
                {
                    // Request lines end with " HTTP/1.1\r\n"; keep a tail so a line split across reads still counts once.
                    var window = carry.Concat(buffer.Take(read)).ToArray();
                    for (int at = window.AsSpan().IndexOf(Marker); at >= 0;)
                    {
                        Interlocked.Increment(ref _requests);
                        var next = window.AsSpan(at + Marker.Length).IndexOf(Marker);
                        at = next < 0 ? -1 : at + Marker.Length + next;
                    }

                    carry = window[Math.Max(0, window.Length - (Marker.Length - 1))..];
                }

                await to.WriteAsync(buffer.AsMemory(0, read));
            }
        }
    }
}
