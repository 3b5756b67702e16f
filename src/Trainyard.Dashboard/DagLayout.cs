using Trainyard.Core.Spec;

namespace Trainyard.Dashboard;

/// <summary>A step's box in the DAG drawing.</summary>
internal sealed record DagNode(StepSpec Step, int Column, int Row, double X, double Y);

/// <summary>Lays a pipeline's steps out left to right: a step's column is the length of the longest chain of needs before it.</summary>
internal sealed record DagLayout(IReadOnlyList<DagNode> Nodes, double Width, double Height)
{
    public const double NodeWidth = 180;
    public const double NodeHeight = 48;
    private const double ColumnGap = 70;
    private const double RowGap = 22;
    private const double Margin = 16;

    public static DagLayout Of(PipelineSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var byId = spec.Steps.Where(s => s.Id.Length > 0).GroupBy(s => s.Id, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var depth = new Dictionary<string, int>(StringComparer.Ordinal);
        int Depth(string id, int guard)
        {
            if (depth.TryGetValue(id, out var d))
            {
                return d;
            }

            // Validation refuses cycles; the guard only keeps a corrupt stored spec from looping.
            var needs = byId.TryGetValue(id, out var s) && guard < byId.Count ? s.Needs.Where(byId.ContainsKey).ToList() : [];
            d = needs.Count == 0 ? 0 : needs.Max(n => Depth(n, guard + 1)) + 1;
            depth[id] = d;
            return d;
        }

        var rows = new Dictionary<int, int>();
        var nodes = new List<DagNode>();
        foreach (var step in byId.Values)
        {
            var column = Depth(step.Id, 0);
            var row = rows.GetValueOrDefault(column);
            rows[column] = row + 1;
            nodes.Add(new DagNode(step, column, row, Margin + column * (NodeWidth + ColumnGap), Margin + row * (NodeHeight + RowGap)));
        }

        var columns = nodes.Count == 0 ? 0 : nodes.Max(n => n.Column) + 1;
        var maxRows = rows.Count == 0 ? 0 : rows.Values.Max();
        return new DagLayout(nodes, (2 * Margin) + (columns * (NodeWidth + ColumnGap)) - ColumnGap, (2 * Margin) + (maxRows * (NodeHeight + RowGap)) - RowGap);
    }

    /// <summary>Edges as (from, to) node pairs.</summary>
    public IEnumerable<(DagNode From, DagNode To)> Edges()
    {
        var byId = Nodes.ToDictionary(n => n.Step.Id, StringComparer.Ordinal);
        foreach (var n in Nodes)
        {
            foreach (var need in n.Step.Needs)
            {
                if (byId.TryGetValue(need, out var from))
                {
                    yield return (from, n);
                }
            }
        }
    }
}
