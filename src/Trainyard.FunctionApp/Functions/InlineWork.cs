using Trainyard.Runtime;
using Trainyard.Execution;

namespace Trainyard.FunctionApp.Functions;

/// <summary>
/// The app's share of inline execution (<see cref="EngineFactory.InlineSteps"/>): the minute timer sweeps for outbox
/// items a dead instance left pending (<see cref="RunEngine.RecoverStalledAsync"/>), and stopping waits while the
/// engine hands its inline attempts to the work queue.
/// </summary>
internal sealed partial class InlineWork(RunEngine engine, ILogger<InlineWork> logger) : IHostedService
{
    private readonly SemaphoreSlim _sweeping = new(1, 1);
    private IReadOnlySet<string>? _pending;

    /// <summary>One sweep; items pending at the previous sweep of this instance and still not running are delivered. Returns how many.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        if (!await _sweeping.WaitAsync(0, cancellationToken))
        {
            return 0;
        }

        try
        {
            // The first sweep of an instance only notes what is pending: an item must stay pending across two sweeps.
            var sweep = await engine.RecoverStalledAsync(_pending ?? new HashSet<string>(StringComparer.Ordinal), cancellationToken);
            _pending = sweep.Pending;
            return sweep.Delivered;
        }
        finally
        {
            _sweeping.Release();
        }
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (!await engine.StopInlineAsync(TimeSpan.FromSeconds(10)))
        {
            LogDrainTimedOut(logger);
        }
    }

    [LoggerMessage(EventId = 6301, Level = LogLevel.Warning, Message = "Inline attempts were still handing over after 10 s at shutdown; the minute sweep of another instance delivers what is left")]
    private static partial void LogDrainTimedOut(ILogger logger);
}
