using System.Collections.Immutable;
using Spectre.Console.Testing;
using Trainyard.Core.Engine;
using TaskStatus = Trainyard.Core.Engine.TaskStatus;

namespace Trainyard.Cli.Tests;

/// <summary>
/// The real `trainyard` process given hostile input: endless spec streams, bad argument values, control characters.
/// It answers with one message and a documented exit code, never a stack trace, in bounded time and memory.
/// </summary>
public sealed class HostileInputCliTests : IDisposable
{
    // A heap far below what reading /dev/zero whole needs: a command that does not bound its input dies instead of
    // taking the machine's memory, and the test sees the crash.
    private static readonly Dictionary<string, string> SmallHeap = new() { ["DOTNET_GCHeapHardLimit"] = "0x10000000" };
    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    [Theory]
    [InlineData("validate")]
    [InlineData("plan")]
    [InlineData("run")]
    [InlineData("pipelines push")]
    public async Task EndlessSpecStream_IsRefusedAtTheLimit_WithOneMessage(string command)
    {
        var result = await _cli.RunAsync([.. command.Split(' '), "/dev/zero"], TimeSpan.FromSeconds(60), SmallHeap);

        Assert.Equal(CliApp.InvalidSpec, result.ExitCode);
        Assert.Contains("1 MiB", result.Stdout + result.Stderr, StringComparison.Ordinal);
        AssertNoStackTrace(result);
    }

    [Theory]
    [InlineData("validate")]
    [InlineData("plan")]
    [InlineData("run")]
    [InlineData("pipelines push")]
    public async Task InvalidSpec_ExitsWithTheSameCode_InEveryCommand(string command)
    {
        var file = _cli.WriteFile("bad.yaml", "name: bad\nsteps: []\n");

        var result = await _cli.RunAsync([.. command.Split(' '), file], TimeSpan.FromSeconds(60));

        Assert.True(result.ExitCode == CliApp.InvalidSpec, result.ToString());
        Assert.Contains("TY004", result.Stdout + result.Stderr, StringComparison.Ordinal);
        AssertNoStackTrace(result);
    }

    [Theory]
    [InlineData("run p.yaml --workers abc", "--workers")]
    [InlineData("worker --workers lots", "--workers")]
    [InlineData("run p.yaml --workers 99999999999999", "--workers")]
    [InlineData("run p.yaml --lease soon", "--lease")]
    [InlineData("worker --recover-every 5", "--recover-every")]
    [InlineData("purge --older-than yesterday", "--older-than")]
    [InlineData("runs --status sideways", "sideways")]
    [InlineData("run p.yaml --param n=lots", "'n'")]
    [InlineData("plan p.yaml --param n=lots", "n")]
    [InlineData("status ../../etc/passwd", "../../etc/passwd")]
    [InlineData("run p.yaml --no-such-option", "--no-such-option")]
    [InlineData("logs x --attempt abc", "--attempt")]
    [InlineData("validate .", "folder")]
    public async Task BadArgumentValue_IsAUsageError_NamingTheArgument(string args, string named)
    {
        _cli.WriteFile("p.yaml", "name: p\nparams:\n  n: { type: integer, default: 1 }\nsteps:\n  - { id: a, uses: echo, with: { message: \"${{ params.n }}\" } }\n");

        var result = await _cli.RunAsync(args.Split(' '), TimeSpan.FromSeconds(60));

        Assert.True(result.ExitCode == CliApp.UsageError, result.ToString());
        Assert.Contains(named, result.Stderr, StringComparison.Ordinal);
        AssertNoStackTrace(result);
    }

    [Fact]
    public async Task EmptyStoreOption_IsAUsageError()
    {
        var result = await _cli.RunAsync(["runs", "--store", ""], TimeSpan.FromSeconds(60));

        Assert.True(result.ExitCode == CliApp.UsageError, result.ToString());
        Assert.Contains("--store", result.Stderr, StringComparison.Ordinal);
        AssertNoStackTrace(result);
    }

