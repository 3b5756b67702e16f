namespace Trainyard.Core.Spec;

/// <summary>
/// The step DAG of a pipeline: cycles, topological order, stages (steps that can run together), parallelism,
/// critical path and ancestry. Needs naming unknown steps are ignored (validation reports them).
/// </summary>
public sealed class PipelineGraph
{
    private readonly string[] _ids;
    private readonly Dictionary<string, int> _index;
    private readonly int[][] _needs;
    private readonly int[][] _dependents;
    private int[]? _levels;

    private PipelineGraph(string[] ids, Dictionary<string, int> index, int[][] needs)
    {
        _ids = ids;
        _index = index;
        _needs = needs;
        var deps = new List<int>[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            deps[i] = [];
        }

        for (int i = 0; i < ids.Length; i++)
        {
            foreach (var n in needs[i])
            {
                deps[n].Add(i);
            }
        }

        _dependents = [.. deps.Select(d => d.ToArray())];
    }

    /// <summary>Builds the graph of a spec's steps.</summary>
    public static PipelineGraph FromSpec(PipelineSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return Create(spec.Steps.Select(s => (s.Id, (IEnumerable<string>)s.Needs)));
    }

    /// <summary>Builds a graph from (id, needs) pairs; a repeated id keeps its first occurrence.</summary>
    public static PipelineGraph Create(IEnumerable<(string Id, IEnumerable<string> Needs)> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        var list = steps.ToList();
        var index = new Dictionary<string, int>(list.Count, StringComparer.Ordinal);
        var ids = new List<string>(list.Count);
        var keep = new List<IEnumerable<string>>(list.Count);
        foreach (var (id, needs) in list)
        {
            if (index.TryAdd(id, ids.Count))
            {
                ids.Add(id);
                keep.Add(needs);
            }
        }

        var edges = new int[ids.Count][];
        for (int i = 0; i < ids.Count; i++)
        {
            var set = new List<int>();
            foreach (var n in keep[i])
            {
                if (index.TryGetValue(n, out int j) && !set.Contains(j))
                {
                    set.Add(j);
                }
            }

            edges[i] = [.. set];
        }

        return new PipelineGraph([.. ids], index, edges);
    }

    /// <summary>Step ids in file order.</summary>
    public IReadOnlyList<string> StepIds => _ids;

    /// <summary>Whether a step with this id exists.</summary>
    public bool Contains(string id) => _index.ContainsKey(id);

    /// <summary>Known steps the step needs.</summary>
    public IReadOnlyList<string> NeedsOf(string id) => [.. _needs[IndexOf(id)].Select(i => _ids[i])];

    /// <summary>Steps that need the step directly.</summary>
    public IReadOnlyList<string> DependentsOf(string id) => [.. _dependents[IndexOf(id)].Select(i => _ids[i])];

    /// <summary>
    /// One cycle per strongly connected component that has one, as a closed path `[a, b, c, a]` where each step needs the
    /// next. Each starts at the component's first step in file order. Empty for a DAG.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<string>> FindCycles()
    {
        var result = new List<IReadOnlyList<string>>();
        foreach (var component in StronglyConnected())
        {
            int start = component.Min();
            if (component.Count == 1 && !_needs[start].Contains(start))
            {
                continue;
            }

            result.Add(CycleThrough(start, [.. component]));
        }

        return [.. result.OrderBy(c => _index[c[0]])];
    }

    /// <summary>Whether the graph has any cycle.</summary>
    public bool HasCycle => Levels() is null;

    /// <summary>Steps in an order where every step comes after the steps it needs (stage by stage, file order within a stage).</summary>
    /// <exception cref="InvalidOperationException">The graph has a cycle.</exception>
    public IReadOnlyList<string> TopologicalOrder() => [.. Stages().SelectMany(s => s)];

    /// <summary>Stage k holds the steps whose longest chain of needs has k steps: everything in a stage can run together.</summary>
    /// <exception cref="InvalidOperationException">The graph has a cycle.</exception>
    public IReadOnlyList<IReadOnlyList<string>> Stages()
    {
        var levels = Levels() ?? throw new InvalidOperationException("the steps form a cycle, so they have no order: run validation to see the cycle");
        int count = levels.Length == 0 ? 0 : levels.Max() + 1;
        var stages = new List<string>[count];
        for (int i = 0; i < count; i++)
        {
            stages[i] = [];
        }

        for (int i = 0; i < levels.Length; i++)
        {
            stages[levels[i]].Add(_ids[i]);
        }

        return stages;
    }

    /// <summary>Most steps that can run at once when every step takes the same time (the widest stage).</summary>
    public int MaxParallelism => Stages().Select(s => s.Count).DefaultIfEmpty(0).Max();

    /// <summary>Steps on the longest chain of needs (the number of stages).</summary>
    public int CriticalPathLength => Stages().Count;

    /// <summary>One longest chain of needs, first step first.</summary>
    public IReadOnlyList<string> CriticalPath()
    {
        var levels = Levels() ?? throw new InvalidOperationException("the steps form a cycle: run validation to see it");
        if (levels.Length == 0)
        {
            return [];
        }

        int cur = Array.IndexOf(levels, levels.Max());
        var path = new List<string> { _ids[cur] };
        while (levels[cur] > 0)
        {
            cur = _needs[cur].First(n => levels[n] == levels[cur] - 1);
            path.Add(_ids[cur]);
        }

        path.Reverse();
        return path;
    }

