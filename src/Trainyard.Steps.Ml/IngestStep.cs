using Trainyard.Core.Engine;
using Trainyard.Core.Steps;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml;

/// <summary>
/// `ingest`: streams a dataset from a data source (a blob in the data container, a file under the local data root)
/// into the attempt's artifacts, pinned to the ETag a trigger saw. Never buffers the object; records sha256, size,
/// source URI and ETag in lineage; fails for good when the object vanished or changed, is empty, or is too large.
/// </summary>
public sealed class IngestStep : IBuiltinStep
{
    /// <summary>Default of `maxBytes`.</summary>
    public const long DefaultMaxBytes = 10L << 30;

    /// <inheritdoc />
    public BuiltinStepInfo Info => StandardSteps.Ingest;

    /// <inheritdoc />
    public async Task<TaskResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var inputs = StepInputs.Of(Info.Name, context);
        var io = new StepIo(context, inputs) { Token = cancellationToken };
        var source = inputs.RequiredString("source");
        // An empty etag (a manual run of a pipeline whose triggers pass one) reads the current version.
        var etag = inputs.Raw("etag") is { ValueKind: System.Text.Json.JsonValueKind.String } raw && raw.GetString() is "" ? null : inputs.OptionalString("etag");
        var max = inputs.OptionalNumber("maxBytes") is { } m ? (long)m : DefaultMaxBytes;
        if (max < 1)
        {
            throw inputs.Bad("maxBytes", "must be a positive number of bytes");
        }

        var name = inputs.OptionalString("name") ?? FileNameOf(source);
        if (!inputs.Has("name") && (name.Length == 0 || name is "." or ".."))
        {
            name = "dataset";
        }

        if (name.Length == 0 || name is "." or ".." || name.IndexOfAny(['/', '\\', '\0']) >= 0)
        {
            throw inputs.Bad("name", $"'{name}' is not a plain file name; give `name` (no folders, not . or ..)");
        }

        var sources = context.Services?.GetService(typeof(IDataSource)) as IDataSource
            ?? throw new StepFailedException($"{Info.Name}: this host has no data source configured; locally set TRAINYARD_DATA_ROOT (default ./data), in Azure the Function App's data container");
        DataObject data;
        try
        {
            data = await sources.OpenAsync(source, etag, cancellationToken).ConfigureAwait(false);
        }
        catch (DataSourceException e)
        {
            throw new StepFailedException($"{Info.Name}: input 'source': {e.Message}");
        }

        await using (data.ConfigureAwait(false))
        {
            if (data.Size == 0)
            {
                throw new StepFailedException($"{Info.Name}: {source} is empty (0 bytes); upload the data again");
            }

            if (data.Size > max)
            {
                throw new StepFailedException($"{Info.Name}: {source} is {data.Size} bytes, more than maxBytes ({max}); raise `maxBytes` or split the upload");
            }

            await using var bounded = new BoundedReadStream(data.Content, max, source);
            var artifact = await io.PutAsync("dataset", name, bounded).ConfigureAwait(false);
            io.RecordSource("source", data.Uri, artifact.Sha256, data.ETag);
            io.SetOutput("sha256", artifact.Sha256);
            io.SetOutput("size", artifact.Size);
            io.SetOutput("source", data.Uri);
            io.SetOutput("etag", data.ETag);
        }

        return await io.FinishAsync().ConfigureAwait(false);
    }

    private static string FileNameOf(string uri)
    {
        var path = uri.Split('?', '#')[0].TrimEnd('/');
        var slash = Math.Max(path.LastIndexOf('/'), path.LastIndexOf(':'));
        return Uri.UnescapeDataString(path[(slash + 1)..]);
    }

    /// <summary>Fails the read when an object grows past the limit while it is streamed (its size was read before).</summary>
    private sealed class BoundedReadStream(Stream inner, long max, string source) : Stream
    {
        private long _read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Count(int n)
        {
            _read += n;
            if (_read > max)
            {
                throw new StepFailedException($"ingest: {source} grew past maxBytes ({max}) while it was read; raise `maxBytes` or upload a finished file");
            }

            return n;
        }
    }
}
