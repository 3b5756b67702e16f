using System.Globalization;
using System.Text;

using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml;

/// <summary>
/// A streaming RFC 4180 CSV reader: one record in memory at a time (quoted fields, doubled quotes and line breaks
/// inside quotes supported). Line numbers are 1-based file lines, the header being line 1.
/// </summary>
internal sealed class CsvReader : ITableReader, IDisposable
{
    private readonly TextReader _reader;
    private readonly List<string> _fields = [];
    private readonly StringBuilder _field = new();
    private long _nextLine = 1;

    public CsvReader(Stream stream, string source)
    {
        _reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        Source = source;
        if (!Read())
        {
            throw new StepFailedException($"{source} is empty: a CSV file needs a header line with the column names.");
        }

        Header = [.. _fields.Select(f => f.Trim())];
        var dup = Header.GroupBy(h => h, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
        {
            throw new StepFailedException($"{source} line 1: column '{dup.Key}' appears twice in the header; rename one.");
        }
    }

    public string Source { get; }

    public IReadOnlyList<string> Header { get; }

    /// <summary>Fields of the current record (reused between calls).</summary>
    public IReadOnlyList<string> Fields => _fields;

    IReadOnlyList<string?> ITableReader.Fields => _fields;

    /// <inheritdoc />
    public string PositionUnit => "line";

    /// <summary>File line where the current record starts.</summary>
    public long Line { get; private set; }

    /// <summary>The current record's text as read (for hashing).</summary>
    public string RawRecord { get; private set; } = "";

    public int IndexOf(string column)
    {
        for (var i = 0; i < Header.Count; i++)
        {
            if (string.Equals(Header[i], column, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    /// <inheritdoc />
    public ValueTask<bool> ReadAsync(CancellationToken cancellationToken) => new(Read());

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Reads the next non-empty record; false at the end.</summary>
    public bool Read()
    {
        while (true)
        {
            var line = _reader.ReadLine();
            if (line is null)
            {
                return false;
            }

            Line = _nextLine++;
            if (line.Length == 0)
            {
                continue;
            }

            _fields.Clear();
            if (!line.Contains('"', StringComparison.Ordinal))
            {
                SplitPlain(line);
                RawRecord = line;
                return true;
            }

            RawRecord = ParseQuoted(line);
            return true;
        }
    }

    private void SplitPlain(string line)
    {
        var start = 0;
        while (true)
        {
            var comma = line.IndexOf(',', start);
            if (comma < 0)
            {
                _fields.Add(line[start..]);
                return;
            }

            _fields.Add(line[start..comma]);
            start = comma + 1;
        }
    }

    private string ParseQuoted(string first)
    {
        var raw = new StringBuilder(first);
        var line = first;
        var i = 0;
        var inQuotes = false;
        _field.Clear();
        while (true)
        {
            if (i >= line.Length)
            {
                if (!inQuotes)
                {
                    _fields.Add(_field.ToString());
                    return raw.ToString();
                }

                var next = _reader.ReadLine() ?? throw new StepFailedException(
                    $"{Source} line {Line}: a quoted field is never closed; close the quote or escape it as \"\".");
                _nextLine++;
                raw.Append('\n').Append(next);
                _field.Append('\n');
                line = next;
                i = 0;
                continue;
            }

            var c = line[i++];
            if (inQuotes)
            {
                if (c == '"')
                {
                    if (i < line.Length && line[i] == '"')
                    {
                        _field.Append('"');
                        i++;
                    }
                    else
                    {
                        inQuotes = false;
                    }
                }
                else
                {
                    _field.Append(c);
                }
            }
            else if (c == '"')
            {
                inQuotes = true;
            }
            else if (c == ',')
            {
                _fields.Add(_field.ToString());
                _field.Clear();
            }
            else
            {
                _field.Append(c);
            }
        }
    }

    public void Dispose() => _reader.Dispose();
}

/// <summary>Writes CSV with invariant-culture numbers, quoting only when needed.</summary>
internal sealed class CsvWriter(TextWriter writer) : IDisposable
{
    public void WriteRow(IEnumerable<string> fields)
    {
        var first = true;
        foreach (var f in fields)
        {
            if (!first)
            {
                writer.Write(',');
            }

            first = false;
            if (f.AsSpan().IndexOfAny(",\"\n\r") >= 0)
            {
                writer.Write('"');
                writer.Write(f.Replace("\"", "\"\"", StringComparison.Ordinal));
                writer.Write('"');
            }
            else
            {
                writer.Write(f);
            }
        }

        writer.Write('\n');
    }

    public static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    public void Dispose() => writer.Dispose();
}
