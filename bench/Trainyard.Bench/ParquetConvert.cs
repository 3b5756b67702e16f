using System.Globalization;
using Parquet;
using Parquet.Schema;

namespace Trainyard.Bench;

/// <summary>Turns the generated (unquoted) CSV into a typed Parquet file, streaming one row group at a time.</summary>
internal static class ParquetConvert
{
    private enum Kind { Integer, Number, Boolean, Text }

    public static async Task FromCsvAsync(string csvPath, string parquetPath, int rowGroupRows)
    {
        using var reader = new StreamReader(csvPath);
        var header = (await reader.ReadLineAsync())!.Split(',');
        var buffer = new List<string[]>(rowGroupRows);
        await FillAsync(reader, buffer, rowGroupRows);
        // Column types from the first row group: integer, number, boolean, else text; empty fields are nulls.
        var kinds = header.Select((_, c) => Infer(buffer.Select(r => r[c]))).ToArray();
        var fields = header.Select((h, c) => (DataField)(kinds[c] switch
        {
            Kind.Integer => new DataField<long?>(h),
            Kind.Number => new DataField<double?>(h),
            Kind.Boolean => new DataField<bool?>(h),
            _ => new DataField<string>(h),
        })).ToArray();
        await using var output = File.Create(parquetPath);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), output);
        while (buffer.Count > 0)
        {
            using (var group = writer.CreateRowGroup())
            {
                for (var c = 0; c < fields.Length; c++)
                {
                    var column = buffer.Select(r => r[c].Length == 0 ? null : r[c]).ToArray();
                    switch (kinds[c])
                    {
                        case Kind.Integer:
                            await group.WriteAsync<long>(fields[c], column.Select(v => v is null ? (long?)null : long.Parse(v, CultureInfo.InvariantCulture)).ToArray().AsMemory());
                            break;
                        case Kind.Number:
                            await group.WriteAsync<double>(fields[c], column.Select(v => v is null ? (double?)null : double.Parse(v, CultureInfo.InvariantCulture)).ToArray().AsMemory());
                            break;
                        case Kind.Boolean:
                            await group.WriteAsync<bool>(fields[c], column.Select(v => v is null ? (bool?)null : bool.Parse(v)).ToArray().AsMemory());
                            break;
                        default:
                            await group.WriteAsync(fields[c], column);
                            break;
                    }
                }
            }

            buffer.Clear();
            await FillAsync(reader, buffer, rowGroupRows);
        }
    }

    private static async Task FillAsync(StreamReader reader, List<string[]> buffer, int max)
    {
        while (buffer.Count < max && await reader.ReadLineAsync() is { } line)
        {
            if (line.Length > 0)
            {
                buffer.Add(line.Split(','));
            }
        }
    }

    private static Kind Infer(IEnumerable<string> values)
    {
        var present = values.Where(v => v.Length > 0).Take(10_000).ToList();
        if (present.All(v => long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)))
        {
            return Kind.Integer;
        }

        if (present.All(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out _)))
        {
            return Kind.Number;
        }

        return present.All(v => bool.TryParse(v, out _)) ? Kind.Boolean : Kind.Text;
    }
}
