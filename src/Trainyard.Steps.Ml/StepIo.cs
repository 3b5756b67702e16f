using System.Text.Json;
using System.Text.Json.Serialization;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Core.Steps;
using Trainyard.Core.Text;
using Trainyard.Execution.Contracts;

namespace Trainyard.Steps.Ml;

/// <summary>
/// One built-in step execution's I/O: reads input artifacts (remembering their hashes for lineage), writes output
/// artifacts under the attempt's output prefix, and records `lineage.json` beside them.
/// </summary>
internal sealed class StepIo(StepContext context, StepInputs inputs)
{
    private readonly List<LineageArtifact> _read = [];
    private readonly List<ArtifactRef> _written = [];
    private readonly Dictionary<string, JsonElement> _outputs = new(StringComparer.Ordinal);

    public StepContext Context => context;

    public StepInputs Inputs => inputs;

    public IArtifactStore Artifacts => context.Artifacts;

    public CancellationToken Token { get; init; }

    /// <summary>Opens the artifact named by input <paramref name="input"/>; fails clearly when it is missing.</summary>
    public async Task<(Stream Stream, ArtifactInfo Info)> OpenInputAsync(string input)
    {
        var path = inputs.RequiredString(input);
        return await OpenPathAsync(input, path);
    }

    /// <summary>Opens artifact <paramref name="path"/> given by input <paramref name="input"/>; a path outside the store fails naming the input.</summary>
    public async Task<(Stream Stream, ArtifactInfo Info)> OpenPathAsync(string input, string path)
    {
        inputs.Checked(input, path, InputRule.ArtifactPath);
        var info = await Artifacts.GetInfoAsync(path, Token);
        var stream = info is null ? null : await Artifacts.OpenReadAsync(path, Token);
        if (info is null || stream is null)
        {
            throw new StepFailedException(
                $"{inputs.Step}: input '{input}' names artifact '{path}', which does not exist in the artifact store. " +
                "Point it at an upstream step's output (e.g. ${{ steps.<id>.outputs.<name> }}).");
        }

        _read.Add(new LineageArtifact(input, info.Path, info.Sha256));
        return (stream, info);
    }

    /// <summary>Records data read from outside the artifact store (ingest): its URI, content hash and version.</summary>
    public void RecordSource(string name, string uri, string sha256, string etag) => _read.Add(new LineageArtifact(name, uri, sha256) { ETag = etag });

    /// <summary>Records an input artifact read through other means (e.g. a registry lookup).</summary>
    public void RecordInput(string name, ArtifactInfo info) => _read.Add(new LineageArtifact(name, info.Path, info.Sha256));

