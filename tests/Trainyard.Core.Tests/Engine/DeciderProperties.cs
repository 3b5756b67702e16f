using System.Text.Json;
using FsCheck.Xunit;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using static Trainyard.Core.Tests.Engine.Specs;

namespace Trainyard.Core.Tests.Engine;

public sealed class DeciderProperties
{
    /// <summary>
    /// For a random DAG (foreach, retries, timeouts, continue-on-failure, run and step bounds) driven in a random
    /// completion order with random failures, redeliveries and sometimes a cancel: the run always ends, replaying its
    /// journal gives the live state, and no attempt is dispatched twice.
    /// </summary>
    [Property(MaxTest = 300)]
    public void RandomRuns_ReplayToLiveState_AndDispatchEachAttemptOnce(int seed)
    {
        var rng = new Random(seed);
        var spec = RandomSpec(rng);
        var sim = new RunSimulator(spec, $"run-{seed}") { RoundTripState = rng.Next(2) == 0 };
        sim.Start();
        int cancelAfter = rng.Next(10) == 0 ? rng.Next(1, 20) : int.MaxValue;
        var hung = new HashSet<string>();
        for (int step = 0; sim.Run.Status == RunStatus.Running; step++)
        {
            Assert.True(step < 10_000, "run did not finish");
            if (step == cancelAfter)
            {
                sim.Apply(new CancelRequested("property") { EventId = sim.NextId(), At = sim.Now });
                break;
            }

            var live = sim.InFlight.Where(w => !hung.Contains(w.DispatchId)).ToList();
            if (live.Count == 0)
            {
                var timer = sim.Timers.OrderBy(t => t.FireAt).ThenBy(t => t.TimerId, StringComparer.Ordinal).First();
                sim.Fire(timer.TimerId);
                continue;
            }

            var w = live[rng.Next(live.Count)];
            sim.Now += TimeSpan.FromMilliseconds(rng.Next(1, 5000));
            var outcome = Behave(w, seed, spec);
            if (outcome.Hang)
            {
                hung.Add(w.DispatchId);
                continue;
            }

            var before = sim.Run;
            var d = sim.Complete(w, outcome);
            Assert.False(d.Duplicate);
            if (rng.Next(5) == 0)
            {
                var again = Decider.Decide(spec, sim.Run, sim.Journal.Last(e => e is TaskSucceeded or TaskFailed));
                Assert.True(again.Duplicate, "a redelivered result must change nothing");
            }

            _ = before;
        }

        var final = sim.Run;
        Assert.NotEqual(RunStatus.Running, final.Status);
        Assert.All(final.Tasks.Values, t => Assert.True(t.IsFinal, $"{t.TaskKey} is {t.Status}"));
        Assert.Equal(0, final.Open);
        Assert.Equal(0, final.InFlight);
        Assert.Empty(final.Queue);
        Assert.Single(sim.Notified);

        var replayed = JournalReplay.Replay(spec, JournalReplay.Deserialize(JournalReplay.Serialize(sim.Journal)));
        Assert.Equal(JsonSerializer.Serialize(final, EngineJson.Options), JsonSerializer.Serialize(replayed, EngineJson.Options));

        var dispatched = sim.Journal.OfType<TaskDispatched>().ToList();
        Assert.Equal(dispatched.Count, dispatched.Select(e => (e.TaskKey, e.Attempt)).Distinct().Count());
        Assert.Equal(dispatched.Count, dispatched.Select(e => e.DispatchId).Distinct().Count());
        foreach (var group in dispatched.GroupBy(e => e.TaskKey))
        {
            Assert.Equal(Enumerable.Range(1, group.Count()), group.Select(e => e.Attempt));
            var stepSpec = spec.FindStep(EngineIds.ParseTaskKey(group.Key).StepId)!;
            Assert.True(group.Count() <= (stepSpec.Retry ?? RetryPolicy.None).MaxAttempts);
        }

        if (spec.MaxParallel is { } max)
        {
            Assert.True(sim.MaxInFlightSeen <= max);
        }

        if (final.Status == RunStatus.Succeeded)
        {
            Assert.DoesNotContain(final.Tasks.Values, t => t.ItemIndex is null && t.Status == Trainyard.Core.Engine.TaskStatus.Failed && spec.FindStep(t.StepId)!.OnFailure == OnFailure.FailRun);
        }
    }

    private static PipelineSpec RandomSpec(Random rng)
    {
        int n = rng.Next(1, 11);
        var steps = new List<StepSpec>();
        for (int i = 0; i < n; i++)
        {
            var needs = Enumerable.Range(0, i).Where(_ => rng.Next(10) < 3).Select(j => $"s{j}").ToArray();
            var step = new StepSpec
            {
                Id = $"s{i}",
                Uses = "echo",
                Needs = needs,
                OnFailure = rng.Next(10) < 3 ? OnFailure.Continue : OnFailure.FailRun,
                Retry = rng.Next(2) == 0 ? null : new RetryPolicy { MaxAttempts = rng.Next(1, 4), InitialInterval = TimeSpan.FromSeconds(rng.Next(1, 30)), Jitter = rng.NextDouble() },
                Timeout = rng.Next(4) == 0 ? TimeSpan.FromSeconds(rng.Next(10, 120)) : null,
                When = rng.Next(10) == 0 ? "params.flag" : null,
            };
            if (rng.Next(4) == 0)
            {
                step = step with { Foreach = new ForeachSpec { Items = J(Enumerable.Range(0, rng.Next(0, 5)).ToArray()), MaxParallel = rng.Next(3) == 0 ? rng.Next(1, 3) : null } };
            }

            steps.Add(step);
        }

        return new PipelineSpec
        {
            Name = "random",
            ContentHash = "random",
            MaxParallel = rng.Next(3) == 0 ? rng.Next(1, 5) : null,
            Timeout = rng.Next(10) == 0 ? TimeSpan.FromMinutes(rng.Next(1, 5)) : null,
            Steps = steps,
        };
    }

    // Outcome of one attempt is a hash of (seed, task, attempt), so a redelivered attempt behaves the same.
    private static Outcome Behave(TaskWorkItem w, int seed, PipelineSpec spec)
    {
        int roll = (int)(EngineIds.DispatchId($"{seed}", w.TaskKey, w.Attempt)[1..7].Aggregate(0L, (a, c) => (a * 16) + Convert.ToInt32(c.ToString(), 16)) % 100);
        bool canHang = (spec.FindStep(w.StepId)!.Timeout ?? spec.Defaults.Timeout) is not null;
        return roll switch
        {
            < 65 => Outcome.Ok(new { v = roll }),
            < 85 => Outcome.Fail($"transient {roll}"),
            < 92 => Outcome.Fail($"fatal {roll}", retryable: false),
            _ => canHang ? Outcome.Hanging() : Outcome.Fail($"transient {roll}"),
        };
    }
}
