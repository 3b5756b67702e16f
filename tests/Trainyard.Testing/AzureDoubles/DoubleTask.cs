using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Trainyard.Testing.AzureDoubles;

/// <summary>A task in the Batch double: its state machine and the local process that plays the node.</summary>
public sealed class DoubleTask
{
    private readonly BatchRestDouble _owner;
    private readonly DoubleJob _job;
    private readonly JsonNode _spec;
    private readonly object _gate = new();
    private Process? _process;
    private CancellationTokenSource _run = new();
    private bool _terminated;
    private bool _preempted;

    internal DoubleTask(BatchRestDouble owner, DoubleJob job, string id, JsonNode spec)
    {
        _owner = owner;
        _job = job;
        _spec = spec;
        Id = id;
        Created = DateTimeOffset.UtcNow;
        TaskDirectory = Path.GetFullPath(Path.Combine(owner.WorkRoot, job.Id, id)) + Path.DirectorySeparatorChar;
    }

    /// <summary>Id as created.</summary>
    public string Id { get; }

    /// <summary>Creation time.</summary>
    public DateTimeOffset Created { get; }

    /// <summary>The request body it was created with.</summary>
    public JsonNode Spec => _spec;

    /// <summary>active, preparing, running or completed.</summary>
    public string State { get; private set; } = "active";

    /// <summary>Times the task was requeued (simulated pre-emption).</summary>
    public int RequeueCount { get; private set; }

    /// <summary>Times the command was started (1 + requeues that reached the node).</summary>
    public int Starts { get; private set; }

    /// <summary>Exit code, when completed.</summary>
    public int? ExitCode { get; private set; }

    /// <summary>The task directory on the "node" (stdout.txt, stderr.txt and wd/ below it).</summary>
    public string TaskDirectory { get; }

    internal Task Runner { get; set; } = Task.CompletedTask;

    private DateTimeOffset? StartTime { get; set; }

    private DateTimeOffset? EndTime { get; set; }

    private (string Category, string Code, string Message)? Failure { get; set; }

    /// <summary>The task as GET returns it (JSON text), for assertions.</summary>
    public string ToJsonForTest() => ToJson().ToJsonString();

    internal JsonObject ToJson()
    {
        lock (_gate)
        {
            var exec = new JsonObject { ["retryCount"] = 0, ["requeueCount"] = RequeueCount };
            if (StartTime is { } start)
            {
                exec["startTime"] = start.ToString("O", CultureInfo.InvariantCulture);
            }

            if (State == "completed")
            {
                exec["endTime"] = EndTime?.ToString("O", CultureInfo.InvariantCulture);
                if (ExitCode is int code)
                {
                    exec["exitCode"] = code;
                }

                exec["result"] = Failure is null ? "success" : "failure";
                if (Failure is { } f)
                {
                    exec["failureInfo"] = new JsonObject { ["category"] = f.Category, ["code"] = f.Code, ["message"] = f.Message };
                }
            }

            var json = new JsonObject
            {
                ["id"] = Id,
                ["url"] = _owner.Endpoint + $"jobs/{_job.Id}/tasks/{Id}",
                ["creationTime"] = Created.ToString("O", CultureInfo.InvariantCulture),
                ["state"] = State,
                ["commandLine"] = _spec["commandLine"]?.GetValue<string>(),
                ["constraints"] = _spec["constraints"]?.DeepClone(),
                ["executionInfo"] = exec,
            };
            if (StartTime is not null)
            {
                json["nodeInfo"] = new JsonObject { ["poolId"] = _job.PoolId, ["nodeId"] = $"tvm-double_{RequeueCount + 1}" };
            }

            return json;
        }
    }

    internal void Terminate()
    {
        lock (_gate)
        {
            _terminated = true;
        }

        Kill();
    }

    internal void Preempt()
    {
        lock (_gate)
        {
            if (State == "completed")
            {
                throw new InvalidOperationException($"task {Id} already completed; pre-empt it while it runs.");
            }

            _preempted = true;
        }

        Kill();
    }

    internal void Kill()
    {
        lock (_gate)
        {
            _run.Cancel();
            try
            {
                _process?.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Not started or already exited.
            }
        }
    }