    /// <summary>Opens a CSV; malformed CSV (empty file, duplicate header, unclosed quote) fails the step for good, naming the line.</summary>
    public CsvReader OpenCsv(Stream stream, string path)
    {
        try
        {
            return new CsvReader(stream, path);
        }
        catch (StepFailedException)
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Opens a dataset as CSV or Parquet (<paramref name="format"/>, else by extension); unreadable files fail the step for good.</summary>
    public async Task<ITableReader> OpenTableAsync(Stream stream, string path, string? format)
    {
        string kind;
        try
        {
            kind = TableFormats.Of(path, format, inputs.Step);
        }
        catch (StepFailedException)
        {
            await stream.DisposeAsync();
            throw;
        }

        return kind == TableFormats.Parquet
            ? await ParquetTableReader.OpenAsync(stream, path, ScratchPath("dataset.parquet"), Token)
            : OpenCsv(stream, path);
    }

    /// <summary>
    /// A scratch file path in the attempt's working directory for relative name <paramref name="name"/> (its folders
    /// created); a name that would resolve outside the folder is refused before anything is created.
    /// </summary>
    public string ScratchPath(string name)
    {
        var root = Path.GetFullPath(context.WorkingDirectory);
        var path = PathRules.PathProblem(name) is null ? Path.GetFullPath(Path.Combine(root, name)) : null;
        if (path is null || !path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new StepFailedException($"{inputs.Step}: scratch file {Printable.Quote(name)} would be outside the step's working folder; give a plain relative file name.");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }

    /// <summary>Output file name <paramref name="name"/> given by input <paramref name="input"/>, checked before anything is written.</summary>
    public string OutputName(string input, string name)
    {
        inputs.Checked(input, name, InputRule.OutputPath);
        if (name == LineageRecord.FileName)
        {
            throw inputs.Bad(input, $"is '{LineageRecord.FileName}', which the step writes itself; choose another name");
        }

        return name;
    }

    /// <summary>Uploads a local file as output artifact <paramref name="name"/> and reports it as output <paramref name="output"/>.</summary>
    public async Task<ArtifactRef> PutFileAsync(string output, string name, string localPath)
    {
        await using var file = File.OpenRead(localPath);
        return await PutAsync(output, name, file);
    }

    /// <summary>Uploads <paramref name="content"/> as output artifact <paramref name="name"/> (under the attempt's prefix).</summary>
    public async Task<ArtifactRef> PutAsync(string? output, string name, Stream content)
    {
        if (PathRules.PathProblem(context.Work.OutputPrefix + name) is { } problem)
        {
            throw new StepFailedException($"{inputs.Step}: output file {Printable.Quote(name)} {problem}.");
        }

        var info = await Artifacts.PutAsync(context.Work.OutputPrefix + name, content, Token);
        var artifact = new ArtifactRef(output ?? name, info.Path, info.Sha256, info.Size);
        _written.Add(artifact);
        if (output is not null)
        {
            SetOutput(output, info.Path);
        }

        return artifact;
    }

    public Task<ArtifactRef> PutJsonAsync<T>(string? output, string name, T value)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, MlJson.Indented);
        return PutAsync(output, name, new MemoryStream(bytes));
    }

    public void SetOutput<T>(string name, T value) => _outputs[name] = JsonSerializer.SerializeToElement(value, MlJson.Compact);

    /// <summary>Writes lineage.json and returns the task result.</summary>
    public async Task<TaskResult> FinishAsync()
    {
        var work = context.Work;
        var lineage = new LineageRecord(
            new Producer(work.RunId, work.TaskKey, work.StepId, work.Attempt, work.DispatchId, work.PipelineName, work.PipelineHash, work.Uses),
            [.. _read.DistinctBy(r => (r.Name, r.Path))],
            [.. _written.Select(w => new LineageArtifact(w.Name, w.Path, w.Sha256))],
            context.Time.GetUtcNow());
        await PutJsonAsync(null, LineageRecord.FileName, lineage);
        return new TaskResult { Outputs = new Dictionary<string, JsonElement>(_outputs), Artifacts = [.. _written] };
    }
}

/// <summary>Who produced a set of artifacts.</summary>
public sealed record Producer(string RunId, string TaskKey, string StepId, int Attempt, string DispatchId, string Pipeline, string PipelineHash, string? Uses)
{
    /// <summary>Cache key of the producing task, when known.</summary>
    public string? CacheKey { get; init; }
}

/// <summary>An artifact named in lineage, with its content hash.</summary>
public sealed record LineageArtifact(string Name, string Path, string Sha256)
{
    /// <summary>For data read from outside the artifact store: the version (ETag) that was read.</summary>
    public string? ETag { get; init; }
}

/// <summary>Lineage of one task attempt's outputs: producer, the inputs it read (with hashes) and what it wrote.</summary>
public sealed record LineageRecord(Producer Producer, IReadOnlyList<LineageArtifact> Inputs, IReadOnlyList<LineageArtifact> Outputs, DateTimeOffset At)
{
    /// <summary>File name of the record inside an attempt's output folder.</summary>
    public const string FileName = "lineage.json";
}

/// <summary>JSON options of the ML steps' reports (camelCase like the engine).</summary>
internal static class MlJson
{
    public static JsonSerializerOptions Compact { get; } = Create(false);

    public static JsonSerializerOptions Indented { get; } = Create(true);

    private static JsonSerializerOptions Create(bool indented)
    {
        var o = new JsonSerializerOptions(EngineJson.Options)
        {
            WriteIndented = indented,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        };
        o.MakeReadOnly(populateMissingResolver: true);
        return o;
    }
}
