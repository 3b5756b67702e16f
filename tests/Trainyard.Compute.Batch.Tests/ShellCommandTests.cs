using System.Diagnostics;
using Trainyard.Compute.Batch;
using Trainyard.Testing.AzureDoubles;

namespace Trainyard.Compute.Batch.Tests;

public sealed class ShellCommandTests
{
    public static TheoryData<string> Awkward => new()
    {
        "plain",
        "two words",
        "it's",
        "'''",
        "\"double\" quotes",
        "$HOME",
        "${PATH}",
        "`id`",
        "$(echo pwned)",
        "a;b && c || d",
        "back\\slash",
        "new\nline",
        "tab\there",
        "*.txt",
        "~",
        "-n",
        "é ü 中文",
        "end with backslash\\",
        " leading and trailing ",
        "# not a comment",
    };

    [Theory]
    [MemberData(nameof(Awkward))]
    public async Task ForBatch_ArgumentReachesTheProgramUnchanged(string argument)
    {
        var commandLine = ShellCommand.ForBatch(["printf", "[%s]", argument], "true");

        // Split as Batch does (no shell), then run the /bin/sh the command line asks for.
        var argv = PosixWords.Split(commandLine);
        var start = new ProcessStartInfo(argv[0]) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in argv.Skip(1))
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var output = await process.StandardOutput.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);

        Assert.Equal(0, process.ExitCode);
        Assert.Equal("[" + argument + "]", output);
    }

    [Fact]
    public void ForBatch_WrapsInShellWithSetupFirst()
    {
        var line = ShellCommand.ForBatch(["python", "train.py"], "mkdir -p out");

        Assert.StartsWith("/bin/sh -c ", line, StringComparison.Ordinal);
        Assert.Equal(["/bin/sh", "-c", "mkdir -p out && exec python train.py"], PosixWords.Split(line));
    }

    [Fact]
    public void ForBatch_EmptyArgv_ThrowsWithWhatToDo()
    {
        var e = Assert.Throws<ArgumentException>(() => ShellCommand.ForBatch([], "true"));
        Assert.Contains("run.command", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "''")]
    [InlineData("abc", "abc")]
    [InlineData("a b", "'a b'")]
    [InlineData("it's", "'it'\\''s'")]
    public void Quote_KnownCases(string word, string expected) => Assert.Equal(expected, ShellCommand.Quote(word));
}
