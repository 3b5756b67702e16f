using System.Globalization;
using System.Text;
using Parquet;
using Parquet.Schema;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml;

/// <summary>A forward-only table: a header and one record at a time, whatever the file format.</summary>
internal interface ITableReader : IAsyncDisposable
{
    /// <summary>The artifact path read (for messages).</summary>
    string Source { get; }

    /// <summary>Column names in file order.</summary>
    IReadOnlyList<string> Header { get; }

    /// <summary>Fields of the current record as text (invariant culture); null is a missing value.</summary>
    IReadOnlyList<string?> Fields { get; }

    /// <summary>Position of the current record, counted in <see cref="PositionUnit"/>s (1-based).</summary>
    long Line { get; }

    /// <summary>What <see cref="Line"/> counts: "line" for text files, "row" for columnar ones.</summary>
    string PositionUnit { get; }

    /// <summary>The current record as one string (for duplicate-row hashing).</summary>
    string RawRecord { get; }

    /// <summary>Reads the next record; false at the end.</summary>
    ValueTask<bool> ReadAsync(CancellationToken cancellationToken);

    /// <summary>The index of a column, or -1.</summary>
    int IndexOf(string column);
}

/// <summary>Chooses the reader for a dataset: `with.format` when given, else the file extension.</summary>
internal static class TableFormats
{
    public const string Csv = "csv";
    public const string Parquet = "parquet";

    /// <summary>The format of <paramref name="path"/>: <paramref name="declared"/> (validated) or the extension's.</summary>
    public static string Of(string path, string? declared, string step)
    {
        if (declared is not null)
        {
            return declared.ToLowerInvariant() switch
            {
                Csv => Csv,
                Parquet => Parquet,
                _ => throw new StepFailedException($"{step}: with.format '{declared}' is not supported; use csv or parquet (or leave it out to go by the file extension)."),
            };
        }

        return path.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".pq", StringComparison.OrdinalIgnoreCase) ? Parquet : Csv;
    }
}

/// <summary>
/// Reads a Parquet file one row group at a time (memory bounded by the largest row group, never the whole file);
/// values become invariant-culture text so the same expectations apply as to CSV. Flat schemas only.
/// </summary>
internal sealed class ParquetTableReader : ITableReader
{
    private readonly Stream _stream;
    private readonly ParquetReader _reader;
    private readonly DataField[] _fields;
    private readonly string?[][] _columns;
    private readonly string?[] _current;
    private readonly StringBuilder _raw = new();
    private int _group = -1;
    private long _groupRows;
    private long _rowInGroup;

    private ParquetTableReader(Stream stream, ParquetReader reader, DataField[] fields, string source)
    {
        _stream = stream;
        _reader = reader;
        _fields = fields;
        Source = source;
        Header = [.. fields.Select(f => f.Name)];
        _columns = new string?[fields.Length][];
        _current = new string?[fields.Length];
    }

    public string Source { get; }

    public IReadOnlyList<string> Header { get; }

    public IReadOnlyList<string?> Fields => _current;

    public long Line { get; private set; }

    public string PositionUnit => "row";

    public string RawRecord { get; private set; } = "";

    /// <summary>
    /// Opens <paramref name="stream"/> (taking ownership). Parquet keeps its schema in a footer, so a stream that
    /// cannot seek is first copied to <paramref name="scratchPath"/>.
    /// </summary>
    public static async Task<ParquetTableReader> OpenAsync(Stream stream, string source, string scratchPath, CancellationToken cancellationToken)
    {
        if (!stream.CanSeek)
        {
            var copy = new FileStream(scratchPath, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
            await using (stream)
            {
                await stream.CopyToAsync(copy, cancellationToken);
            }

            copy.Position = 0;
            stream = copy;
        }

        try
        {
            var reader = await ParquetReader.CreateAsync(stream, null, leaveStreamOpen: true, cancellationToken);
            var nested = reader.Schema.Fields.FirstOrDefault(f => f is not DataField) ?? reader.Schema.GetDataFields().FirstOrDefault(f => f.IsArray);
            if (nested is not null)
            {
                await reader.DisposeAsync();
                await stream.DisposeAsync();
                throw new StepFailedException($"{source}: column '{nested.Name}' is nested or repeated ({nested.SchemaType}); validate-data reads flat tables. Flatten it upstream (one value per row and column).");
            }

            return new ParquetTableReader(stream, reader, reader.Schema.GetDataFields(), source);
        }
        catch (Exception e) when (e is ParquetException or IOException or InvalidDataException or NotSupportedException or ArgumentException)
        {
            await stream.DisposeAsync();
            throw new StepFailedException($"{source} is not a readable Parquet file ({e.Message}). Check the file, or set with.format: csv if it is CSV text.");
        }
    }

    public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        while (_rowInGroup >= _groupRows)
        {
            if (_group + 1 >= _reader.RowGroupCount)
            {
                return false;
            }

            await LoadGroupAsync(++_group, cancellationToken);
        }

        _raw.Clear();
        for (var c = 0; c < _columns.Length; c++)
        {
            var v = _columns[c][_rowInGroup];
            _current[c] = v;
            // Unit separator between fields and a distinct marker for null keep ("a", null) and (null, "a") apart.
            _raw.Append(v ?? "\u0000").Append('\u001f');
        }

        RawRecord = _raw.ToString();
        _rowInGroup++;
        Line++;
        return true;
    }

