using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Core.Text;
using Trainyard.Execution.Contracts;

namespace Trainyard.Compute.Local;

/// <summary>Limits of the local process executor.</summary>
public sealed record LocalExecutorOptions
{
    /// <summary>Largest accepted `outputs.json` (small values only: large data belongs in files).</summary>
    public int MaxOutputsJsonBytes { get; init; } = 64 * 1024;

    /// <summary>How many trailing stderr lines a failure message quotes.</summary>
    public int StderrTailLines { get; init; } = 20;

    /// <summary>Longest log line kept; longer lines are cut (a binary blob on stdout must not blow up the log).</summary>
    public int MaxLogLineChars { get; init; } = 8 * 1024;

    /// <summary>
    /// How long to wait for stdout/stderr to close after the process exited: a background grandchild that inherited
    /// the pipes must not hold the task open forever.
    /// </summary>
    public TimeSpan OutputDrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Host variables the operator lets steps inherit beyond <see cref="StepEnvironment.Allowed"/> (e.g.
    /// CUDA_VISIBLE_DEVICES); credential-like names are dropped anyway (<see cref="StepEnvironment.IsCredentialName"/>).
    /// </summary>
    public IReadOnlyList<string> PassThroughVariables { get; init; } = [];

    /// <summary>The host setting that lists <see cref="PassThroughVariables"/>, comma-separated.</summary>
    public const string PassThroughVariable = "TRAINYARD_STEP_ENV_PASS";

    /// <summary>Options with <see cref="PassThroughVariables"/> read from <see cref="PassThroughVariable"/>.</summary>
    /// <param name="getVariable">Reads a host setting (Environment.GetEnvironmentVariable).</param>
    public static LocalExecutorOptions FromEnvironment(Func<string, string?> getVariable)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        var names = (getVariable(PassThroughVariable) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return new LocalExecutorOptions { PassThroughVariables = names };
    }
}

/// <summary>
/// Runs `run.command` as a local child process (argv, never through a shell), one working folder per attempt,
/// output lines streamed to the task log, files in the output folder uploaded as artifacts.
/// </summary>
public sealed class LocalProcessExecutor(LocalExecutorOptions? options = null) : ITaskExecutor
{
    /// <summary>The file a step may write into its output folder to report small output values.</summary>
    public const string OutputsFileName = "outputs.json";

    /// <summary>Name the runtime stores the task log under, beside the outputs (`{OutputPrefix}log.txt`); steps may not use it.</summary>
    public const string ReservedLogName = TaskWorkItem.LogName;

    private readonly LocalExecutorOptions _options = options ?? new LocalExecutorOptions();

    /// <inheritdoc />
    public ExecutorKind Kind => ExecutorKind.Local;

    /// <inheritdoc />
    public async Task<TaskOutcome> ExecuteAsync(TaskExecutionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var work = context.Work;
        if (work.Command is not { Count: > 0 } argv || string.IsNullOrWhiteSpace(argv[0]))
        {
            return new TaskOutcome.Failed(
                $"step '{work.StepId}' has no command to run: give `run.command` as a non-empty list (argv), e.g. [python, train.py].",
                Retryable: false);
        }

        var layout = AttemptFolders.Prepare(context.WorkingDirectory);
        if (work.Image is not null)
        {
            await context.Log($"[trainyard] image '{work.Image}' is ignored by the local executor; the command runs on this machine.", cancellationToken);
        }

        if (await StageInputsAsync(work, context.Artifacts, layout.Input, cancellationToken) is { } missing)
        {
            return new TaskOutcome.Failed(missing, Retryable: false);
        }

        var run = await RunProcessAsync(context, argv, layout, cancellationToken);
        if (run is not null)
        {
            return run;
        }

        return await CollectOutputsAsync(context, context.Artifacts, layout.Output, cancellationToken);
    }

    private async Task<TaskOutcome?> RunProcessAsync(TaskExecutionContext context, IReadOnlyList<string> argv, AttemptFolders layout, CancellationToken cancellationToken)
    {
        var work = context.Work;
        var startInfo = BuildStartInfo(work, argv, layout);
        using var process = new Process { StartInfo = startInfo };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            // ENOENT (2) and EACCES (13) cannot be fixed by running again: fail at once with what to do.
            return new TaskOutcome.Failed(
                $"step '{work.StepId}': cannot start command '{argv[0]}' ({ex.Message}). Install it or put it on PATH, give an absolute path in `run.command`, " +
                "or make the file executable; remember the command runs as argv, not through a shell (use [sh, -c, '...'] for shell syntax).",
                Retryable: false);
        }

