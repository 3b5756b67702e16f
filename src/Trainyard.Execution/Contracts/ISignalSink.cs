namespace Trainyard.Execution.Contracts;

/// <summary>Where drift signals go: a local queue on a laptop, Service Bus topic `drift-signals` in Azure.</summary>
public interface ISignalSink
{
    /// <summary>Sends one signal; <see cref="DriftSignal.SignalId"/> is the de-duplication id (Service Bus MessageId).</summary>
    Task SendAsync(DriftSignal signal, CancellationToken cancellationToken);
}

/// <summary>A drift signal (the payload of a `drift-signals` message, serialized camelCase).</summary>
public sealed record DriftSignal
{
    /// <summary>Deterministic id (e.g. hash of producing run, task and feature).</summary>
    public required string SignalId { get; init; }

    /// <summary>Model whose input drifted.</summary>
    public required string Model { get; init; }

    /// <summary>Feature (column) name.</summary>
    public required string Feature { get; init; }

    /// <summary>Metric name: psi or ks.</summary>
    public required string Metric { get; init; }

    /// <summary>Measured value.</summary>
    public required double Value { get; init; }

    /// <summary>Threshold it was compared with.</summary>
    public required double Threshold { get; init; }

    /// <summary>Window the current data covers (free text, e.g. "2026-11-22/P1D").</summary>
    public required string Window { get; init; }

    /// <summary>Producer (run/task).</summary>
    public required string Source { get; init; }
}
