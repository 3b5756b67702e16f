using System.Diagnostics;
using System.Globalization;

namespace Trainyard.Execution;

/// <summary>
/// Crash points for kill tests. `TRAINYARD_FAULT=&lt;point&gt;:&lt;n&gt;` makes the process kill itself (SIGKILL, no
/// clean-up, no flush) at the n-th hit of the named point in this process:
/// <list type="bullet">
/// <item><c>after-commit</c>: a run commit is durable, its outbox not yet sent.</item>
/// <item><c>after-dispatch</c>: work messages were sent, the outbox not yet marked delivered.</item>
/// <item><c>mid-task</c>: a built-in step is about to run (the work message is leased, nothing reported).</item>
/// <item><c>before-complete</c>: a task's result was sent to the control queue, its work message not yet completed.</item>
/// </list>
/// </summary>
public static class FaultInjection
{
    /// <summary>Committed, outbox not sent.</summary>
    public const string AfterCommit = "after-commit";

    /// <summary>Work message sent, outbox not marked delivered.</summary>
    public const string AfterDispatch = "after-dispatch";

    /// <summary>Inside a built-in step's execution.</summary>
    public const string MidTask = "mid-task";

    /// <summary>Result sent, work message not completed.</summary>
    public const string BeforeComplete = "before-complete";

    /// <summary>The environment variable read once at start-up.</summary>
    public const string EnvironmentVariable = "TRAINYARD_FAULT";

    private static readonly (string Point, int N)? Configured = Parse(Environment.GetEnvironmentVariable(EnvironmentVariable));
    private static int _hits;

    /// <summary>Counts a hit of <paramref name="point"/>; kills the process at the configured hit.</summary>
    public static void Hit(string point)
    {
        if (Configured is not { } c || !string.Equals(c.Point, point, StringComparison.Ordinal))
        {
            return;
        }

        if (Interlocked.Increment(ref _hits) == c.N)
        {
            Console.Error.WriteLine($"trainyard: fault injection: killing process at {point} hit {c.N}");
            Console.Error.Flush();
            Process.GetCurrentProcess().Kill();
            Thread.Sleep(Timeout.Infinite);
        }
    }

    private static (string, int)? Parse(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var colon = value.LastIndexOf(':');
        var point = colon < 0 ? value : value[..colon];
        var n = 1;
        if (colon >= 0 && (!int.TryParse(value[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out n) || n < 1))
        {
            throw new InvalidOperationException($"{EnvironmentVariable}='{value}' is not '<point>:<n>' with n >= 1; e.g. after-commit:3.");
        }

        string[] known = [AfterCommit, AfterDispatch, MidTask, BeforeComplete];
        if (!known.Contains(point, StringComparer.Ordinal))
        {
            throw new InvalidOperationException($"{EnvironmentVariable}='{value}': unknown point '{point}'; use one of {string.Join(", ", known)}.");
        }

        return (point, n);
    }
}
