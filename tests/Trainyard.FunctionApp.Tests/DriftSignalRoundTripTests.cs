using System.Text.Json;
using Trainyard.Messaging.ServiceBus;
using Trainyard.Runtime.Contracts;
using Trainyard.Testing.AzureDoubles;
using Trainyard.Execution.Contracts;

namespace Trainyard.FunctionApp.Tests;

/// <summary>A drift signal sent by the Service Bus sink is what OnDriftSignal reads: the message starts the retraining run.</summary>
public sealed class DriftSignalRoundTripTests
{
    private const string RetrainPipeline = """
        name: retrain
        triggers:
          - type: drift
            id: drifted
            model: churn
            metric: psi
            threshold: 0.2
        steps:
          - id: hello
            uses: echo
            with:
              message: retrain
        """;

    [Fact]
    public async Task SignalSentThroughServiceBus_ReachesOnDriftSignal_AndStartsTheDriftTriggeredRun()
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var bus = await ServiceBusSendDouble.StartAsync([AzureServices.DriftTopic], limit.Token);
        var sink = new ServiceBusSignalSink(bus.Endpoint.ToString(), AzureServices.DriftTopic, new FixedTokenCredential(),
            new ServiceBusSenderOptions { Transport = bus.Certificate.CreateTransport() });
        var signal = new DriftSignal
        {
            SignalId = "drift-run-7-monitor-tenure",
            Model = "churn",
            Feature = "tenure_months",
            Metric = "psi",
            Value = 0.34,
            Threshold = 0.2,
            Window = "2026-11-22/P1D",
            Source = "run-7/monitor",
        };

        await sink.SendAsync(signal, limit.Token);

        // The host hands the handler the message body and its MessageId (from BrokerProperties) as a serviceBusTrigger invocation.
        var sent = Assert.Single(bus.Messages);
        var messageId = JsonDocument.Parse(sent.BrokerProperties).RootElement.GetProperty("MessageId").GetString()!;
        Assert.Equal(signal.SignalId, messageId);
        Assert.Equal(signal, Triggers.DriftSignalReader.Read(JsonDocument.Parse(sent.Body).RootElement, messageId));

        await using var app = await AppHarness.StartAsync();
        await app.PushAsync(RetrainPipeline);
        var (status, _) = await app.InvokeAsync("OnDriftSignal", Payloads.ServiceBus(sent.Body, messageId));
        Assert.Equal(200, status);
        Assert.Single(await app.RunsAsync("retrain"));
    }
}
