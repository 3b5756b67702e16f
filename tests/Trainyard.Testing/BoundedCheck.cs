using System.Diagnostics;

namespace Trainyard.Testing;

/// <summary>Runs a fuzz check on its own thread with bounded time, memory (allocated bytes) and stack; rethrows a crash with the input's context.</summary>
public static class BoundedCheck
{
    /// <summary>The check's result; throws when it crashed, ran past <paramref name="time"/> or allocated more than <paramref name="memory"/> bytes.</summary>
    public static bool Run(Func<bool> check, TimeSpan time, long memory)
    {
        ArgumentNullException.ThrowIfNull(check);
        bool result = false;
        Exception? error = null;
        long allocated = 0;
        var thread = new Thread(() =>
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                result = check();
            }
#pragma warning disable CA1031 // Carried to the test thread and rethrown there, so the failing input is reported.
            catch (Exception e)
#pragma warning restore CA1031
            {
                error = e;
            }

            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }, maxStackSize: 1024 * 1024) { IsBackground = true };
        var clock = Stopwatch.StartNew();
        thread.Start();
        if (!thread.Join(time))
        {
            throw new TimeoutException($"input not handled within {time.TotalSeconds} s");
        }

        if (error is not null)
        {
            throw new InvalidOperationException($"crashed after {clock.ElapsedMilliseconds} ms: {error.GetType().Name}: {error.Message}", error);
        }

        return allocated <= memory ? result : throw new InvalidOperationException($"allocated {allocated / (1024 * 1024)} MiB for one input (bound {memory / (1024 * 1024)} MiB)");
    }
}