    [Fact]
    public void UnreachableStore_IsExitFour_NamingTheEndpoint()
    {
        var refused = new System.Net.Http.HttpRequestException("Connection refused (127.0.0.1:10999)", new System.Net.Sockets.SocketException(111));
        var wrapped = new AggregateException("Retry failed after 4 tries.", refused, refused);

        var (code, message) = CliApp.Classify(new InvalidOperationException("store open failed", wrapped));

        Assert.Equal(CliApp.StoreUnreachable, code);
        Assert.Contains("127.0.0.1:10999", message, StringComparison.Ordinal);
        Assert.Contains("--store", message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnexpectedException_IsAnInternalError_WithHowToReportAndNoStack()
    {
        var (code, message) = CliApp.Classify(new NullReferenceException("Object reference not set to an instance of an object."));

        Assert.Equal(CliApp.InternalError, code);
        Assert.Contains("bug", message, StringComparison.Ordinal);
        Assert.Contains(CliApp.DebugVariable, message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ControlCharactersFromAStep_AreEscapedInRunStatusAndLogs()
    {
        var file = _cli.WriteFile("esc.yaml", """
            name: esc
            steps:
              - id: loud
                run:
                  command: [sh, -c, "printf '\\033]0;pwned\\007\\033[2Jhello\\n'; printf '\\033[31mboom\\r\\n' >&2; exit 3"]
            """);

        var run = await _cli.RunAsync(["run", file], TimeSpan.FromSeconds(120));
        var id = System.Text.Json.JsonDocument.Parse((await _cli.RunAsync(["runs", "--json"])).Stdout).RootElement[0].GetProperty("runId").GetString()!;
        var status = await _cli.RunAsync(["status", id]);
        var logs = await _cli.RunAsync(["logs", id, "loud"]);

        Assert.True(run.ExitCode == CliApp.RunFailed, run.ToString());
        foreach (var result in new[] { run, status, logs })
        {
            AssertNoControlCharacters(result);
        }

        Assert.Contains("\\e[2Jhello", logs.Stdout, StringComparison.Ordinal);
        Assert.Contains("\\e[31mboom", run.Stdout + run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ControlCharactersInArgumentsAndSpecs_AreEscaped()
    {
        var spec = _cli.WriteFile("p.yaml", "name: p\nparams:\n  s: { type: string, default: x }\nsteps:\n  - { id: a, uses: echo, with: { message: \"${{ params.s }}\" } }\n");
        var bad = _cli.WriteFile("bad.yaml", "name: p\nsteps:\n  - { id: a, uses: echo, needs: [\"\\e[2Jb\"] }\n");

        var plan = await _cli.RunAsync(["plan", spec, "--param", "s=\u001b[2J\u0007"]);
        var unknownRun = await _cli.RunAsync(["status", "\u001b]0;title\u0007"]);
        var validate = await _cli.RunAsync(["validate", bad]);
        var badParam = await _cli.RunAsync(["plan", spec, "--param", "\u001b[2J"]);

        Assert.True(plan.ExitCode == CliApp.Ok, plan.ToString());
        Assert.Contains("[2J", plan.Stdout, StringComparison.Ordinal);
        Assert.Equal(CliApp.UsageError, unknownRun.ExitCode);
        Assert.Equal(CliApp.InvalidSpec, validate.ExitCode);
        Assert.Equal(CliApp.UsageError, badParam.ExitCode);
        foreach (var result in new[] { plan, unknownRun, validate, badParam })
        {
            AssertNoControlCharacters(result);
        }
    }

    // A step id, error and log line that try markup injection ([red]), a screen clear (ESC[2J) and a fake extra line.
    private const string HostileId = "[red]pwn\u001b[2J\nfake";
    private const string HostileLog = "[bold red]boom[/] \u001b]0;title\u0007\u001b[2J\nsecond line";

    private static RunState HostileRun()
    {
        var t0 = new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);
        var task = new TaskState
        {
            TaskKey = HostileId,
            StepId = HostileId,
            Status = TaskStatus.Failed,
            Attempt = 1,
            StartedAt = t0,
            FinishedAt = t0.AddSeconds(3),
            Message = HostileLog,
        };
        return new RunState
        {
            RunId = "r-[blue]x",
            PipelineName = "[link=http://evil]p\u001b[31m",
            PipelineHash = "h",
            Status = RunStatus.Failed,
            CreatedAt = t0,
            FinishedAt = t0.AddSeconds(5),
            Error = HostileLog,
            Tasks = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create(task.TaskKey, task)]),
        };
    }

    [Fact]
    public void Plan_OnATerminal_IsASpectreTree_OfStagesAndSteps_WithMarkupInAParamShownLiterally()
    {
        var spec = Trainyard.Core.Spec.PipelineLoader.LoadOrThrow("""
            name: treed
            params:
              label: { type: string, default: "[link=http://evil]x[/]" }
            steps:
              - { id: prep, uses: echo }
              - { id: each, uses: echo, needs: [prep], foreach: { items: [1, 2, 3] } }
              - { id: side, uses: echo, needs: [prep] }
            """, "treed.yaml");
        var values = Trainyard.Core.Spec.ParamResolver.ResolveText(spec, new Dictionary<string, string>()).Values;
        var console = new TestConsole().Width(160).EmitAnsiSequences();

        console.Write(PlanCommands.Plan.Create(spec, values).ToTree(new HashSet<string>(), 0));

        var text = console.Output;
        Assert.Contains("└── ", text, StringComparison.Ordinal); // Spectre's tree guides
        Assert.Contains("stages (steps in a stage can run together)", text, StringComparison.Ordinal);
        Assert.Contains("each [foreach [1,2,3]: 3 items]", text, StringComparison.Ordinal);
        Assert.Contains("critical path: 2 steps", text, StringComparison.Ordinal);
        Assert.Contains("[link=http://evil]x[/]", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b]8;", text, StringComparison.Ordinal);
    }

    [Fact]
    public void HostileStepIdAndLog_AreInert_InTheInteractiveSpectreView()
    {
        var console = new TestConsole().Width(160).EmitAnsiSequences();
        using var sink = new StringWriter();
        var output = new CliOutput(json: false, sink, sink, interactive: true, console);
        var state = HostileRun();

        RunReport.From(state, state.FinishedAt!.Value).Write(output, includeLogHint: true);
        var live = RunProgressView.Create(output, () => 40);
        live.Update(state, state.FinishedAt!.Value);
        output.WriteTable(["TASK", "STATUS"], [[HostileId, "failed"]]);

        var text = console.Output;
        Assert.Equal("", sink.ToString());
        // Spectre drew a table and coloured the status: this really is the interactive renderer.
        Assert.Contains("╭", text, StringComparison.Ordinal);
        Assert.Contains("\u001b[", text, StringComparison.Ordinal);
        // The markup in the untrusted text is shown literally, not interpreted (no link, no injected colour).
        Assert.Contains("[red]pwn", text, StringComparison.Ordinal);
        Assert.Contains("[bold red]boom[/]", text, StringComparison.Ordinal);
        Assert.Contains("[link=http://evil]p", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b]8;", text, StringComparison.Ordinal);
        // The terminal controls arrive as visible escapes; the newline does not start a line of its own.
        Assert.Contains("\\e[2J\\nfake", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[2J", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b]0;", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\u0007", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[31m", text, StringComparison.Ordinal);
        Assert.DoesNotContain(text.Split('\n'), line => line.StartsWith("fake", StringComparison.Ordinal) || line.StartsWith("second line", StringComparison.Ordinal));
    }

    [Fact]
    public void HostileStepIdAndLog_AreInert_InPlainMode_WithNoAnsiAtAll()
    {
        using var sink = new StringWriter();
        var output = new CliOutput(json: false, sink, sink, interactive: false, ansi: null);
        var state = HostileRun();

        RunReport.From(state, state.FinishedAt!.Value).Write(output, includeLogHint: true);
        var lines = RunProgressView.Create(output, () => 40);
        lines.Update(state, state.FinishedAt!.Value);
        output.WriteTable(["TASK", "STATUS"], [[HostileId, "failed"]]);

        var text = sink.ToString();
        Assert.DoesNotContain(text, c => char.IsControl(c) && c is not '\n' and not '\r');
        Assert.Contains("[red]pwn\\e[2J\\nfake", text, StringComparison.Ordinal);
        Assert.Contains("[bold red]boom[/] \\e]0;title\\u0007\\e[2J\\nsecond line", text, StringComparison.Ordinal);
        Assert.DoesNotContain(text.Split('\n'), line => line.StartsWith("fake", StringComparison.Ordinal) || line.StartsWith("second line", StringComparison.Ordinal));
        // Plain mode is the greppable table of before, no Spectre borders.
        Assert.Contains("TASK", text, StringComparison.Ordinal);
        Assert.DoesNotContain("╭", text, StringComparison.Ordinal);
    }

    private static void AssertNoControlCharacters(CliResult result)
    {
        var text = result.Stdout + result.Stderr;
        var bad = text.FirstOrDefault(c => char.IsControl(c) && c is not '\n' and not '\t');
        Assert.True(bad == default, $"U+{(int)bad:X4} reached the terminal:\n{result}");
    }

    internal static void AssertNoStackTrace(CliResult result)
    {
        Assert.DoesNotContain("   at ", result.Stdout + result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", result.Stdout + result.Stderr, StringComparison.Ordinal);
    }
}