    /// <summary>Every step the step depends on, directly or transitively.</summary>
    public IReadOnlySet<string> Ancestors(string id)
    {
        var seen = new bool[_ids.Length];
        var stack = new Stack<int>(_needs[IndexOf(id)]);
        var result = new HashSet<string>(StringComparer.Ordinal);
        while (stack.Count > 0)
        {
            int n = stack.Pop();
            if (seen[n])
            {
                continue;
            }

            seen[n] = true;
            result.Add(_ids[n]);
            foreach (var m in _needs[n])
            {
                stack.Push(m);
            }
        }

        return result;
    }

    /// <summary>Whether <paramref name="ancestor"/> is upstream of <paramref name="step"/> (reachable through needs).</summary>
    public bool IsAncestor(string ancestor, string step)
    {
        if (!_index.TryGetValue(ancestor, out int target) || !_index.TryGetValue(step, out int from))
        {
            return false;
        }

        if (_needs[from].Contains(target))
        {
            return true;
        }

        var seen = new bool[_ids.Length];
        var stack = new Stack<int>(_needs[from]);
        while (stack.Count > 0)
        {
            int n = stack.Pop();
            if (n == target)
            {
                return true;
            }

            if (seen[n])
            {
                continue;
            }

            seen[n] = true;
            foreach (var m in _needs[n])
            {
                stack.Push(m);
            }
        }

        return false;
    }

    private int IndexOf(string id) => _index.TryGetValue(id, out int i) ? i : throw new ArgumentException($"no step '{id}' in the pipeline", nameof(id));

    /// <summary>Longest-path level of each step (Kahn's algorithm), or null when there is a cycle.</summary>
    private int[]? Levels()
    {
        if (_levels is not null)
        {
            return _levels;
        }

        int n = _ids.Length;
        var remaining = new int[n];
        var queue = new Queue<int>();
        for (int i = 0; i < n; i++)
        {
            remaining[i] = _needs[i].Length;
            if (remaining[i] == 0)
            {
                queue.Enqueue(i);
            }
        }

        var levels = new int[n];
        int done = 0;
        while (queue.Count > 0)
        {
            int v = queue.Dequeue();
            done++;
            foreach (var d in _dependents[v])
            {
                levels[d] = Math.Max(levels[d], levels[v] + 1);
                if (--remaining[d] == 0)
                {
                    queue.Enqueue(d);
                }
            }
        }

        return done == n ? _levels = levels : null;
    }

    /// <summary>Tarjan's algorithm without recursion (10,000-step chains must not overflow the stack).</summary>
    private List<List<int>> StronglyConnected()
    {
        int n = _ids.Length;
        var index = new int[n];
        var low = new int[n];
        var onStack = new bool[n];
        Array.Fill(index, -1);
        var sccStack = new Stack<int>();
        var callNode = new int[n];
        var callEdge = new int[n];
        var result = new List<List<int>>();
        int counter = 0;
        for (int root = 0; root < n; root++)
        {
            if (index[root] != -1)
            {
                continue;
            }

            int sp = 0;
            callNode[0] = root;
            callEdge[0] = 0;
            index[root] = low[root] = counter++;
            sccStack.Push(root);
            onStack[root] = true;
            while (sp >= 0)
            {
                int u = callNode[sp];
                if (callEdge[sp] < _needs[u].Length)
                {
                    int w = _needs[u][callEdge[sp]++];
                    if (index[w] == -1)
                    {
                        index[w] = low[w] = counter++;
                        sccStack.Push(w);
                        onStack[w] = true;
                        sp++;
                        callNode[sp] = w;
                        callEdge[sp] = 0;
                    }
                    else if (onStack[w])
                    {
                        low[u] = Math.Min(low[u], index[w]);
                    }

                    continue;
                }

                sp--;
                if (sp >= 0)
                {
                    int parent = callNode[sp];
                    low[parent] = Math.Min(low[parent], low[u]);
                }

                if (low[u] == index[u])
                {
                    var component = new List<int>();
                    int w;
                    do
                    {
                        w = sccStack.Pop();
                        onStack[w] = false;
                        component.Add(w);
                    }
                    while (w != u);
                    result.Add(component);
                }
            }
        }

        return result;
    }

    /// <summary>Shortest closed walk from <paramref name="start"/> back to itself inside one component (breadth-first).</summary>
    private List<string> CycleThrough(int start, HashSet<int> component)
    {
        var parent = new Dictionary<int, int>();
        var queue = new Queue<int>();
        queue.Enqueue(start);
        int last = -1;
        while (queue.Count > 0 && last < 0)
        {
            int u = queue.Dequeue();
            foreach (var w in _needs[u])
            {
                if (w == start)
                {
                    last = u;
                    break;
                }

                if (component.Contains(w) && parent.TryAdd(w, u))
                {
                    queue.Enqueue(w);
                }
            }
        }

        var path = new List<int>();
        for (int v = last; v != start; v = parent[v])
        {
            path.Add(v);
        }

        path.Add(start);
        path.Reverse();
        path.Add(start);
        return [.. path.Select(i => _ids[i])];
    }
}
