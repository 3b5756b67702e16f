using System.Collections.Concurrent;

namespace Trainyard.Compute.Local.Tests;

/// <summary>
/// Step output is read in bounded chunks: one endless line (a binary blob on stdout, `yes | tr -d '\n'`) costs the
/// host a bounded amount of memory and reaches the log cut, with a marker saying how much was dropped.
/// </summary>
[Collection(ProcessEnvironment.Name)]
public sealed class StepOutputBoundsTests : IDisposable
{
    private const int LineBytes = 64 * 1024 * 1024;
    private readonly string _root = Directory.CreateTempSubdirectory("trainyard-bounds-").FullName;
    private readonly ConcurrentQueue<string> _log = new();

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task OneHugeLine_IsCutWithAMarker_AndReadInBoundedMemory()
    {
        var executor = new LocalProcessExecutor(new LocalExecutorOptions { MaxLogLineChars = 1000 });
        var work = Work(["/bin/sh", "-c", $"head -c {LineBytes} /dev/zero | tr '\\0' x; echo; echo after"]);
        var before = GC.GetTotalAllocatedBytes(precise: true);

        var outcome = await Execute(executor, work);

        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.IsType<TaskOutcome.Succeeded>(outcome);
        var cut = Assert.Single(_log, l => l.StartsWith("xxx", StringComparison.Ordinal));
        Assert.StartsWith(new string('x', 1000) + " [line cut:", cut, StringComparison.Ordinal);
        Assert.Contains((LineBytes - 1000).ToString(System.Globalization.CultureInfo.InvariantCulture), cut, StringComparison.Ordinal);
        Assert.Contains("after", _log);
        // Reading the line whole would allocate at least twice its size in chars; chunks keep it far below one copy.
        Assert.True(allocated < LineBytes / 2, $"reading the step's output allocated {allocated / (1024 * 1024)} MiB for a {LineBytes / (1024 * 1024)} MiB line");
    }

    [Fact]
    public async Task ControlCharactersInStepOutput_ReachTheLogAsTheyCame_AndCarriageReturnsDoNotSplitLines()
    {
        var work = Work(["/bin/sh", "-c", "printf 'a\\r\\nb\\rc\\n'"]);

        Assert.IsType<TaskOutcome.Succeeded>(await Execute(new LocalProcessExecutor(), work));

        Assert.Contains("a", _log);
        Assert.Contains("b\rc", _log);
    }

    private static TaskWorkItem Work(IReadOnlyList<string> command) => new()
    {
        RunId = "run-1",
        TaskKey = "big",
        StepId = "big",
        Attempt = 1,
        DispatchId = "d-" + Guid.NewGuid().ToString("n"),
        PipelineName = "p",
        PipelineHash = "h",
        Executor = ExecutorKind.Local,
        Command = command,
    };

    private async Task<TaskOutcome> Execute(LocalProcessExecutor executor, TaskWorkItem work)
    {
        var dir = Path.Combine(_root, work.DispatchId);
        Directory.CreateDirectory(dir);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        return await executor.ExecuteAsync(LocalProcessExecutorTests.Context(work, new FileSystemArtifactStore(Path.Combine(_root, "a")), dir, _log), timeout.Token);
    }
}