        process.StandardInput.Close();
        var stderrTail = new Queue<string>();
        // Bounded: a step that prints faster than the log takes it waits on its pipe instead of filling the host's memory.
        var lines = Channel.CreateBounded<string>(new BoundedChannelOptions(1024) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        var pumpOut = PumpAsync(process.StandardOutput, null, lines.Writer, stderrTail);
        var pumpErr = PumpAsync(process.StandardError, "[stderr] ", lines.Writer, stderrTail);
        var logging = DrainToLogAsync(lines.Reader, context.Log);

        using var timeout = work.Timeout is { } limit ? new CancellationTokenSource(limit) : new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var stopped = false;
        try
        {
            await process.WaitForExitAsync(linked.Token);
        }
        catch (OperationCanceledException)
        {
            stopped = true;
            KillTree(process);
            // Kill is asynchronous at the OS level; wait for the exit without the cancelled token.
            await process.WaitForExitAsync(CancellationToken.None);
        }

        await FinishPumpsAsync(pumpOut, pumpErr, lines.Writer, logging, process);

        if (stopped)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await context.Log($"[trainyard] timed out after {work.Timeout}; killed the process tree of pid {process.Id}.", CancellationToken.None);
            return new TaskOutcome.Failed(
                $"step '{work.StepId}' timed out after {FormatDuration(work.Timeout!.Value)} and its process tree was killed; raise `timeout` or make the command faster.",
                Retryable: true);
        }

        var exitCode = process.ExitCode;
        await context.Log($"[trainyard] exit code {exitCode.ToString(CultureInfo.InvariantCulture)}", cancellationToken);
        if (exitCode == 0)
        {
            return null;
        }

        string tail;
        lock (stderrTail)
        {
            tail = stderrTail.Count == 0 ? " (no stderr output)" : ":\n" + string.Join('\n', stderrTail);
        }

        return new TaskOutcome.Failed(
            $"step '{work.StepId}': command '{argv[0]}' exited with code {exitCode.ToString(CultureInfo.InvariantCulture)}; last stderr lines{tail}",
            Retryable: true,
            ExitCode: exitCode);
    }

