using System.Text.Json;
using Trainyard.Messaging.ServiceBus;
using Trainyard.Runtime.Contracts;
using Trainyard.Testing.AzureDoubles;
using Trainyard.Execution.Contracts;

namespace Trainyard.Compute.Batch.Tests;

public sealed class ServiceBusSignalSinkTests
{
    private static readonly DriftSignal Signal = new()
    {
        SignalId = "sig-7f3a",
        Model = "churn",
        Feature = "tenure",
        Metric = "psi",
        Value = 0.31,
        Threshold = 0.2,
        Window = "2026-11-22/P1D",
        Source = "run-1/drift",
    };

    private static ServiceBusSignalSink Sink(ServiceBusSendDouble bus, FixedTokenCredential credential, string topic = "drift-signals")
    {
        var options = new ServiceBusSenderOptions { Transport = bus.Certificate.CreateTransport() };
        options.Retry.Delay = TimeSpan.FromMilliseconds(20);
        return new ServiceBusSignalSink(bus.Endpoint.ToString(), topic, credential, options);
    }

    [Fact]
    public async Task Send_PostsJsonWithBrokerPropertiesAndBearerToken()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var bus = await ServiceBusSendDouble.StartAsync(["drift-signals"], cts.Token);
        var credential = new FixedTokenCredential();

        await Sink(bus, credential).SendAsync(Signal, cts.Token);

        var message = Assert.Single(bus.Messages);
        Assert.Equal("POST", message.Method);
        Assert.Equal("/drift-signals/messages", message.Path);
        Assert.Equal("Bearer test-token", message.Authorization);
        Assert.Equal("application/json", message.ContentType);
        using var broker = JsonDocument.Parse(message.BrokerProperties);
        Assert.Equal("sig-7f3a", broker.RootElement.GetProperty("MessageId").GetString());
        Assert.Equal("application/json", broker.RootElement.GetProperty("ContentType").GetString());
        using var body = JsonDocument.Parse(message.Body);
        Assert.Equal("tenure", body.RootElement.GetProperty("feature").GetString());
        Assert.Equal(0.31, body.RootElement.GetProperty("value").GetDouble());
        Assert.Equal(ServiceBusSignalSink.Scope, Assert.Single(credential.Scopes.Distinct()));
    }

    [Fact]
    public async Task Send_SameSignalTwice_UsesTheSameMessageId()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var bus = await ServiceBusSendDouble.StartAsync(["drift-signals"], cts.Token);
        var sink = Sink(bus, new FixedTokenCredential());

        await sink.SendAsync(Signal, cts.Token);
        await sink.SendAsync(Signal, cts.Token);

        Assert.Equal(2, bus.Messages.Count);
        Assert.Single(bus.Messages.Select(m => JsonDocument.Parse(m.BrokerProperties).RootElement.GetProperty("MessageId").GetString()).Distinct());
    }

    [Theory]
    [InlineData(503)]
    [InlineData(429)]
    [InlineData(500)]
    public async Task Send_TransientAnswers_AreRetried(int status)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var bus = await ServiceBusSendDouble.StartAsync(["drift-signals"], cts.Token);
        bus.FailNext(2, status);

        await Sink(bus, new FixedTokenCredential()).SendAsync(Signal, cts.Token);

        Assert.Equal(3, bus.RequestCount);
        Assert.Single(bus.Messages);
    }

    [Fact]
    public async Task Send_UnknownTopic_ThrowsWithWhatToCheck()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var bus = await ServiceBusSendDouble.StartAsync(["drift-signals"], cts.Token);

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => Sink(bus, new FixedTokenCredential(), "nope").SendAsync(Signal, cts.Token));

        Assert.Contains("404", e.Message, StringComparison.Ordinal);
        Assert.Contains("topic", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, bus.RequestCount);
    }

    [Fact]
    public void MessagesUri_FromNamespaceName()
    {
        var sink = new ServiceBusSignalSink("sb-ty.servicebus.windows.net", "drift-signals", new FixedTokenCredential());
        Assert.Equal("https://sb-ty.servicebus.windows.net/drift-signals/messages", sink.MessagesUri.ToString());
    }
}
