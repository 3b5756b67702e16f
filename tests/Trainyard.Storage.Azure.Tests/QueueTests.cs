using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Azure.Storage.Queues;
using Trainyard.Runtime.Contracts;
using Trainyard.Testing;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Azure.Tests;

[NeedsAzurite]
[Collection(AzuriteCollection.Name)]
public sealed class QueueTests(AzuriteFixture azurite)
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    private static CancellationToken Timeout => new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token;

    [AzuriteFact]
    public async Task SendReceiveComplete_RoundTripsIdBodyAndDequeueCount()
    {
        await using var hub = TestHub.Create(azurite);
        var queue = hub.Backend.Work;
        await queue.SendAsync([new OutgoingMessage("m1", "{\"a\":1}"), new OutgoingMessage("m2", "not json at all")], Timeout);

        var got = (await queue.ReceiveAsync(32, Lease, Timeout)).OrderBy(m => m.Id, StringComparer.Ordinal).ToList();

        Assert.Equal(["m1", "m2"], got.Select(m => m.Id));
        Assert.Equal(["{\"a\":1}", "not json at all"], got.Select(m => m.Body));
        Assert.All(got, m => Assert.Equal(1, m.DequeueCount));
        Assert.Equal(2, await queue.CountAsync(Timeout));
        foreach (var m in got)
        {
            await queue.CompleteAsync(m, Timeout);
        }

        Assert.Equal(0, await queue.CountAsync(Timeout));
        await Assert.ThrowsAsync<LeaseLostException>(() => queue.CompleteAsync(got[0], Timeout));
    }

    [AzuriteFact]
    public async Task MessageText_IsBase64OfUtf8JsonEnvelope_AsTheFunctionsHostExpects()
    {
        await using var hub = TestHub.Create(azurite);
        await hub.Backend.Control.SendAsync([new OutgoingMessage("evt-1", "{\"runId\":\"r\",\"event\":{\"type\":\"TimerFired\"}}")], Timeout);

        var raw = new QueueClient(azurite.ConnectionString, hub.Backend.Names.ControlQueue);
        var peeked = (await raw.PeekMessageAsync(Timeout)).Value;
        using var json = JsonDocument.Parse(Convert.FromBase64String(peeked.MessageText));

        Assert.Equal("evt-1", json.RootElement.GetProperty("id").GetString());
        Assert.Equal("r", json.RootElement.GetProperty("body").GetProperty("runId").GetString());
    }

    [AzuriteFact]
    public async Task Receive_MessagesWrittenByOthers_ArriveWithTheirTextAndQueueId()
    {
        await using var hub = TestHub.Create(azurite);
        await hub.Backend.EnsureCreatedAsync(Timeout);
        var raw = new QueueClient(azurite.ConnectionString, hub.Backend.Names.WorkQueue);
        await raw.SendMessageAsync("%%% not base64 %%%", Timeout);
        var plain = await raw.SendMessageAsync(Convert.ToBase64String(Encoding.UTF8.GetBytes("{\"work\":{}}")), Timeout);

        var got = await hub.Backend.Work.ReceiveAsync(32, Lease, Timeout);

        Assert.Contains(got, m => m.Body == "%%% not base64 %%%" && m.Id.Length > 0);
        Assert.Contains(got, m => m.Body == "{\"work\":{}}" && m.Id == plain.Value.MessageId);
    }

    [AzuriteFact]
    public async Task Lease_ExpiresAndTheMessageIsDeliveredAgain()
    {
        await using var hub = TestHub.Create(azurite);
        var queue = hub.Backend.Work;
        await queue.SendAsync([new OutgoingMessage("m", "{}")], Timeout);
        var first = Assert.Single(await queue.ReceiveAsync(1, TimeSpan.FromSeconds(1), Timeout));
        Assert.Empty(await queue.ReceiveAsync(1, Lease, Timeout));

        var again = await ReceiveWithin(queue, TimeSpan.FromSeconds(10));

        Assert.Equal("m", again.Id);
        Assert.Equal(2, again.DequeueCount);
        await Assert.ThrowsAsync<LeaseLostException>(() => queue.CompleteAsync(first, Timeout));
        await queue.CompleteAsync(again, Timeout);
    }

    [AzuriteFact]
    public async Task Renew_KeepsALongTaskOwned_AndReturnsANewReceipt()
    {
        await using var hub = TestHub.Create(azurite);
        var queue = hub.Backend.Work;
        await queue.SendAsync([new OutgoingMessage("m", "{}")], Timeout);
        var held = Assert.Single(await queue.ReceiveAsync(1, TimeSpan.FromSeconds(2), Timeout));
        var original = held;

        for (var i = 0; i < 3; i++)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), Timeout);
            held = await queue.RenewAsync(held, TimeSpan.FromSeconds(2), Timeout);
            Assert.Empty(await queue.ReceiveAsync(1, Lease, Timeout));
        }

        Assert.NotEqual(original.Receipt, held.Receipt);
        await Assert.ThrowsAsync<LeaseLostException>(() => queue.RenewAsync(original, Lease, Timeout));
        await queue.CompleteAsync(held, Timeout);
        Assert.Equal(0, await queue.CountAsync(Timeout));
    }

    [AzuriteFact]
    public async Task Send_WithDelay_ArrivesNoEarlierThanAsked()
    {
        await using var hub = TestHub.Create(azurite);
        var queue = hub.Backend.Control;
        var clock = Stopwatch.StartNew();
        await queue.SendAsync([new OutgoingMessage("later", "{}", TimeSpan.FromSeconds(3))], Timeout);
        Assert.Empty(await queue.ReceiveAsync(1, Lease, Timeout));

        var got = await ReceiveWithin(queue, TimeSpan.FromSeconds(15));

        Assert.Equal("later", got.Id);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2.9), $"arrived after {clock.Elapsed}");
    }

    [AzuriteFact]
    public async Task Abandon_MakesTheMessageVisibleAfterTheDelay()
    {
        await using var hub = TestHub.Create(azurite);
        var queue = hub.Backend.Work;
        await queue.SendAsync([new OutgoingMessage("m", "{}")], Timeout);
        var got = Assert.Single(await queue.ReceiveAsync(1, Lease, Timeout));

        await queue.AbandonAsync(got, TimeSpan.FromSeconds(2), Timeout);
        Assert.Empty(await queue.ReceiveAsync(1, Lease, Timeout));
        var again = await ReceiveWithin(queue, TimeSpan.FromSeconds(10));

        Assert.Equal(2, again.DequeueCount);
        await Assert.ThrowsAsync<LeaseLostException>(() => queue.AbandonAsync(got, TimeSpan.Zero, Timeout));
    }

    [AzuriteFact]
    public async Task SubSecondDelays_AreRoundedUp_NotTruncatedToVisibleAtOnce()
    {
        // Visibility timeouts are whole seconds on the wire and the SDK truncates: a 600 ms abandon (a busy duplicate's
        // wait, a first error backoff) used to come straight back, so a busy copy reached the poison threshold in ~1 s.
        await using var hub = TestHub.Create(azurite);
        var queue = hub.Backend.Work;
        await queue.SendAsync([new OutgoingMessage("m", "{}"), new OutgoingMessage("later", "{}", TimeSpan.FromMilliseconds(300))], Timeout);
        var got = Assert.Single(await queue.ReceiveAsync(32, Lease, Timeout));
        Assert.Equal("m", got.Id);

        await queue.AbandonAsync(got, TimeSpan.FromMilliseconds(600), Timeout);
        Assert.Empty(await queue.ReceiveAsync(32, Lease, Timeout));

        // Both still arrive (within a second or two), the abandoned one for the second time.
        var arrived = new Dictionary<string, int>(StringComparer.Ordinal);
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (arrived.Count < 2)
        {
            foreach (var m in await queue.ReceiveAsync(32, Lease, limit.Token))
            {
                arrived[m.Id] = m.DequeueCount;
            }

            await Task.Delay(100, limit.Token);
        }

        Assert.Equal(2, arrived["m"]);
        Assert.Equal(1, arrived["later"]);
    }

    [AzuriteFact]
    public async Task DelayLongerThanSevenDays_IsChained_AndHiddenAgainWhenDeliveredEarly()
    {
        await using var hub = TestHub.Create(azurite);
        await hub.Backend.EnsureCreatedAsync(Timeout);
        var raw = new QueueClient(azurite.ConnectionString, hub.Backend.Names.ControlQueue);

        // What a 30-day delay looks like after its first 7-day hop has expired: visible, but not yet due.
        await raw.SendMessageAsync(QueueEnvelope.Encode("far", "{}", DateTimeOffset.UtcNow.AddDays(23)), Timeout);
        Assert.Empty(await hub.Backend.Control.ReceiveAsync(32, Lease, Timeout));
        Assert.Equal(1, await hub.Backend.Control.CountAsync(Timeout));
        Assert.Null((await raw.PeekMessageAsync(Timeout)).Value);

        // And sending one: hidden for the longest visibility Azure allows, due time carried in the envelope.
        await hub.Backend.Work.SendAsync([new OutgoingMessage("month", "{}", TimeSpan.FromDays(30))], Timeout);
        Assert.Empty(await hub.Backend.Work.ReceiveAsync(32, Lease, Timeout));
        Assert.Equal(1, await hub.Backend.Work.CountAsync(Timeout));

        // Due messages carrying a past due time arrive at once.
        await raw.SendMessageAsync(QueueEnvelope.Encode("due", "{}", DateTimeOffset.UtcNow.AddSeconds(-1)), Timeout);
        Assert.Equal("due", Assert.Single(await hub.Backend.Control.ReceiveAsync(32, Lease, Timeout)).Id);
    }

    private static async Task<LeasedMessage> ReceiveWithin(IMessageQueue queue, TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        while (true)
        {
            cts.Token.ThrowIfCancellationRequested();
            var got = await queue.ReceiveAsync(1, Lease, cts.Token);
            if (got.Count > 0)
            {
                return got[0];
            }

            await Task.Delay(200, cts.Token);
        }
    }
}
