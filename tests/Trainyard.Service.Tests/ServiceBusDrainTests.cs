using System.Collections.Concurrent;
using Azure.Messaging.ServiceBus;
using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Messaging.ServiceBus;

namespace Trainyard.Service.Tests;

/// <summary>
/// The Service Bus drain through the SDK's own test support: messages from ServiceBusModelFactory, a receiver subclass
/// overriding the virtual settle methods (no Service Bus runs here), runs in the real Durable host.
/// </summary>
public sealed class ServiceBusDrainTests(DurableHost durable) : IClassFixture<DurableHost>
{
    /// <summary>What a sender sent, turned into what a receiver gets (body, MessageId, delivery count).</summary>
    private static ServiceBusReceivedMessage Received(ServiceBusMessage sent, int deliveryCount = 1) =>
        ServiceBusModelFactory.ServiceBusReceivedMessage(body: sent.Body, messageId: sent.MessageId, contentType: sent.ContentType, subject: sent.Subject, deliveryCount: deliveryCount);

    private static ServiceBusReceivedMessage Raw(string body, string messageId) =>
        ServiceBusModelFactory.ServiceBusReceivedMessage(body: BinaryData.FromString(body), messageId: messageId, deliveryCount: 1);

    [Fact]
    public async Task SignalSentWithTheSink_IsDrained_StartsTheRun_ThenIsCompleted()
    {
        var app = new ServiceHarness(durable);
        await app.PushAsync(TestSpecs.DriftPipeline);
        var sender = new RecordingSender();
        await new ServiceBusSignalSink(sender).SendAsync(TestSpecs.Signal(0.34, "drift-run-7-monitor-tenure"), CancellationToken.None);
        var sent = Assert.Single(sender.Sent);
        var receiver = new ScriptedReceiver([[Received(sent)]]);

        var report = await new ServiceBusDrain(receiver, NullLogger<ServiceBusDrain>.Instance).DrainAsync(app.Triggers, 10, TimeSpan.FromSeconds(1), 5, CancellationToken.None);

        Assert.Equal("drift-run-7-monitor-tenure", sent.MessageId);
        var run = Assert.Single(await app.RunsAsync("retrain"));
        Assert.Equal([run.RunId], report.Runs);
        Assert.Equal(("drift-run-7-monitor-tenure", "0.34"), (run.Trigger!.Detail["messageId"], run.Trigger.Detail["value"]));
        Assert.Equal([("complete", "drift-run-7-monitor-tenure")], receiver.Settled.Select(s => (s.Action, s.MessageId)));
        Assert.Equal((1, 1), (report.Received, report.Completed));
    }

    [Fact]
    public async Task SameMessageDeliveredTwice_StartsOneRun_AndBothAreCompleted()
    {
        var app = new ServiceHarness(durable);
        await app.PushAsync(TestSpecs.DriftPipeline);
        var sent = ServiceBusSignalSink.ToMessage(TestSpecs.Signal(0.34, "msg-42"));
        var receiver = new ScriptedReceiver([[Received(sent)], [Received(sent, deliveryCount: 2)]]);

        var report = await new ServiceBusDrain(receiver, NullLogger<ServiceBusDrain>.Instance).DrainAsync(app.Triggers, 10, TimeSpan.FromSeconds(1), 5, CancellationToken.None);

        var run = Assert.Single(await app.RunsAsync("retrain"));
        Assert.Equal([run.RunId, run.RunId], report.Runs);
        Assert.Equal(["complete", "complete"], receiver.Settled.Select(s => s.Action));
    }

    [Fact]
    public async Task MalformedMessage_IsDeadLetteredWithTheReason_StartsNothing_OthersGoOn()
    {
        var app = new ServiceHarness(durable);
        await app.PushAsync(TestSpecs.DriftPipeline);
        var good = ServiceBusSignalSink.ToMessage(TestSpecs.Signal(0.34, "good-1"));
        var receiver = new ScriptedReceiver([[Raw("""{"model":"churn","metric":"psi"}""", "bad-1"), Raw("not json", "bad-2"), Received(good)]]);

        var report = await new ServiceBusDrain(receiver, NullLogger<ServiceBusDrain>.Instance).DrainAsync(app.Triggers, 10, TimeSpan.FromSeconds(1), 5, CancellationToken.None);

        Assert.Equal(
            [("deadletter", "bad-1"), ("deadletter", "bad-2"), ("complete", "good-1")],
            receiver.Settled.Select(s => (s.Action, s.MessageId)));
        var deadLetter = receiver.Settled[0];
        Assert.Equal(ServiceBusDrain.MalformedReason, deadLetter.Reason);
        Assert.Contains("'value' is missing", deadLetter.Description, StringComparison.Ordinal);
        Assert.Contains("'feature' is missing", deadLetter.Description, StringComparison.Ordinal);
        Assert.Contains("not JSON", receiver.Settled[1].Description, StringComparison.Ordinal);
        Assert.Equal(2, report.DeadLettered.Count);
        var run = Assert.Single(await app.RunsAsync("retrain"));
        Assert.Equal("good-1", run.Trigger!.Detail["messageId"]);
    }

