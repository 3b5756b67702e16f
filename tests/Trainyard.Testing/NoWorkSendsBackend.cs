using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Testing;

/// <summary>A backend whose work-queue sends fail: what a host killed right after a commit leaves behind.</summary>
public sealed class NoWorkSendsBackend(IBackend inner) : IBackend
{
    /// <inheritdoc />
    public string Name => inner.Name;

    public IRunStore Store => inner.Store;

    public IMessageQueue Control => inner.Control;

    public IMessageQueue Work { get; } = new NoSendQueue(inner.Work);

    public IArtifactStore Artifacts => inner.Artifacts;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class NoSendQueue(IMessageQueue q) : IMessageQueue
    {
        public string Name => q.Name;

        public Task SendAsync(IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken) => throw new IOException("simulated crash before delivery");

        public Task<IReadOnlyList<LeasedMessage>> ReceiveAsync(int max, TimeSpan lease, CancellationToken cancellationToken) => q.ReceiveAsync(max, lease, cancellationToken);

        public Task<LeasedMessage> RenewAsync(LeasedMessage message, TimeSpan lease, CancellationToken cancellationToken) => q.RenewAsync(message, lease, cancellationToken);

        public Task CompleteAsync(LeasedMessage message, CancellationToken cancellationToken) => q.CompleteAsync(message, cancellationToken);

        public Task AbandonAsync(LeasedMessage message, TimeSpan delay, CancellationToken cancellationToken) => q.AbandonAsync(message, delay, cancellationToken);

        public Task<int> CountAsync(CancellationToken cancellationToken) => q.CountAsync(cancellationToken);
    }
}