    private ProcessStartInfo BuildStartInfo(TaskWorkItem work, IReadOnlyList<string> argv, AttemptFolders layout)
    {
        var startInfo = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = layout.Root,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        for (var i = 1; i < argv.Count; i++)
        {
            startInfo.ArgumentList.Add(argv[i]);
        }

        // An allow-list, not the host's environment: a step never sees the host's credentials (or TRAINYARD_FAULT,
        // which is for the trainyard process itself). The spec's own `env` comes next, Trainyard's context last so a
        // spec cannot forge it.
        var inherited = StepEnvironment.Inherited(
            startInfo.Environment.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value)).ToList(), _options.PassThroughVariables);
        startInfo.Environment.Clear();
        foreach (var (key, value) in inherited)
        {
            startInfo.Environment[key] = value;
        }

        foreach (var (key, value) in work.Env)
        {
            startInfo.Environment[key] = value;
        }

        startInfo.Environment["TRAINYARD_RUN_ID"] = work.RunId;
        startInfo.Environment["TRAINYARD_PIPELINE"] = work.PipelineName;
        startInfo.Environment["TRAINYARD_STEP_ID"] = work.StepId;
        startInfo.Environment["TRAINYARD_TASK_KEY"] = work.TaskKey;
        startInfo.Environment["TRAINYARD_DISPATCH_ID"] = work.DispatchId;
        startInfo.Environment["TRAINYARD_ATTEMPT"] = work.Attempt.ToString(CultureInfo.InvariantCulture);
        startInfo.Environment["TRAINYARD_INPUT_DIR"] = layout.Input;
        startInfo.Environment["TRAINYARD_OUTPUT_DIR"] = layout.Output;
        startInfo.Environment["TRAINYARD_ITEM"] = work.Item is { } item ? item.GetRawText() : "null";
        startInfo.Environment["TRAINYARD_INPUTS"] = JsonSerializer.Serialize(work.Inputs, EngineJson.Options);
        return startInfo;
    }

    private async Task PumpAsync(StreamReader reader, string? prefix, ChannelWriter<string> sink, Queue<string> stderrTail)
    {
        await foreach (var line in BoundedLines.ReadAsync(reader, _options.MaxLogLineChars))
        {
            if (prefix is not null)
            {
                lock (stderrTail)
                {
                    stderrTail.Enqueue(line);
                    while (stderrTail.Count > _options.StderrTailLines)
                    {
                        stderrTail.Dequeue();
                    }
                }
            }

            await sink.WriteAsync(prefix is null ? line : prefix + line);
        }
    }

    private static async Task DrainToLogAsync(ChannelReader<string> lines, Func<string, CancellationToken, Task> log)
    {
        // One consumer: the log callback sees lines one at a time, in the order they arrived.
        await foreach (var line in lines.ReadAllAsync())
        {
            await log(line, CancellationToken.None);
        }
    }

    private async Task FinishPumpsAsync(Task pumpOut, Task pumpErr, ChannelWriter<string> writer, Task logging, Process process)
    {
        var pumps = Task.WhenAll(pumpOut, pumpErr);
        if (await Task.WhenAny(pumps, Task.Delay(_options.OutputDrainTimeout)) != pumps)
        {
            // Something still holds the pipes (a daemonised grandchild): stop reading rather than wait forever.
            process.StandardOutput.Close();
            process.StandardError.Close();
            await writer.WriteAsync("[trainyard] output pipes still open after the process exited (a background process keeps them); stopped reading.");
        }

        writer.TryComplete();
        await logging;
    }

    private static void KillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited between the check and the kill: nothing left to stop.
        }
    }

    /// <summary>Copies upstream artifacts into `in/`; returns an error when one is missing.</summary>
    private static async Task<string?> StageInputsAsync(TaskWorkItem work, IArtifactStore artifacts, string inputDir, CancellationToken cancellationToken)
    {
        foreach (var (stepId, refs) in work.UpstreamArtifacts)
        {
            foreach (var artifact in refs)
            {
                var target = Path.Combine(inputDir, stepId, ItemFolder(stepId, artifact.Path), RelativeName(artifact.Name));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                await using var source = await artifacts.OpenReadAsync(artifact.Path, cancellationToken);
                if (source is null)
                {
                    return $"step '{work.StepId}': input artifact '{artifact.Path}' of upstream step '{stepId}' is missing from the artifact store " +
                        "(deleted, or a different store). Start a new run so the upstream step produces it again.";
                }

                await using var file = File.Create(target);
                await source.CopyToAsync(file, cancellationToken);
            }
        }

        return null;
    }

    /// <summary>Foreach items of a step get one sub-folder each (`in/step/0/...`) so their same-named files do not collide.</summary>
    private static string ItemFolder(string stepId, string artifactPath)
    {
        // Paths are runs/{run}/{taskKey}/{dispatchId}/{name}; a foreach task key is `step[i]`.
        var segments = artifactPath.Split('/');
        if (segments.Length >= 3 && segments[0] == "runs")
        {
            var taskKey = segments[2];
            if (taskKey.Length > stepId.Length + 2 && taskKey.StartsWith(stepId + "[", StringComparison.Ordinal) && taskKey.EndsWith(']'))
            {
                return taskKey[(stepId.Length + 1)..^1];
            }
        }

        return "";
    }

    private static string RelativeName(string name)
    {
        var parts = name.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0 || parts.Any(p => p is "." or ".."))
        {
            throw new InvalidOperationException($"artifact name '{name}' is not a plain relative path; it cannot be staged as an input file.");
        }

        return Path.Combine(parts);
    }

    private async Task<TaskOutcome> CollectOutputsAsync(TaskExecutionContext context, IArtifactStore artifacts, string outputDir, CancellationToken cancellationToken)
    {
        var work = context.Work;
        var (files, links) = OutputFiles(outputDir);
        foreach (var link in links)
        {
            await context.Log($"[trainyard] skipped symbolic link out/{Printable.Escape(link)}: links in TRAINYARD_OUTPUT_DIR are never followed; copy the file in instead.", cancellationToken);
        }

        var outputs = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (files.Contains(OutputsFileName))
        {
            var parsed = await ReadOutputsJsonAsync(work, Path.Combine(outputDir, OutputsFileName), cancellationToken);
            if (parsed.Error is not null)
            {
                return new TaskOutcome.Failed(parsed.Error, Retryable: false);
            }

            outputs = parsed.Values!;
        }

        var refs = new List<ArtifactRef>();
        foreach (var name in files)
        {
            if (name == OutputsFileName)
            {
                continue;
            }

            if (name == ReservedLogName)
            {
                return new TaskOutcome.Failed(
                    $"step '{work.StepId}' wrote '{ReservedLogName}' at the top of TRAINYARD_OUTPUT_DIR; that name holds the task's captured stdout/stderr. " +
                    "Write it under another name or in a sub-folder.",
                    Retryable: false);
            }

            if (PathRules.PathProblem(work.OutputPrefix + name) is { } problem)
            {
                return new TaskOutcome.Failed($"step '{work.StepId}': output file {Printable.Quote(name)} {problem}.", Retryable: false);
            }

            var path = Path.Combine(outputDir, name);
            // A FIFO or socket left in the folder reports length 0 and would block open(2) forever (no writer, no
            // timeout at this point): empty entries are stored as empty files without opening them.
            await using var stream = new FileInfo(path).Length == 0
                ? Stream.Null
                : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, FileOptions.Asynchronous);
            var info = await artifacts.PutAsync(work.OutputPrefix + name, stream, cancellationToken);
            refs.Add(new ArtifactRef(name, info.Path, info.Sha256, info.Size));
        }

        return new TaskOutcome.Succeeded(new TaskResult { Outputs = outputs, Artifacts = refs });
    }

    /// <summary>
    /// Regular files under <paramref name="outputDir"/> ('/'-separated, relative, ordinal order) and the symbolic links
    /// found there, which are neither followed nor uploaded: a link to /etc/passwd or to a parent folder (a loop) must
    /// not become an artifact or a walk without end.
    /// </summary>
    private static (List<string> Files, List<string> Links) OutputFiles(string outputDir)
    {
        var files = new List<string>();
        var links = new List<string>();
        var pending = new Stack<DirectoryInfo>();
        pending.Push(new DirectoryInfo(outputDir));
        while (pending.Count > 0)
        {
            foreach (var entry in pending.Pop().EnumerateFileSystemInfos())
            {
                var name = Path.GetRelativePath(outputDir, entry.FullName).Replace(Path.DirectorySeparatorChar, '/');
                if (entry.LinkTarget is not null || entry.Attributes.HasFlag(FileAttributes.ReparsePoint))
                {
                    links.Add(name);
                }
                else if (entry is DirectoryInfo dir)
                {
                    pending.Push(dir);
                }
                else
                {
                    files.Add(name);
                }
            }
        }

        files.Sort(StringComparer.Ordinal);
        links.Sort(StringComparer.Ordinal);
        return (files, links);
    }

    private async Task<(Dictionary<string, JsonElement>? Values, string? Error)> ReadOutputsJsonAsync(TaskWorkItem work, string path, CancellationToken cancellationToken)
    {
        var size = new FileInfo(path).Length;
        if (size > _options.MaxOutputsJsonBytes)
        {
            return (null, $"step '{work.StepId}': {OutputsFileName} is {size} bytes, more than the {_options.MaxOutputsJsonBytes}-byte limit; " +
                "keep it to small values (metrics, names) and write large data as separate files in TRAINYARD_OUTPUT_DIR.");
        }

        var bytes = await File.ReadAllBytesAsync(path, cancellationToken);
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return (null, $"step '{work.StepId}': {OutputsFileName} must hold a JSON object ({{\"name\": value}}), not a {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}.");
            }

            var values = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                values[property.Name] = property.Value.Clone();
            }

            return (values, null);
        }
        catch (JsonException ex)
        {
            return (null, $"step '{work.StepId}': {OutputsFileName} is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1}): {ex.Message} Write one JSON object, e.g. {{\"accuracy\": 0.91}}.");
        }
    }

    private static string FormatDuration(TimeSpan value)
        => value.TotalSeconds < 60 ? $"{value.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)}s" : value.ToString("c", CultureInfo.InvariantCulture);

    /// <summary>The folders of one attempt: inputs staged in `in/`, the step writes `out/`.</summary>
    private sealed record AttemptFolders(string Root, string Input, string Output)
    {
        public static AttemptFolders Prepare(string root)
        {
            var layout = new AttemptFolders(root, Path.Combine(root, "in"), Path.Combine(root, "out"));
            // A redelivered attempt (same dispatch id) starts from clean folders, so leftovers of a killed run never become outputs.
            foreach (var dir in new[] { layout.Input, layout.Output })
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }

                Directory.CreateDirectory(dir);
            }

            return layout;
        }
    }
}