    private async Task LoadGroupAsync(int group, CancellationToken cancellationToken)
    {
        using var rg = _reader.OpenRowGroupReader(group);
        var rows = checked((int)rg.RowCount);
        for (var c = 0; c < _fields.Length; c++)
        {
            _columns[c] = await ReadColumnAsync(rg, _fields[c], rows, cancellationToken);
        }

        _groupRows = rows;
        _rowInGroup = 0;
    }

    private static async Task<string?[]> ReadColumnAsync(ParquetRowGroupReader rg, DataField field, int rows, CancellationToken ct)
    {
        var t = field.ClrType;
        if (t == typeof(string) || t == typeof(ReadOnlyMemory<char>))
        {
            var s = new string?[rows];
            await rg.ReadAsync(field, s.AsMemory(), null, ct);
            return s;
        }

        if (t == typeof(byte[]))
        {
            var b = new byte[]?[rows];
            await rg.ReadAsync(field, b.AsMemory(), null, ct);
            return [.. b.Select(x => x is null ? null : Convert.ToBase64String(x))];
        }

        return t switch
        {
            _ when t == typeof(bool) => await Typed<bool>(rg, field, rows, v => v ? "true" : "false", ct),
            _ when t == typeof(sbyte) => await Typed<sbyte>(rg, field, rows, v => v.ToString(CultureInfo.InvariantCulture), ct),
            _ when t == typeof(byte) => await Typed<byte>(rg, field, rows, v => v.ToString(CultureInfo.InvariantCulture), ct),
            _ when t == typeof(short) => await Typed<short>(rg, field, rows, v => v.ToString(CultureInfo.InvariantCulture), ct),
            _ when t == typeof(ushort) => await Typed<ushort>(rg, field, rows, v => v.ToString(CultureInfo.InvariantCulture), ct),
            _ when t == typeof(int) => await Typed<int>(rg, field, rows, v => v.ToString(CultureInfo.InvariantCulture), ct),
            _ when t == typeof(uint) => await Typed<uint>(rg, field, rows, v => v.ToString(CultureInfo.InvariantCulture), ct),
            _ when t == typeof(long) => await Typed<long>(rg, field, rows, v => v.ToString(CultureInfo.InvariantCulture), ct),
            _ when t == typeof(ulong) => await Typed<ulong>(rg, field, rows, v => v.ToString(CultureInfo.InvariantCulture), ct),
            _ when t == typeof(float) => await Typed<float>(rg, field, rows, v => v.ToString("R", CultureInfo.InvariantCulture), ct),
            _ when t == typeof(double) => await Typed<double>(rg, field, rows, v => v.ToString("R", CultureInfo.InvariantCulture), ct),
            _ when t == typeof(decimal) => await Typed<decimal>(rg, field, rows, v => v.ToString(CultureInfo.InvariantCulture), ct),
            _ when t == typeof(DateTime) => await Typed<DateTime>(rg, field, rows, v => v.ToString("o", CultureInfo.InvariantCulture), ct),
            _ when t == typeof(DateTimeOffset) => await Typed<DateTimeOffset>(rg, field, rows, v => v.ToString("o", CultureInfo.InvariantCulture), ct),
            _ when t == typeof(DateOnly) => await Typed<DateOnly>(rg, field, rows, v => v.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), ct),
            _ when t == typeof(TimeOnly) => await Typed<TimeOnly>(rg, field, rows, v => v.ToString("HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture), ct),
            _ when t == typeof(TimeSpan) => await Typed<TimeSpan>(rg, field, rows, v => v.ToString("c", CultureInfo.InvariantCulture), ct),
            _ when t == typeof(Guid) => await Typed<Guid>(rg, field, rows, v => v.ToString("D"), ct),
            _ => throw new StepFailedException($"column '{field.Name}' has Parquet type {t.Name}, which validate-data cannot read; cast it to a number, string, boolean or timestamp upstream."),
        };
    }

    private static async Task<string?[]> Typed<T>(ParquetRowGroupReader rg, DataField field, int rows, Func<T, string> text, CancellationToken ct)
        where T : struct
    {
        var values = new T?[rows];
        await rg.ReadAsync<T>(field, values.AsMemory(), null, ct);
        var s = new string?[rows];
        for (var i = 0; i < rows; i++)
        {
            s[i] = values[i] is { } v ? text(v) : null;
        }

        return s;
    }

    public int IndexOf(string column) => Array.FindIndex(_fields, f => string.Equals(f.Name, column, StringComparison.Ordinal));

    public async ValueTask DisposeAsync()
    {
        await _reader.DisposeAsync();
        await _stream.DisposeAsync();
    }
}