    internal async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            var again = await RunOnceAsync(stopping);
            if (!again)
            {
                return;
            }
        }
    }

    /// <summary>One placement on a node; true when the task was pre-empted and must run again.</summary>
    private async Task<bool> RunOnceAsync(CancellationToken stopping)
    {
        CancellationToken token;
        lock (_gate)
        {
            if (_terminated)
            {
                CompleteLocked(137, ("usererror", "TaskEnded", "Task Was Ended by User Request"));
                return false;
            }

            _run = new CancellationTokenSource();
            token = _run.Token;
        }

        try
        {
            await Task.Delay(_owner.SchedulingDelay, token);
        }
        catch (OperationCanceledException)
        {
            return AfterKill(exitCode: null);
        }

        var wd = Path.Combine(TaskDirectory, "wd");
        if (Directory.Exists(TaskDirectory))
        {
            Directory.Delete(TaskDirectory, recursive: true);
        }

        Directory.CreateDirectory(wd);
        lock (_gate)
        {
            State = "preparing";
        }

        try
        {
            await DownloadResourceFilesAsync(wd, token);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException)
        {
            lock (_gate)
            {
                StartTime = DateTimeOffset.UtcNow;
                CompleteLocked(null, ("usererror", "BlobDownloadMiscError", "Miscellaneous error encountered while downloading one of the specified Azure Blob(s): " + e.Message));
            }

            return false;
        }

        var argv = PosixWords.Split(_spec["commandLine"]!.GetValue<string>());
        var start = new ProcessStartInfo(argv[0])
        {
            WorkingDirectory = wd,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var arg in argv.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["AZ_BATCH_TASK_WORKING_DIR"] = wd;
        start.Environment["AZ_BATCH_TASK_DIR"] = TaskDirectory.TrimEnd(Path.DirectorySeparatorChar);
        start.Environment["AZ_BATCH_JOB_ID"] = _job.Id;
        start.Environment["AZ_BATCH_TASK_ID"] = Id;
        start.Environment["AZ_BATCH_POOL_ID"] = _job.PoolId;
        foreach (var setting in _spec["environmentSettings"]?.AsArray() ?? [])
        {
            start.Environment[setting!["name"]!.GetValue<string>()] = setting["value"]?.GetValue<string>() ?? "";
        }

        var maxWall = _spec["constraints"]?["maxWallClockTime"]?.GetValue<string>() is { } iso ? System.Xml.XmlConvert.ToTimeSpan(iso) : (TimeSpan?)null;
        Process process;
        lock (_gate)
        {
            if (token.IsCancellationRequested)
            {
                return AfterKill(exitCode: null);
            }

            process = new Process { StartInfo = start };
            process.Start();
            _process = process;
            Starts++;
            StartTime = DateTimeOffset.UtcNow;
            State = "running";
        }

        process.StandardInput.Close();
        var stdout = CopyToFileAsync(process.StandardOutput, Path.Combine(TaskDirectory, "stdout.txt"));
        var stderr = CopyToFileAsync(process.StandardError, Path.Combine(TaskDirectory, "stderr.txt"));
        var timedOut = false;
        using (var wall = maxWall is { } limit && limit < TimeSpan.FromDays(1) ? new CancellationTokenSource(limit) : new CancellationTokenSource())
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(token, wall.Token, stopping))
        {
            try
            {
                await process.WaitForExitAsync(linked.Token);
            }
            catch (OperationCanceledException)
            {
                timedOut = wall.IsCancellationRequested && !token.IsCancellationRequested;
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // Exited meanwhile.
                }

                await process.WaitForExitAsync(CancellationToken.None);
            }
        }

        await Task.WhenAll(stdout, stderr);
        var exitCode = process.ExitCode;
        process.Dispose();
        if (timedOut)
        {
            await UploadOutputFilesAsync(wd, success: false);
            lock (_gate)
            {
                _process = null;
                CompleteLocked(exitCode, ("usererror", "MaxWallClockTimeExpiry", "The task ran longer than its maxWallClockTime and was terminated."));
            }

            return false;
        }

        if (token.IsCancellationRequested)
        {
            var again = AfterKill(exitCode);
            if (!again)
            {
                await UploadOutputFilesAsync(wd, success: false);
            }

            return again;
        }

        await UploadOutputFilesAsync(wd, success: exitCode == 0);
        lock (_gate)
        {
            _process = null;
            CompleteLocked(exitCode, exitCode == 0 ? null : ("usererror", "FailureExitCode", "The task process exited with an unexpected exit code"));
        }

        return false;
    }

    /// <summary>After the process was killed: requeue when pre-empted, complete when terminated.</summary>
    private bool AfterKill(int? exitCode)
    {
        lock (_gate)
        {
            _process = null;
            if (_preempted && !_terminated)
            {
                _preempted = false;
                RequeueCount++;
                StartTime = null;
                State = "active";
                return true;
            }

            CompleteLocked(exitCode ?? 137, ("usererror", "TaskEnded", "Task Was Ended by User Request"));
            return false;
        }
    }

    private void CompleteLocked(int? exitCode, (string, string, string)? failure)
    {
        ExitCode = exitCode;
        Failure = failure;
        StartTime ??= DateTimeOffset.UtcNow;
        EndTime = DateTimeOffset.UtcNow;
        State = "completed";
    }

    private async Task DownloadResourceFilesAsync(string wd, CancellationToken cancellationToken)
    {
        foreach (var file in _spec["resourceFiles"]?.AsArray() ?? [])
        {
            var containerUrl = file!["storageContainerUrl"]?.GetValue<string>()
                ?? throw new InvalidOperationException("the double supports resourceFiles with storageContainerUrl only");
            var prefix = file["blobPrefix"]?.GetValue<string>() ?? "";
            var target = Path.Combine(wd, file["filePath"]?.GetValue<string>() ?? "");
            var container = new Uri(containerUrl);
            await foreach (var name in _owner.Blobs.ListAsync(container, prefix, cancellationToken))
            {
                // Batch keeps the full blob path below filePath.
                var local = Path.Combine(target, Path.Combine(name.Split('/')));
                Directory.CreateDirectory(Path.GetDirectoryName(local)!);
                await using var source = await _owner.Blobs.OpenReadAsync(container, name, cancellationToken)
                    ?? throw new InvalidOperationException($"blob {name} vanished while downloading");
                await using var sink = File.Create(local);
                await source.CopyToAsync(sink, cancellationToken);
            }
        }
    }

    private async Task UploadOutputFilesAsync(string wd, bool success)
    {
        foreach (var rule in _spec["outputFiles"]?.AsArray() ?? [])
        {
            var condition = rule!["uploadOptions"]?["uploadCondition"]?.GetValue<string>()?.ToLowerInvariant() ?? "taskcompletion";
            if ((condition == "tasksuccess" && !success) || (condition == "taskfailure" && success))
            {
                continue;
            }

            var pattern = rule["filePattern"]!.GetValue<string>();
            var destination = rule["destination"]!["container"]!;
            var container = new Uri(destination["containerUrl"]!.GetValue<string>());
            var path = destination["path"]?.GetValue<string>() ?? "";
            foreach (var (local, relative) in Match(wd, pattern))
            {
                var blob = pattern.IndexOfAny(['*', '?']) < 0 && path.Length > 0 ? path : path.TrimEnd('/') + (path.Length > 0 ? "/" : "") + relative;
                await using var stream = File.OpenRead(local);
                await _owner.Blobs.UploadAsync(container, blob, stream, CancellationToken.None);
            }
        }
    }

    /// <summary>Files matching a Batch filePattern (relative to the working directory; `**` = any folders), with their name below the pattern's fixed part.</summary>
    internal static IEnumerable<(string Local, string Relative)> Match(string wd, string pattern)
    {
        var segments = pattern.Split('/');
        var fixedCount = segments.TakeWhile(s => s.IndexOfAny(['*', '?']) < 0).Count();
        if (fixedCount == segments.Length)
        {
            var single = Path.GetFullPath(Path.Combine(wd, Path.Combine(segments)));
            return File.Exists(single) ? [(single, segments[^1])] : [];
        }

        var baseDir = Path.GetFullPath(Path.Combine(wd, Path.Combine(segments[..fixedCount])));
        if (!Directory.Exists(baseDir))
        {
            return [];
        }

        var rest = string.Join('/', segments[fixedCount..]);
        var regex = new Regex("^" + Regex.Escape(rest).Replace(@"\*\*/", "(.*/)?", StringComparison.Ordinal).Replace(@"\*", "[^/]*", StringComparison.Ordinal).Replace(@"\?", "[^/]", StringComparison.Ordinal) + "$");
        return Directory.EnumerateFiles(baseDir, "*", SearchOption.AllDirectories)
            .Select(f => (Local: f, Relative: Path.GetRelativePath(baseDir, f).Replace(Path.DirectorySeparatorChar, '/')))
            .Where(f => regex.IsMatch(f.Relative))
            .OrderBy(f => f.Relative, StringComparer.Ordinal)
            .ToList();
    }

    private static async Task CopyToFileAsync(StreamReader reader, string path)
    {
        await using var file = File.Create(path);
        await reader.BaseStream.CopyToAsync(file);
    }
}
