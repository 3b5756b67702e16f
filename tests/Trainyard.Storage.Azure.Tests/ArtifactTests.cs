using System.Security.Cryptography;
using Azure.Storage.Blobs;
using Trainyard.Testing;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Azure.Tests;

[NeedsAzurite]
[Collection(AzuriteCollection.Name)]
public sealed class ArtifactTests(AzuriteFixture azurite)
{
    private static CancellationToken Timeout => new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token;

    [AzuriteTheory]
    [InlineData(0)]
    [InlineData(1000)]
    [InlineData((9 * 1024 * 1024) + 17)]
    public async Task Put_RoundTripsContentWithItsSha256(int size)
    {
        await using var hub = TestHub.Create(azurite);
        var bytes = new byte[size];
        new Random(size).NextBytes(bytes);
        var expected = Convert.ToHexStringLower(SHA256.HashData(bytes));

        // A non-seekable source: the hash must be computed while streaming up.
        var info = await hub.Stores.Artifacts.PutAsync("runs/r/train/d1/model.bin", new NonSeekable(bytes), Timeout);

        Assert.Equal(expected, info.Sha256);
        Assert.Equal(size, info.Size);
        var stored = await hub.Stores.Artifacts.GetInfoAsync("runs/r/train/d1/model.bin", Timeout);
        Assert.Equal(info with { LastModified = stored!.LastModified }, stored);
        await using var read = await hub.Stores.Artifacts.OpenReadAsync("runs/r/train/d1/model.bin", Timeout);
        using var copy = new MemoryStream();
        await read!.CopyToAsync(copy, Timeout);
        Assert.Equal(expected, Convert.ToHexStringLower(SHA256.HashData(copy.ToArray())));
    }

    [AzuriteFact]
    public async Task PutIfMatch_GuardsRegistryAliases()
    {
        await using var hub = TestHub.Create(azurite);
        var store = hub.Stores.Artifacts;
        var first = await store.PutIfMatchAsync("models/churn/aliases/prod", Text("v1"), null, Timeout);
        await Assert.ThrowsAsync<ConcurrencyException>(() => store.PutIfMatchAsync("models/churn/aliases/prod", Text("v0"), null, Timeout));
        var second = await store.PutIfMatchAsync("models/churn/aliases/prod", Text("v2"), first.ETag, Timeout);
        await Assert.ThrowsAsync<ConcurrencyException>(() => store.PutIfMatchAsync("models/churn/aliases/prod", Text("v3"), first.ETag, Timeout));

        Assert.Equal(second.ETag, (await store.GetInfoAsync("models/churn/aliases/prod", Timeout))!.ETag);
        await using var read = await store.OpenReadAsync("models/churn/aliases/prod", Timeout);
        Assert.Equal("v2", await new StreamReader(read!).ReadToEndAsync(Timeout));
    }

    [AzuriteFact]
    public async Task ListDeleteAndAbsent_BehaveAsTheContractSays()
    {
        await using var hub = TestHub.Create(azurite);
        var store = hub.Stores.Artifacts;
        foreach (var path in new[] { "runs/r1/b/x", "runs/r1/a/y", "runs/r2/a/z", "models/m/1" })
        {
            await store.PutAsync(path, Text(path), Timeout);
        }

        var listed = await store.ListAsync("runs/r1/", Timeout).ToListAsync(Timeout);
        Assert.Equal(["runs/r1/a/y", "runs/r1/b/x"], listed.Select(a => a.Path));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("runs/r1/a/y"u8.ToArray())), listed[0].Sha256);

        await store.DeleteAsync("runs/r1/a/y", Timeout);
        await store.DeleteAsync("runs/r1/a/y", Timeout);
        Assert.Null(await store.OpenReadAsync("runs/r1/a/y", Timeout));
        Assert.Null(await store.GetInfoAsync("runs/r1/a/y", Timeout));
        Assert.Equal(4 - 1, (await store.ListAsync("", Timeout).ToListAsync(Timeout)).Count);
        await Assert.ThrowsAsync<ArgumentException>(() => store.PutAsync("runs/../x", Text("x"), Timeout));
    }

    [AzuriteFact]
    public async Task GetInfo_OfABlobWrittenWithoutHash_ComputesAndRecordsIt()
    {
        await using var hub = TestHub.Create(azurite);
        await hub.Stores.EnsureCreatedAsync(Timeout);
        var raw = hub.Service.GetBlobContainerClient(hub.Stores.Names.Artifacts);
        await raw.UploadBlobAsync("runs/r/batch/out.txt", BinaryData.FromString("from batch"), Timeout);

        var info = await hub.Stores.Artifacts.GetInfoAsync("runs/r/batch/out.txt", Timeout);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("from batch"u8.ToArray())), info!.Sha256);
        Assert.Equal(info.Sha256, (await raw.GetBlobClient("runs/r/batch/out.txt").GetPropertiesAsync(cancellationToken: Timeout)).Value.Metadata["sha256"]);
    }

    private static MemoryStream Text(string s) => new(System.Text.Encoding.UTF8.GetBytes(s));

    private sealed class NonSeekable(byte[] data) : Stream
    {
        private readonly MemoryStream _inner = new(data);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 65536));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
