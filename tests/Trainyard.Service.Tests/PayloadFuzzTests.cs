using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Trainyard.Testing;

namespace Trainyard.Service.Tests;

/// <summary>
/// Property-based fuzzing of the trigger payload readers (issue 13, class 9): drift signals from a Storage queue or
/// Service Bus and blob path patterns and paths. Whatever arrives, they answer with their documented errors
/// (TriggerPayloadException, FormatException) or a value, in bounded time and memory, never a crash.
/// </summary>
public sealed class PayloadFuzzTests
{
    private static readonly TimeSpan TimeBound = TimeSpan.FromSeconds(10);
    private const long MemoryBound = 256L * 1024 * 1024;

    private static readonly string[] JsonTokens =
    [
        "{", "}", "[", "]", ",", ":", "\"signalId\"", "\"model\"", "\"feature\"", "\"metric\"", "\"value\"", "\"threshold\"",
        "\"window\"", "\"source\"", "\"churn\"", "\"psi\"", "0.4", "-1", "1e309", "NaN", "null", "true", "\"\"", "\"\\u0000\"",
        "\"\\u001b[2J\"", "99999999999999999999999", " ", "\n", "\"x\"", "{\"a\":", "\"\u202e\"",
    ];

    private static readonly string[] GlobTokens = ["{", "}", "name", "date", "*", "**", "/", ".", "csv", "a", "\\", "?", "[", "(", "|", "+", "$", "^", " ", "\u0000"];

    private static Arbitrary<string> Joined(string[] tokens, int max) =>
        Gen.Elements(tokens).ListOf().Select(parts => string.Concat(parts.Take(max))).ToArbitrary();

    [Property(MaxTest = 500)]
    public Property DriftSignalFromAQueue_AnyJsonish_IsASignalOrAPayloadError()
        => Prop.ForAll(Joined(JsonTokens, 120), body => Bounded(() => ReadsCleanly(() => DriftSignalReader.ReadQueue(body, "m1"))));

    [Property(MaxTest = 300)]
    public bool DriftSignalFromServiceBus_AnyText_IsASignalOrAPayloadError(string body, string? messageId)
        => Bounded(() => ReadsCleanly(() => DriftSignalReader.ReadServiceBus(BinaryData.FromString(body ?? ""), messageId)));

    [Property(MaxTest = 500)]
    public Property BlobPattern_AnyGlobAndPath_CompilesOrRefusesAndMatchesInBoundedTime()
        => Prop.ForAll(Joined(GlobTokens, 40), Joined(GlobTokens, 200), (glob, path) => Bounded(() =>
        {
            BlobPathPattern pattern;
            try
            {
                pattern = BlobPathPattern.Parse(glob);
            }
            catch (FormatException)
            {
                return true;
            }

            _ = pattern.Match(path);
            return true;
        }));

    [Fact]
    public void BlobPattern_ManyWildcardsAgainstALongNearMiss_DoesNotBacktrackForever()
    {
        var pattern = BlobPathPattern.Parse(string.Concat(Enumerable.Repeat("*a", 30)) + "b");
        Assert.True(Bounded(() => pattern.Match(new string('a', 5000)) is null));
    }

    private static bool ReadsCleanly(Func<object> read)
    {
        try
        {
            _ = read();
            return true;
        }
        catch (TriggerPayloadException e)
        {
            return e.Message.Length > 0;
        }
    }

    private static bool Bounded(Func<bool> check) => BoundedCheck.Run(check, TimeBound, MemoryBound);
}
