using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trainyard.Core.Engine;
using static Trainyard.Core.Tests.Engine.Specs;

namespace Trainyard.Core.Tests.Engine;

/// <summary>
/// Checked-in journals guard the journal format and the decider's decisions. Set TRAINYARD_RECORD_JOURNALS=1 to
/// re-record them after an intended change (and review the diff).
/// </summary>
public sealed class JournalReplayTests
{
    public static TheoryData<string> Names => [.. JournalScenario.All.Select(s => s.Name)];

    [Theory]
    [MemberData(nameof(Names))]
    public void CheckedInJournal_ReplaysToRecordedState(string name)
    {
        var scenario = JournalScenario.All.Single(s => s.Name == name);
        if (Recording)
        {
            Record(scenario);
        }

        var journal = JournalReplay.Deserialize(ReadFixture($"{name}.journal.json"), $"{name}.journal.json");
        var state = JournalReplay.Replay(scenario.Spec(), journal);

        var expected = JsonNode.Parse(ReadFixture($"{name}.state.json"));
        var actual = JsonSerializer.SerializeToNode(state, EngineJson.Options);
        Assert.True(JsonNode.DeepEquals(expected, actual), $"replayed state differs from {name}.state.json:\n{actual}");
        Assert.NotEqual(RunStatus.Running, state.Status);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void CheckedInJournal_IsWhatTheDeciderProducesToday(string name)
    {
        var scenario = JournalScenario.All.Single(s => s.Name == name);
        var sim = new RunSimulator(scenario.Spec());
        scenario.Drive(sim);
        Assert.Equal(Normalize(ReadFixture($"{name}.journal.json")), Normalize(JournalReplay.Serialize(sim.Journal, indented: true)));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void CheckedInJournal_AgainstChangedPipeline_ReportsNonDeterminism(string name)
    {
        var scenario = JournalScenario.All.Single(s => s.Name == name);
        var journal = JournalReplay.Deserialize(ReadFixture($"{name}.journal.json"));
        var changed = scenario.Change(scenario.Spec());

        var ex = Assert.Throws<NonDeterminismException>(() => JournalReplay.Replay(changed, journal));
        Assert.InRange(ex.Sequence, 1, journal.Count + 1);
        Assert.NotEqual(ex.Expected, ex.Actual);
        Assert.Contains($"journal entry {ex.Sequence}", ex.Message);
        Assert.Contains("replay with the pipeline version the run started with", ex.Message);
        if (ex.Sequence <= journal.Count)
        {
            Assert.Equal(JournalReplay.Describe(journal[(int)ex.Sequence - 1]), ex.Expected);
        }
    }

    [Fact]
    public void Replay_TruncatedDecisions_AreReported()
    {
        var scenario = JournalScenario.All[0];
        var journal = JournalReplay.Deserialize(ReadFixture($"{scenario.Name}.journal.json"));
        var cut = journal.Take(4).ToList();
        Assert.IsType<TaskSucceeded>(journal[2]);
        Assert.IsType<TaskDispatched>(journal[4]);

        var ex = Assert.Throws<NonDeterminismException>(() => JournalReplay.Replay(scenario.Spec(), cut));
        Assert.Equal(5, ex.Sequence);
        Assert.Equal("the end of the journal", ex.Expected);
    }

    [Fact]
    public void Replay_ExtraDecision_IsReported()
    {
        var sim = new RunSimulator(Pipeline(Step("a")));
        sim.Start();
        var journal = sim.Journal.Append(new TaskSkipped("a", "forged") { EventId = "x", At = sim.Now }).ToList();
        var ex = Assert.Throws<NonDeterminismException>(() => JournalReplay.Replay(sim.Spec, journal));
        Assert.Equal(3, ex.Sequence);
        Assert.Contains("forged", ex.Expected);
    }

    [Fact]
    public void Deserialize_NotAJournal_NamesTheSource()
    {
        var ex = Assert.Throws<FormatException>(() => JournalReplay.Deserialize("""[{"type":"Nope"}]""", "bad.json"));
        Assert.StartsWith("bad.json:", ex.Message);
    }

    private static void Record(JournalScenario scenario)
    {
        var sim = new RunSimulator(scenario.Spec());
        scenario.Drive(sim);
        var dir = SourceDir();
        File.WriteAllText(Path.Combine(dir, $"{scenario.Name}.journal.json"), JournalReplay.Serialize(sim.Journal, indented: true) + "\n");
        var state = JsonSerializer.Serialize(sim.Run, new JsonSerializerOptions(EngineJson.Options) { WriteIndented = true });
        File.WriteAllText(Path.Combine(dir, $"{scenario.Name}.state.json"), state + "\n");
    }

    // While re-recording, read the files just written rather than the copies made at build time.
    private static string ReadFixture(string file)
        => File.ReadAllText(Path.Combine(Recording ? SourceDir() : Path.Combine(AppContext.BaseDirectory, "Journals"), file));

    private static bool Recording => Environment.GetEnvironmentVariable("TRAINYARD_RECORD_JOURNALS") == "1";

    private static string Normalize(string text) => text.ReplaceLineEndings("\n").TrimEnd();

    private static string SourceDir([CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(here)!)!, "Journals");
}
