using System.Text.Json;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Artifacts;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml.Tests;

/// <summary>Runs built-in steps against a real <see cref="FileSystemArtifactStore"/> in a temp folder.</summary>
public sealed class StepHarness : IDisposable
{
    private int _dispatch;

    public StepHarness()
    {
        Root = Path.Combine(Path.GetTempPath(), "ty-ml-" + Path.GetRandomFileName());
        Store = new FileSystemArtifactStore(Path.Combine(Root, "artifacts"));
    }

    public string Root { get; }

    public FileSystemArtifactStore Store { get; }

    public List<string> Logs { get; } = [];

    public IServiceProvider? Services { get; set; }

    public static string DataFile(string name) => Path.Combine(AppContext.BaseDirectory, "data", name);

    public async Task<string> PutDataFileAsync(string name)
    {
        await using var f = File.OpenRead(DataFile(name));
        return (await Store.PutAsync("raw/" + name, f, CancellationToken.None)).Path;
    }

    public async Task<string> PutTextAsync(string path, string text)
    {
        var info = await Store.PutAsync(path, new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)), CancellationToken.None);
        return info.Path;
    }

    public async Task<string> ReadTextAsync(string path)
    {
        await using var s = await Store.OpenReadAsync(path, CancellationToken.None) ?? throw new FileNotFoundException(path);
        using var r = new StreamReader(s);
        return await r.ReadToEndAsync();
    }

    public static IReadOnlyDictionary<string, JsonElement> Inputs(object inputs) =>
        JsonSerializer.SerializeToElement(inputs).EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone());

    public static IReadOnlyDictionary<string, JsonElement> Inputs(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone());
    }

    public TaskWorkItem Work(IBuiltinStep step, IReadOnlyDictionary<string, JsonElement> inputs, string taskKey = "t")
    {
        var n = Interlocked.Increment(ref _dispatch);
        return new TaskWorkItem
        {
            RunId = "run-1",
            TaskKey = taskKey,
            StepId = taskKey.Split('[')[0],
            Attempt = 1,
            DispatchId = $"d{n}",
            PipelineName = "test",
            PipelineHash = "hash",
            Executor = ExecutorKind.Builtin,
            Uses = step.Info.Name,
            Inputs = inputs,
        };
    }

    public Task<TaskResult> RunAsync(IBuiltinStep step, object inputs, string taskKey = "t") =>
        RunAsync(step, inputs is string s ? Inputs(s) : Inputs(inputs), taskKey);

    public async Task<TaskResult> RunAsync(IBuiltinStep step, IReadOnlyDictionary<string, JsonElement> inputs, string taskKey = "t")
    {
        var work = Work(step, inputs, taskKey);
        var context = new StepContext
        {
            Work = work,
            Artifacts = Store,
            WorkingDirectory = Path.Combine(Root, "work", work.DispatchId),
            Log = (line, _) =>
            {
                lock (Logs)
                {
                    Logs.Add(line);
                }

                return Task.CompletedTask;
            },
            Services = Services,
        };
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        return await step.RunAsync(context, cts.Token);
    }

    public static string Out(TaskResult result, string name) =>
        result.Outputs.TryGetValue(name, out var v) ? v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText() : throw new KeyNotFoundException(name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A file still open by a finished step's OS handle; the temp folder is cleaned by the OS later.
        }
    }
}
