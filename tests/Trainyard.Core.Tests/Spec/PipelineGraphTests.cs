using FsCheck.Xunit;
using Trainyard.Core.Spec;

namespace Trainyard.Core.Tests.Spec;

public sealed class PipelineGraphTests
{
    private static PipelineGraph Graph(params (string Id, string[] Needs)[] steps) => PipelineGraph.Create(steps.Select(s => (s.Id, (IEnumerable<string>)s.Needs)));

    [Fact]
    public void Stages_DiamondWithTail_GroupsStepsThatCanRunTogether()
    {
        var g = Graph(("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"]), ("e", []), ("f", ["d"]));
        Assert.Equal([["a", "e"], ["b", "c"], ["d"], ["f"]], g.Stages());
        Assert.Equal(["a", "e", "b", "c", "d", "f"], g.TopologicalOrder());
        Assert.Equal(2, g.MaxParallelism);
        Assert.Equal(4, g.CriticalPathLength);
        Assert.Equal(["a", "b", "d", "f"], g.CriticalPath());
        Assert.Equal(new HashSet<string> { "a", "b", "c", "d" }, g.Ancestors("f"));
        Assert.True(g.IsAncestor("a", "f"));
        Assert.False(g.IsAncestor("e", "f"));
        Assert.False(g.IsAncestor("f", "a"));
        Assert.Equal(["b", "c"], g.DependentsOf("a"));
    }

    [Fact]
    public void FindCycles_ReportsFullClosedPathStartingAtFirstStep()
    {
        var g = Graph(("x", []), ("a", ["c"]), ("b", ["a"]), ("c", ["b"]), ("d", ["d"]));
        Assert.Equal([["a", "c", "b", "a"], ["d", "d"]], g.FindCycles());
        Assert.True(g.HasCycle);
        Assert.Throws<InvalidOperationException>(() => g.Stages());
    }

    [Fact]
    public void FindCycles_TenThousandStepChain_DoesNotOverflowTheStack()
    {
        var steps = Enumerable.Range(0, 10_000).Select(i => ($"s{i}", i == 0 ? new[] { "s9999" } : [$"s{i - 1}"])).ToArray();
        var cycle = Assert.Single(Graph(steps).FindCycles());
        Assert.Equal(10_001, cycle.Count);
    }

    /// <summary>Random directed graphs (edges as pairs of node numbers): cycle detection agrees with Kahn's algorithm, and every reported cycle is real.</summary>
    [Property(MaxTest = 300)]
    public bool FindCycles_AgreesWithKahnAndReportsRealCycles(byte size, (byte From, byte To)[] edges)
    {
        int n = size % 25 + 1;
        var needs = Enumerable.Range(0, n).Select(_ => new List<string>()).ToArray();
        foreach (var (from, to) in edges ?? [])
        {
            needs[from % n].Add($"n{to % n}");
        }

        var g = PipelineGraph.Create(Enumerable.Range(0, n).Select(i => ($"n{i}", (IEnumerable<string>)needs[i])));
        var cycles = g.FindCycles();
        bool kahnOrdersAll = KahnOrdersAll(n, needs);
        bool cyclesAreReal = cycles.All(c =>
            c.Count >= 2 && c[0] == c[^1] && c.Zip(c.Skip(1)).All(e => needs[int.Parse(e.First[1..], System.Globalization.CultureInfo.InvariantCulture)].Contains(e.Second)));
        bool orderRespectsNeeds = cycles.Count > 0 || g.TopologicalOrder().Select((id, i) => (id, i)).ToDictionary(x => x.id, x => x.i) is var pos
            && Enumerable.Range(0, n).All(i => needs[i].All(need => pos[need] < pos[$"n{i}"]));
        return (cycles.Count == 0) == kahnOrdersAll && g.HasCycle == !kahnOrdersAll && cyclesAreReal && orderRespectsNeeds;
    }

    /// <summary>The reference: plain Kahn's algorithm on the same edges.</summary>
    private static bool KahnOrdersAll(int n, List<string>[] needs)
    {
        var indegree = new int[n];
        var dependents = Enumerable.Range(0, n).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < n; i++)
        {
            foreach (var need in needs[i].Distinct())
            {
                int j = int.Parse(need[1..], System.Globalization.CultureInfo.InvariantCulture);
                indegree[i]++;
                dependents[j].Add(i);
            }
        }

        var queue = new Queue<int>(Enumerable.Range(0, n).Where(i => indegree[i] == 0));
        int seen = 0;
        while (queue.Count > 0)
        {
            int v = queue.Dequeue();
            seen++;
            foreach (var d in dependents[v])
            {
                if (--indegree[d] == 0)
                {
                    queue.Enqueue(d);
                }
            }
        }

        return seen == n;
    }
}