    [Fact]
    public async Task EngineUnreachable_MessageIsAbandoned_NotCompleted_NorDeadLettered()
    {
        // A real transient failure: the Durable host the client talks to has stopped.
        var stopped = new DurableHost();
        await stopped.InitializeAsync();
        var client = stopped.Client;
        await stopped.DisposeAsync();
        var app = new ServiceHarness(durable);
        await app.PushAsync(TestSpecs.DriftPipeline);
        var triggers = new TriggerService(app.Registry, app.Store, new DurableRunControl(client, NullLogger<DurableRunControl>.Instance), app.Options, app.Clock, NullLogger<TriggerService>.Instance);
        var receiver = new ScriptedReceiver([[Received(ServiceBusSignalSink.ToMessage(TestSpecs.Signal(0.34, "later-1")))]]);

        var report = await new ServiceBusDrain(receiver, NullLogger<ServiceBusDrain>.Instance).DrainAsync(triggers, 10, TimeSpan.FromSeconds(1), 5, CancellationToken.None);

        Assert.Equal([("abandon", "later-1")], receiver.Settled.Select(s => (s.Action, s.MessageId)));
        Assert.Equal((0, 1), (report.Completed, report.Abandoned.Count));
        Assert.Empty(await app.RunsAsync("retrain"));

        // Delivered again once the engine is back: the run starts and the message completes.
        var retry = new ScriptedReceiver([[Received(ServiceBusSignalSink.ToMessage(TestSpecs.Signal(0.34, "later-1")), deliveryCount: 2)]]);
        await new ServiceBusDrain(retry, NullLogger<ServiceBusDrain>.Instance).DrainAsync(app.Triggers, 10, TimeSpan.FromSeconds(1), 5, CancellationToken.None);
        Assert.Equal(["complete"], retry.Settled.Select(s => s.Action));
        Assert.Single(await app.RunsAsync("retrain"));
    }

    [Fact]
    public async Task EmptySubscription_ReceivesOnce_SettlesNothing()
    {
        var app = new ServiceHarness(durable);
        var receiver = new ScriptedReceiver([]);

        var report = await new ServiceBusDrain(receiver, NullLogger<ServiceBusDrain>.Instance).DrainAsync(app.Triggers, 10, TimeSpan.FromSeconds(1), 5, CancellationToken.None);

        Assert.Equal((1, 0), (receiver.Receives, report.Received));
        Assert.Empty(receiver.Settled);
    }

    /// <summary>A receiver that hands out scripted batches and records how each message was settled.</summary>
    private sealed class ScriptedReceiver(List<List<ServiceBusReceivedMessage>> batches) : ServiceBusReceiver
    {
        public List<(string Action, string MessageId, string? Reason, string? Description)> Settled { get; } = [];

        public int Receives { get; private set; }

        public override Task<IReadOnlyList<ServiceBusReceivedMessage>> ReceiveMessagesAsync(int maxMessages, TimeSpan? maxWaitTime = null, CancellationToken cancellationToken = default)
        {
            Receives++;
            IReadOnlyList<ServiceBusReceivedMessage> next = batches.Count == 0 ? [] : batches[0].Take(maxMessages).ToList();
            if (batches.Count > 0)
            {
                batches.RemoveAt(0);
            }

            return Task.FromResult(next);
        }

        public override Task CompleteMessageAsync(ServiceBusReceivedMessage message, CancellationToken cancellationToken = default)
        {
            Settled.Add(("complete", message.MessageId, null, null));
            return Task.CompletedTask;
        }

        public override Task DeadLetterMessageAsync(ServiceBusReceivedMessage message, string deadLetterReason, string? deadLetterErrorDescription = null, CancellationToken cancellationToken = default)
        {
            Settled.Add(("deadletter", message.MessageId, deadLetterReason, deadLetterErrorDescription));
            return Task.CompletedTask;
        }

        public override Task AbandonMessageAsync(ServiceBusReceivedMessage message, IDictionary<string, object>? propertiesToModify = null, CancellationToken cancellationToken = default)
        {
            Settled.Add(("abandon", message.MessageId, null, null));
            return Task.CompletedTask;
        }
    }

    /// <summary>A sender that keeps what it is given.</summary>
    private sealed class RecordingSender : ServiceBusSender
    {
        public ConcurrentQueue<ServiceBusMessage> Sent { get; } = new();

        public override Task SendMessageAsync(ServiceBusMessage message, CancellationToken cancellationToken = default)
        {
            Sent.Enqueue(message);
            return Task.CompletedTask;
        }
    }
}
