using Azure.Storage.Queues;
using Trainyard.Execution.Contracts;
using Trainyard.Service;
using Trainyard.Storage.Azure;
using Trainyard.Testing;

namespace Trainyard.Functions.Tests;

/// <summary>
/// What the drift step writes to the drift-signals Storage queue (QueueSignalSink, Base64) is what OnDriftSignal reads
/// (host.json messageEncoding base64, then DriftSignalReader): a round trip through a real queue on Azurite.
/// </summary>
public sealed class DriftQueueRoundTripTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    [AzuriteFact]
    public async Task SignalSentByTheQueueSink_IsReadBackByTheQueueTriggerReader_WithItsOwnId()
    {
        azurite.EnsureAvailable();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var queue = new QueueClient(azurite.ConnectionString, "drift-" + AzuriteFixture.NewTaskHub(), QueueSignalSink.ClientOptions());
        try
        {
            var signal = new DriftSignal
            {
                SignalId = "run-7-monitor-tenure",
                Model = "churn",
                Feature = "tenure_months",
                Metric = "psi",
                Value = 0.34,
                Threshold = 0.2,
                Window = "2026-11-22/P1D",
                Source = "run-7/monitor",
            };

            await new QueueSignalSink(queue).SendAsync(signal, limit.Token);
            var message = Assert.Single((await queue.ReceiveMessagesAsync(10, cancellationToken: limit.Token)).Value);

            // The host hands the trigger the decoded text; the body's signal id wins over the queue message id.
            Assert.Equal(signal, DriftSignalReader.ReadQueue(message.Body.ToString(), message.MessageId));
        }
        finally
        {
            await queue.DeleteIfExistsAsync(CancellationToken.None);
        }
    }
}
