using System.Runtime.CompilerServices;
using Trainyard.Core.Spec;

namespace Trainyard.Core.Engine;

/// <summary>What the decider needs to know about a spec's shape, computed once per spec instance.</summary>
internal sealed class SpecIndex
{
    private static readonly ConditionalWeakTable<PipelineSpec, SpecIndex> Cache = new();

    private readonly Dictionary<string, int> _position;

    private SpecIndex(PipelineSpec spec)
    {
        Spec = spec;
        Steps = spec.Steps;
        _position = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < Steps.Count; i++)
        {
            if (!_position.TryAdd(Steps[i].Id, i))
            {
                throw new InvalidOperationException($"pipeline '{spec.Name}' defines step '{Steps[i].Id}' twice: give every step a unique id");
            }
        }

        var dependents = new List<int>[Steps.Count];
        for (int i = 0; i < Steps.Count; i++)
        {
            dependents[i] = [];
        }

        for (int i = 0; i < Steps.Count; i++)
        {
            foreach (var need in Steps[i].Needs)
            {
                if (!_position.TryGetValue(need, out int n))
                {
                    throw new InvalidOperationException($"step '{Steps[i].Id}' of pipeline '{spec.Name}' needs '{need}', which the pipeline does not define: fix `needs` (validation should reject this spec)");
                }

                if (!dependents[n].Contains(i))
                {
                    dependents[n].Add(i);
                }
            }
        }

        Dependents = dependents.Select(d => (IReadOnlyList<int>)[.. d.Order()]).ToArray();
        CheckAcyclic(spec);
    }

    /// <summary>The spec indexed.</summary>
    public PipelineSpec Spec { get; }

    /// <summary>Steps in file order.</summary>
    public IReadOnlyList<StepSpec> Steps { get; }

    /// <summary>Positions of the steps that need step i, ascending (file order).</summary>
    public IReadOnlyList<int>[] Dependents { get; }

    public static SpecIndex For(PipelineSpec spec) => Cache.GetValue(spec, s => new SpecIndex(s));

    /// <summary>Position of a step in the file; throws when a run's state names a step this spec does not have.</summary>
    public int Position(string stepId)
        => _position.TryGetValue(stepId, out int i)
            ? i
            : throw new InvalidOperationException(
                $"the run's state has step '{stepId}', which pipeline '{Spec.Name}' (version {Spec.ContentHash}) does not define: decide with the pipeline version the run started with");

    public StepSpec Step(string stepId) => Steps[Position(stepId)];

    public bool HasStep(string stepId) => _position.ContainsKey(stepId);

    private void CheckAcyclic(PipelineSpec spec)
    {
        var indegree = Steps.Select(s => s.Needs.Distinct().Count()).ToArray();
        var ready = new Queue<int>(Enumerable.Range(0, Steps.Count).Where(i => indegree[i] == 0));
        int seen = 0;
        while (ready.Count > 0)
        {
            int i = ready.Dequeue();
            seen++;
            foreach (int d in Dependents[i])
            {
                if (--indegree[d] == 0)
                {
                    ready.Enqueue(d);
                }
            }
        }

        if (seen != Steps.Count)
        {
            var cyclic = string.Join(", ", Enumerable.Range(0, Steps.Count).Where(i => indegree[i] > 0).Select(i => $"'{Steps[i].Id}'"));
            throw new InvalidOperationException($"pipeline '{spec.Name}' has a cycle in `needs` among steps {cyclic}: break the cycle (validation should reject this spec)");
        }
    }
}
