using System.Text.Json;
using Trainyard.Core.Spec;

namespace Trainyard.Core.Engine;

/// <summary>Folds a run's journal through the decider and checks that it still makes the recorded decisions.</summary>
public static class JournalReplay
{
    /// <summary>
    /// Replays <paramref name="journal"/>: every inbound event goes through <see cref="Decider.Decide"/>, and the decision
    /// events that follow it in the journal must equal the ones the decider regenerates, in order.
    /// </summary>
    /// <param name="spec">The pipeline version the run started with.</param>
    /// <param name="journal">The run's journal, oldest first.</param>
    /// <param name="firstSequence">Sequence number of the first entry, for messages (journals number from 1).</param>
    /// <returns>The run's state after the last entry.</returns>
    /// <exception cref="NonDeterminismException">The journal and the pipeline disagree.</exception>
    public static RunState Replay(PipelineSpec spec, IReadOnlyList<RunEvent> journal, long firstSequence = 1)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(journal);
        if (journal.Count == 0)
        {
            throw new ArgumentException("the journal is empty: a run's journal starts with RunStarted", nameof(journal));
        }

        RunState? state = null;
        int i = 0;
        while (i < journal.Count)
        {
            var evt = journal[i];
            if (Decider.IsDecisionEvent(evt))
            {
                throw new NonDeterminismException(spec, firstSequence + i, Describe(evt), "no decision here (the previous event decides nothing more)");
            }

            if (state is null && evt is not RunStarted)
            {
                throw new ArgumentException($"journal entry {firstSequence + i} is {evt.GetType().Name}, but a journal starts with RunStarted", nameof(journal));
            }

            var decision = Decider.DecideUnchecked(spec, state, evt);
            i++;
            foreach (var regenerated in decision.Recorded)
            {
                var actual = Describe(regenerated);
                if (i >= journal.Count)
                {
                    throw new NonDeterminismException(spec, firstSequence + i, "the end of the journal", actual);
                }

                var expected = Describe(journal[i]);
                if (expected != actual)
                {
                    throw new NonDeterminismException(spec, firstSequence + i, expected, actual);
                }

                i++;
            }

            state = decision.State;
        }

        return state!;
    }

    /// <summary>Serializes a journal as a JSON array with <see cref="EngineJson.Options"/>.</summary>
    public static string Serialize(IEnumerable<RunEvent> journal, bool indented = false)
    {
        ArgumentNullException.ThrowIfNull(journal);
        var options = indented ? new JsonSerializerOptions(EngineJson.Options) { WriteIndented = true } : EngineJson.Options;
        return JsonSerializer.Serialize(journal.ToList(), options);
    }

    /// <summary>Reads a journal written by <see cref="Serialize"/>; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="FormatException">The text is not a journal.</exception>
    public static IReadOnlyList<RunEvent> Deserialize(string json, string source = "journal")
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            return JsonSerializer.Deserialize<List<RunEvent>>(json, EngineJson.Options)
                ?? throw new FormatException($"{source}: is JSON null, not a list of events");
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{source}: not a journal (a JSON array of events with a \"type\"): {ex.Message}", ex);
        }
        catch (NotSupportedException ex)
        {
            // System.Text.Json's answer to an event object without its "type" (the discriminator) first.
            throw new FormatException($"{source}: not a journal: every event must be a JSON object whose first property is \"type\" ({ex.Message})", ex);
        }
    }

    /// <summary>One event as compact JSON, the form decisions are compared in.</summary>
    public static string Describe(RunEvent evt) => JsonSerializer.Serialize(evt, EngineJson.Options);
}

/// <summary>A journal no longer replays: the pipeline (or the decider) now makes a different decision than the one recorded.</summary>
public sealed class NonDeterminismException : Exception
{
    /// <summary>Creates the error for journal entry <paramref name="sequence"/>.</summary>
    public NonDeterminismException(PipelineSpec spec, long sequence, string expected, string actual)
        : base($"journal entry {sequence} does not replay against pipeline '{spec?.Name}' (version {spec?.ContentHash}): "
            + $"the journal recorded {expected}, but the decider now decides {actual}. "
            + "The pipeline changed since the run was recorded: replay with the pipeline version the run started with.")
    {
        Sequence = sequence;
        Expected = expected;
        Actual = actual;
    }

    /// <summary>Sequence number of the first entry that differs.</summary>
    public long Sequence { get; }

    /// <summary>What the journal holds at that entry.</summary>
    public string Expected { get; }

    /// <summary>What the decider regenerates there.</summary>
    public string Actual { get; }
}
