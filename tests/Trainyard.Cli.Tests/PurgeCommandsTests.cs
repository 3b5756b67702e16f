using System.Text.RegularExpressions;
using Trainyard.Core.Engine;

namespace Trainyard.Cli.Tests;

/// <summary>`trainyard purge`: retention of finished runs on the embedded store, as a user runs it.</summary>
public sealed partial class PurgeCommandsTests : IDisposable
{
    private readonly TrainyardProcesses _cli = new();

    public void Dispose() => _cli.Dispose();

    private string Store => Path.Combine(_cli.WorkingDirectory, ".trainyard");

    private string ModelPipeline => _cli.WriteFile("model.yaml", """
        name: keep
        steps:
          - id: make
            uses: write-file
            with: { name: model.bin, content: weights }
          - id: reg
            needs: [make]
            uses: register-model
            with: { name: m, model: "${{ steps.make.outputs.path }}" }
        """);

    private string EchoPipeline => _cli.WriteFile("echo.yaml", """
        name: quick
        steps:
          - id: a
            uses: write-file
            with: { name: a.txt, content: a }
          - id: b
            needs: [a]
            uses: echo
        """);

    [GeneratedRegex(@"deleted run (\S+) \((\w+), (\d+) artifact\(s\)\) \[(\d+)\]")]
    private static partial Regex DeletedLine();

    private async Task<CliResult> Ok(params string[] args)
    {
        var result = await _cli.RunAsync(args);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result;
    }

    [Fact]
    public async Task Purge_DeletesFinishedRunsAndTheirArtifacts_KeepsModelsAndLiveRuns()
    {
        await Ok("run", ModelPipeline);
        await Ok("run", ModelPipeline);
        var failing = _cli.WriteFile("fail.yaml", "name: broken\nsteps:\n  - id: f\n    uses: fail\n    with: { message: disk on fire }\n");
        Assert.Equal(1, (await _cli.RunAsync(["run", failing])).ExitCode);
        var slow = _cli.WriteFile("slow.yaml", "name: slow\nsteps:\n  - id: s\n    uses: sleep\n    with: { duration: 100ms }\n  - id: t\n    needs: [s]\n    uses: echo\n");
        var killed = await _cli.RunAsync(["run", slow], env: new Dictionary<string, string> { ["TRAINYARD_FAULT"] = "after-commit:2" });
        Assert.True(CrashSafetyTests.IsKilled(killed), killed.ToString());

        IReadOnlyList<Runtime.Contracts.RunSummary> before;
        await using (var inspector = StoreInspector.Open(Store))
        {
            before = await inspector.RunsAsync();
        }

        Assert.Equal(4, before.Count);
        var live = Assert.Single(before, r => r.Status == "running").RunId;
        await Task.Delay(1500);

        var dry = await Ok("purge", "--older-than", "1s", "--dry-run");
        Assert.Contains("would delete 3 run(s)", dry.Stdout, StringComparison.Ordinal);

        var failedOnly = await Ok("purge", "--older-than", "1s", "--status", "failed");
        var failedLine = Assert.Single(DeletedLine().Matches(failedOnly.Stdout));
        Assert.Equal("failed", failedLine.Groups[2].Value);

        var rest = await Ok("purge", "--older-than", "1s", "--batch", "1");
        var deleted = DeletedLine().Matches(rest.Stdout).ToList();
        Assert.Equal(2, deleted.Count);
        Assert.All(deleted, m => Assert.Equal("succeeded", m.Groups[2].Value));
        Assert.All(deleted, m => Assert.True(int.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, m.Value));
        Assert.Equal(["1", "2"], deleted.Select(m => m.Groups[4].Value));
        Assert.Contains("deleted 2 run(s)", rest.Stdout, StringComparison.Ordinal);

        await using (var inspector = StoreInspector.Open(Store))
        {
            Assert.Equal([live], (await inspector.RunsAsync()).Select(r => r.RunId));
            foreach (var run in before.Where(r => r.RunId != live))
            {
                Assert.Empty(await inspector.ArtifactPathsAsync($"runs/{run.RunId}/"));
            }

            Assert.NotEmpty(await inspector.ArtifactPathsAsync("models/m/2/"));
        }

        var models = await Ok("models", "show", "m");
        Assert.Contains("2 version(s)", models.Stdout, StringComparison.Ordinal);
        await Ok("resume", live);
        await using (var inspector = StoreInspector.Open(Store))
        {
            Assert.Equal(RunStatus.Succeeded, (await inspector.SnapshotAsync(live)).Status);
        }
    }

    [Fact]
    public async Task Purge_StoppedHalfway_TheNextPurgeFinishesTheJob()
    {
        for (var i = 0; i < 6; i++)
        {
            await Ok("run", EchoPipeline);
        }

        await Task.Delay(1500);
        var first = _cli.Start(["purge", "--older-than", "1s", "--batch", "1"]);
        using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            while (!DeletedLine().IsMatch(first.Stdout))
            {
                Assert.False(first.Process.HasExited && !DeletedLine().IsMatch(first.Stdout), $"purge exited before deleting a run:\n{first.Stdout}");
                await Task.Delay(10, limit.Token);
            }
        }

        await first.KillAsync();
        var firstDeleted = DeletedLine().Matches(first.Stdout).Count;
        Assert.InRange(firstDeleted, 1, 5);

        var second = await Ok("purge", "--older-than", "1s");

        Assert.InRange(DeletedLine().Matches(second.Stdout).Count, 6 - firstDeleted, 6 - firstDeleted + 1);
        await using var inspector = StoreInspector.Open(Store);
        Assert.Empty(await inspector.RunsAsync());
        Assert.Empty(await inspector.ArtifactPathsAsync("runs/"));
    }

    [Theory]
    [InlineData("--older-than", "soon", "--older-than 'soon' is not a duration")]
    [InlineData("--status", "running", "Status 'running' is not a final status")]
    public async Task Purge_BadInput_ExitsTwoSayingWhatToWrite(string option, string value, string message)
    {
        await Ok("run", EchoPipeline);
        string[] args = option == "--older-than" ? ["purge", option, value] : ["purge", "--older-than", "1d", option, value];

        var result = await _cli.RunAsync(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(message, result.Stderr + result.Stdout, StringComparison.Ordinal);
        await using var inspector = StoreInspector.Open(Store);
        Assert.Single(await inspector.RunsAsync());
    }
}
