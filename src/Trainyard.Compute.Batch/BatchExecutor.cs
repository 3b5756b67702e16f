using System.Diagnostics;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Core.Engine;
using Trainyard.Core.Spec;
using Trainyard.Execution.Contracts;
using Trainyard.Execution.Telemetry;

namespace Trainyard.Compute.Batch;

/// <summary>
/// Runs `executor: batch` steps as Azure Batch tasks: one job per run, one task per attempt (dispatch id). The first
/// call creates the job and task and returns <see cref="TaskOutcome.Pending"/>; later calls poll (backoff from seconds
/// to a couple of minutes) until the task completed, never blocking an invocation for the task's run time.
/// The task sees the same layout as the local executor: `in/{step}/…` inputs, `out/` outputs (with `outputs.json`
/// for small values), TRAINYARD_* variables.
/// A cancelled call does not stop the Batch task (the host may just be shutting down; the next poll goes on): the
/// runtime calls <see cref="CancelAttemptAsync"/> when the attempt itself was cancelled, and
/// <see cref="RunFinishedAsync"/> when the run is over, which terminates the run's job and anything still in it.
/// </summary>
public sealed partial class BatchExecutor : IRemoteTaskExecutor
{
    /// <summary>Output: exit code of the task's command.</summary>
    public const string ExitCodeOutput = "batch_exit_code";

    /// <summary>Output: times Batch requeued the task (Spot pre-emption, node loss).</summary>
    public const string RequeueOutput = "batch_requeue_count";

    /// <summary>Output: pool the task ran on.</summary>
    public const string PoolOutput = "batch_pool";

    /// <summary>Sub-folder of an attempt's output prefix where Batch uploads stdout.txt / stderr.txt; not an artifact.</summary>
    public const string LogFolder = "_batch/";

    private const string OutputsFileName = "outputs.json";
    private const int MaxOutputsJsonBytes = 64 * 1024;

    private readonly BatchOptions _options;
    private readonly BatchClient _client;

    // Job creations by job id: a run's later (and concurrent) tasks share one create-job call instead of each paying
    // a POST, a 409 JobExists and a confirming GET.
    private readonly ConcurrentDictionary<string, Lazy<Task<BatchCreateResult>>> _jobs = new(StringComparer.OrdinalIgnoreCase);
    private const int MaxKnownJobs = 10_000;
    private readonly ILogger _logger;

    /// <summary>Creates the executor.</summary>
    public BatchExecutor(BatchOptions options, BatchClient client, ILogger<BatchExecutor>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(client);
        _options = options;
        _client = client;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public ExecutorKind Kind => ExecutorKind.Batch;

    /// <inheritdoc />
    public async Task<TaskOutcome> ExecuteAsync(TaskExecutionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var work = context.Work;
        if (work.Command is not { Count: > 0 } argv || string.IsNullOrWhiteSpace(argv[0]))
        {
            return new TaskOutcome.Failed(
                $"step '{work.StepId}' runs on Azure Batch but has no command: give `run.command` as a non-empty list (argv), e.g. [python, train.py].",
                Retryable: false);
        }

        var pool = work.Resources?.Pool ?? _options.DefaultPoolId;
        if (string.IsNullOrWhiteSpace(pool))
        {
            return new TaskOutcome.Failed(
                $"step '{work.StepId}' runs on Azure Batch but names no pool: set `resources.pool` (e.g. gpu) or the app setting {BatchOptions.SettingNames.DefaultPool}.",
                Retryable: false);
        }

        var state = context.ResumeState is { ValueKind: JsonValueKind.Object } resume
            ? resume.Deserialize<BatchPollState>(BatchJson.Options)
            : null;
        state ??= new BatchPollState(BatchIds.ForRun(_options.JobIdPrefix, work.RunId, pool), BatchIds.ForDispatch(work.DispatchId), pool, 0, 0);

        cancellationToken.ThrowIfCancellationRequested();
        // The attempt's span (AttemptRunner) is current here: say which Batch job and task it is.
        Activity.Current?.SetTag(TrainyardTelemetry.Tags.BatchJob, state.JobId);
        Activity.Current?.SetTag(TrainyardTelemetry.Tags.BatchTask, state.TaskId);
        Activity.Current?.SetTag(TrainyardTelemetry.Tags.BatchPool, state.Pool);
        return state.Poll == 0
            ? await StartAsync(context, state, cancellationToken).ConfigureAwait(false)
            : await PollAsync(context, state, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Terminates the Batch task of an attempt (run cancelled, or the attempt timed out); safe to call twice.</summary>
    public async Task CancelAttemptAsync(TaskWorkItem work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        if ((work.Resources?.Pool ?? _options.DefaultPoolId) is not { Length: > 0 } pool)
        {
            return; // Never submitted: a step without a pool fails before reaching Batch.
        }

        var jobId = BatchIds.ForRun(_options.JobIdPrefix, work.RunId, pool);
        var taskId = BatchIds.ForDispatch(work.DispatchId);
        await _client.TerminateTaskAsync(jobId, taskId, cancellationToken).ConfigureAwait(false);
        LogTerminated(_logger, jobId, taskId);
    }

    /// <summary>
    /// Terminates a finished run's Batch jobs (one per pool its Batch steps use), and with them any task still running
    /// (a cancelled run's, or one whose result no longer matters); Batch keeps completed jobs and their tasks for
    /// inspection. Safe to call twice; a job that was never created is no error.
    /// </summary>
    public async Task RunFinishedAsync(string runId, RunStatus status, PipelineSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var pools = spec.Steps
            .Where(s => s.EffectiveExecutor(spec.Defaults) == ExecutorKind.Batch)
            .Select(s => s.Resources?.Pool ?? _options.DefaultPoolId)
            .OfType<string>()
            .Distinct(StringComparer.OrdinalIgnoreCase);
        foreach (var pool in pools)
        {
            var jobId = BatchIds.ForRun(_options.JobIdPrefix, runId, pool);
            _jobs.TryRemove(jobId, out _);
            await _client.TerminateJobAsync(jobId, $"trainyard run {status.ToString().ToLowerInvariant()}", cancellationToken).ConfigureAwait(false);
            LogJobTerminated(_logger, jobId, runId);
        }
    }

    /// <summary>The task Trainyard sends for an attempt (public so it can be inspected and tested).</summary>
    public BatchTaskSpec BuildTaskSpec(TaskWorkItem work, string taskId)
    {
        ArgumentNullException.ThrowIfNull(work);
        var identity = _options.NodeIdentityResourceId is { } id ? new BatchIdentityReference(id) : null;
        var container = _options.ArtifactContainerUrl.ToString().TrimEnd('/');
        var inputs = InputGroups(work).ToList();

        var setup = new StringBuilder("mkdir -p in out");
        var resourceFiles = new List<BatchResourceFile>();
        for (var i = 0; i < inputs.Count; i++)
        {
            var (target, blobDir) = inputs[i];
            var staging = $".ty-in/{i.ToString(CultureInfo.InvariantCulture)}";
            resourceFiles.Add(new BatchResourceFile
            {
                StorageContainerUrl = container,
                BlobPrefix = blobDir,
                FilePath = staging,
                IdentityReference = identity,
            });

            // Batch keeps the blob path below filePath; copy the attempt's folder to where the local executor puts it.
            var source = staging + "/" + blobDir.TrimEnd('/');
            setup.Append(" && mkdir -p ").Append(ShellCommand.Quote(target))
                .Append(" && if [ -d ").Append(ShellCommand.Quote(source)).Append(" ]; then cp -R ").Append(ShellCommand.Quote(source + "/.")).Append(' ').Append(ShellCommand.Quote(target)).Append("; fi");
        }

        setup.Append(" && export TRAINYARD_INPUT_DIR=\"$PWD/in\" TRAINYARD_OUTPUT_DIR=\"$PWD/out\"");

        var outputPath = _options.ArtifactBlobPrefix + work.OutputPrefix;
        var outputFiles = new List<BatchOutputFile>
        {
            new("out/**/*", new(new(container) { Path = outputPath, IdentityReference = identity }), new("tasksuccess")),
            // stdout/stderr live in the task directory, the parent of the working directory.
            new("../std*.txt", new(new(container) { Path = outputPath + LogFolder, IdentityReference = identity }), new("taskcompletion")),
        };

        var env = new List<BatchEnvironmentSetting>();
        foreach (var (name, value) in work.Env.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            env.Add(new(name, value));
        }

        env.Add(new("TRAINYARD_RUN_ID", work.RunId));
        env.Add(new("TRAINYARD_PIPELINE", work.PipelineName));
        env.Add(new("TRAINYARD_STEP_ID", work.StepId));
        env.Add(new("TRAINYARD_TASK_KEY", work.TaskKey));
        env.Add(new("TRAINYARD_DISPATCH_ID", work.DispatchId));
        env.Add(new("TRAINYARD_ATTEMPT", work.Attempt.ToString(CultureInfo.InvariantCulture)));
        env.Add(new("TRAINYARD_ITEM", work.Item is { } item ? item.GetRawText() : "null"));
        env.Add(new("TRAINYARD_INPUTS", JsonSerializer.Serialize(work.Inputs, EngineJson.Options)));

        return new BatchTaskSpec
        {
            Id = taskId,
            DisplayName = $"{work.PipelineName}/{work.TaskKey} attempt {work.Attempt.ToString(CultureInfo.InvariantCulture)}",
            CommandLine = ShellCommand.ForBatch(work.Command ?? [], setup.ToString()),
            ContainerSettings = work.Image is { Length: > 0 } image
                ? new BatchContainerSettings(image) { WorkingDirectory = "taskWorkingDirectory" }
                : null,
            ResourceFiles = resourceFiles.Count == 0 ? null : resourceFiles,
            OutputFiles = outputFiles,
            EnvironmentSettings = env,
            Constraints = new BatchTaskConstraints { MaxWallClockTime = work.Timeout, MaxTaskRetryCount = 0 },
        };
    }

    /// <summary>Poll delay after <paramref name="poll"/> polls: grows ×1.6 from the initial delay to the cap, ±10% jitter from a hash (no randomness).</summary>
    public TimeSpan PollDelay(string dispatchId, int poll)
    {
        var baseSeconds = _options.PollInitialDelay.TotalSeconds * Math.Pow(1.6, Math.Max(0, poll - 1));
        var capped = Math.Min(baseSeconds, _options.PollMaxDelay.TotalSeconds);
        var hash = BitConverter.ToUInt32(SHA256.HashData(Encoding.UTF8.GetBytes($"{dispatchId}#{poll.ToString(CultureInfo.InvariantCulture)}")), 0);
        var jitter = 0.9 + (hash % 2001) / 10000.0;
        return TimeSpan.FromSeconds(Math.Min(capped * jitter, _options.PollMaxDelay.TotalSeconds));
    }

    private async Task<TaskOutcome> StartAsync(TaskExecutionContext context, BatchPollState state, CancellationToken cancellationToken)
    {
        var work = context.Work;
        try
        {
            var job = await EnsureJobAsync(work, state, cancellationToken).ConfigureAwait(false);
            var spec = BuildTaskSpec(work, state.TaskId);
            BatchCreateResult task;
            try
            {
                task = await _client.CreateTaskAsync(state.JobId, spec, cancellationToken).ConfigureAwait(false);
            }
            catch (BatchException e) when (e.Code == "JobNotFound")
            {
                // The remembered job is gone (deleted outside Trainyard): create it again, once.
                _jobs.TryRemove(state.JobId, out _);
                job = await EnsureJobAsync(work, state, cancellationToken).ConfigureAwait(false);
                task = await _client.CreateTaskAsync(state.JobId, spec, cancellationToken).ConfigureAwait(false);
            }

            LogTaskSubmitted(_logger, state.JobId, state.TaskId, state.Pool, task == BatchCreateResult.AlreadyExisted);
            await context.Log(
                task == BatchCreateResult.Created
                    ? $"[trainyard] submitted Batch task {state.TaskId} to job {state.JobId} on pool {state.Pool}" + (job ? " (new job)" : "")
                    : $"[trainyard] Batch task {state.TaskId} already existed in job {state.JobId} (redelivered dispatch); polling it, not starting a second one",
                cancellationToken).ConfigureAwait(false);
        }
        catch (BatchException e) when (!e.IsTransient)
        {
            return new TaskOutcome.Failed(
                $"step '{work.StepId}': Azure Batch refused the task ({e.Status} {e.Code}): {e.BatchMessage}. Check the pool '{state.Pool}', the step's command and image, and the account's permissions.",
                Retryable: e.Status is 401 or 403 or 409);
        }
        catch (BatchException e)
        {
            return new TaskOutcome.Failed(
                $"step '{work.StepId}': Azure Batch stayed unavailable while creating the task ({e.Status} {e.Code}: {e.BatchMessage}); the attempt will be retried.",
                Retryable: true);
        }

        var next = state with { Poll = 1 };
        return new TaskOutcome.Pending(PollDelay(work.DispatchId, 1), JsonSerializer.SerializeToElement(next, BatchJson.Options));
    }

    /// <summary>Creates the run's job on the pool unless this executor created or confirmed it already; true when this call created it.</summary>
    private async Task<bool> EnsureJobAsync(TaskWorkItem work, BatchPollState state, CancellationToken cancellationToken)
    {
        if (_jobs.Count >= MaxKnownJobs)
        {
            _jobs.Clear();
        }

        var issued = false;
        var create = _jobs.GetOrAdd(state.JobId, id => new Lazy<Task<BatchCreateResult>>(() =>
        {
            issued = true;
            return _client.CreateJobAsync(
                new BatchJobSpec(id, new BatchPoolInfo(state.Pool)) { DisplayName = $"{work.PipelineName} run {work.RunId} on {state.Pool}" },
                cancellationToken);
        }));
        try
        {
            return await create.Value.ConfigureAwait(false) == BatchCreateResult.Created && issued;
        }
        catch
        {
            // A failed (or cancelled) create is not remembered: the next attempt asks Batch again.
            _jobs.TryRemove(new KeyValuePair<string, Lazy<Task<BatchCreateResult>>>(state.JobId, create));
            throw;
        }
    }

    private async Task<TaskOutcome> PollAsync(TaskExecutionContext context, BatchPollState state, CancellationToken cancellationToken)
    {
        var work = context.Work;
        BatchTaskInfo? task;
        try
        {
            task = await _client.GetTaskAsync(state.JobId, state.TaskId, cancellationToken).ConfigureAwait(false);
        }
        catch (BatchException e) when (e.IsTransient)
        {
            // Batch stays busy beyond the pipeline's retries: look again later rather than failing a running task.
            await context.Log($"[trainyard] Batch busy while polling ({e.Status} {e.Code}); polling again later", cancellationToken).ConfigureAwait(false);
            return Pending(work, state with { Poll = state.Poll + 1 });
        }

        if (task is null)
        {
            return new TaskOutcome.Failed(
                $"step '{work.StepId}': Batch task {state.TaskId} in job {state.JobId} no longer exists (deleted outside Trainyard); the attempt will be retried.",
                Retryable: true);
        }

        var requeues = task.ExecutionInfo?.RequeueCount ?? 0;
        if (requeues > state.RequeueCount)
        {
            BatchCost.RecordRequeue(state.Pool, requeues - state.RequeueCount);
            LogRequeued(_logger, state.JobId, state.TaskId, requeues);
            await context.Log(
                $"[trainyard] Batch requeued task {state.TaskId} (node pre-empted or removed; requeueCount {requeues.ToString(CultureInfo.InvariantCulture)}). It runs again on another node; this is not a failed attempt.",
                cancellationToken).ConfigureAwait(false);
            state = state with { RequeueCount = requeues };
        }

        if (!task.IsCompleted)
        {
            return Pending(work, state with { Poll = state.Poll + 1 });
        }

        return await CompleteAsync(context, state, task, cancellationToken).ConfigureAwait(false);
    }

    private async Task<TaskOutcome> CompleteAsync(TaskExecutionContext context, BatchPollState state, BatchTaskInfo task, CancellationToken cancellationToken)
    {
        var work = context.Work;
        var info = task.ExecutionInfo ?? new BatchTaskExecutionInfo();
        var pool = task.NodeInfo?.PoolId ?? state.Pool;
        var nodeTime = info.StartTime is { } start && info.EndTime is { } end && end > start ? end - start : TimeSpan.Zero;
        var cost = BatchCost.Estimate(_options.PoolPricesUsdPerNodeHour, pool, nodeTime);
        BatchCost.Record(pool, work.PipelineName, nodeTime, cost);

        await CopyLogAsync(context, state, "stdout.txt", null, cancellationToken).ConfigureAwait(false);
        var stderr = await CopyLogAsync(context, state, "stderr.txt", "[stderr] ", cancellationToken).ConfigureAwait(false);
        var exitCode = info.ExitCode;
        await context.Log(
            string.Create(CultureInfo.InvariantCulture, $"[trainyard] Batch task {state.TaskId} completed: result {info.Result ?? "unknown"}, exit code {exitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}, node time {nodeTime.TotalSeconds:0.#} s on pool {pool}, estimated cost ${cost:0.####}"),
            cancellationToken).ConfigureAwait(false);

        var failed = string.Equals(info.Result, "failure", StringComparison.OrdinalIgnoreCase) || info.FailureInfo is not null || exitCode is not (null or 0);
        if (failed)
        {
            return new TaskOutcome.Failed(FailureMessage(work, state, info, nodeTime, stderr), Retryable: true, ExitCode: exitCode);
        }

        var outputs = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        var artifacts = new List<ArtifactRef>();
        await foreach (var artifact in context.Artifacts.ListAsync(work.OutputPrefix, cancellationToken).ConfigureAwait(false))
        {
            var name = artifact.Path[work.OutputPrefix.Length..];
            if (name.StartsWith(LogFolder, StringComparison.Ordinal))
            {
                continue;
            }

            if (name == OutputsFileName)
            {
                var error = await ReadOutputsAsync(context, artifact, outputs, cancellationToken).ConfigureAwait(false);
                if (error is not null)
                {
                    return new TaskOutcome.Failed(error, Retryable: false);
                }

                continue;
            }

            artifacts.Add(new ArtifactRef(name, artifact.Path, artifact.Sha256, artifact.Size));
        }

        outputs[BatchCost.CostOutput] = JsonSerializer.SerializeToElement(cost);
        outputs[BatchCost.NodeSecondsOutput] = JsonSerializer.SerializeToElement(Math.Round(nodeTime.TotalSeconds, 3));
        outputs[RequeueOutput] = JsonSerializer.SerializeToElement(state.RequeueCount);
        outputs[ExitCodeOutput] = JsonSerializer.SerializeToElement(exitCode ?? 0);
        outputs[PoolOutput] = JsonSerializer.SerializeToElement(pool);
        outputs[BatchCost.TaskIdOutput] = JsonSerializer.SerializeToElement(state.TaskId);
        return new TaskOutcome.Succeeded(new TaskResult { Outputs = outputs, Artifacts = artifacts });
    }

    private static string FailureMessage(TaskWorkItem work, BatchPollState state, BatchTaskExecutionInfo info, TimeSpan nodeTime, string? stderr)
    {
        var sb = new StringBuilder();
        var timedOut = work.Timeout is { } limit && nodeTime >= limit - TimeSpan.FromSeconds(1);
        if (timedOut)
        {
            sb.Append(CultureInfo.InvariantCulture, $"step '{work.StepId}' timed out on Azure Batch after {work.Timeout} (maxWallClockTime) and was stopped by Batch; raise `timeout` or make the command faster.");
        }
        else if (info.ExitCode is int code && code != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"step '{work.StepId}': command exited with code {code} on Azure Batch (task {state.TaskId}, job {state.JobId}).");
        }
        else
        {
            sb.Append(CultureInfo.InvariantCulture, $"step '{work.StepId}': Azure Batch task {state.TaskId} failed.");
        }

        if (info.FailureInfo is { } failure)
        {
            var says = $" Batch says: {failure.Category ?? "error"} {failure.Code ?? ""}: {failure.Message ?? ""}";
            sb.Append(says.TrimEnd(' ', ':'));
            if (failure.Category is "servererror")
            {
                sb.Append(" (a Batch-side error; retrying may help)");
            }
        }

        if (!string.IsNullOrWhiteSpace(stderr))
        {
            var lines = stderr.TrimEnd().Split('\n');
            sb.Append(" Last stderr lines:\n").Append(string.Join('\n', lines.TakeLast(20)));
        }

        return sb.ToString();
    }

    private async Task<string?> CopyLogAsync(TaskExecutionContext context, BatchPollState state, string file, string? prefix, CancellationToken cancellationToken)
    {
        string? text;
        try
        {
            // The copy Batch uploaded on completion first: it outlives the node (pools scale to zero), and costs no Batch request.
            text = await ReadUploadedLogAsync(context, file, cancellationToken).ConfigureAwait(false)
                ?? await _client.GetTaskFileTailAsync(state.JobId, state.TaskId, file, _options.MaxLogBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (BatchException e)
        {
            // The node may be gone (scaled to zero); the uploaded copy under _batch/ stays in storage.
            await context.Log($"[trainyard] could not read {file} from the Batch node ({e.Status} {e.Code}); see {context.Work.OutputPrefix}{LogFolder}{file} in the artifact store", cancellationToken).ConfigureAwait(false);
            return null;
        }

        if (text is null)
        {
            return null;
        }

        foreach (var line in text.Split('\n'))
        {
            var trimmed = line.TrimEnd('\r');
            if (trimmed.Length > 0)
            {
                await context.Log(prefix is null ? trimmed : prefix + trimmed, cancellationToken).ConfigureAwait(false);
            }
        }

        return text;
    }

    /// <summary>The end (at most MaxLogBytes) of a log file Batch uploaded under the attempt's `_batch/` folder; null when it is not there.</summary>
    private async Task<string?> ReadUploadedLogAsync(TaskExecutionContext context, string file, CancellationToken cancellationToken)
    {
        var stream = await context.Artifacts.OpenReadAsync(context.Work.OutputPrefix + LogFolder + file, cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return null;
        }

        await using (stream.ConfigureAwait(false))
        {
            // Keep only the tail while streaming: a chatty training loop can log far more than the step log keeps.
            var max = _options.MaxLogBytes;
            using var tail = new MemoryStream();
            var buffer = new byte[81920];
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                tail.Write(buffer, 0, read);
                if (tail.Length > 2L * max)
                {
                    var keep = tail.GetBuffer().AsSpan((int)tail.Length - max, max).ToArray();
                    tail.SetLength(0);
                    tail.Write(keep);
                }
            }

            var bytes = tail.GetBuffer().AsSpan(0, (int)tail.Length);
            return Encoding.UTF8.GetString(bytes.Length > max ? bytes[^max..] : bytes);
        }
    }

    private static async Task<string?> ReadOutputsAsync(TaskExecutionContext context, ArtifactInfo artifact, Dictionary<string, JsonElement> outputs, CancellationToken cancellationToken)
    {
        var step = context.Work.StepId;
        if (artifact.Size > MaxOutputsJsonBytes)
        {
            return $"step '{step}': {OutputsFileName} is {artifact.Size} bytes, more than the {MaxOutputsJsonBytes}-byte limit; keep it to small values (metrics, names) and write large data as separate files in TRAINYARD_OUTPUT_DIR.";
        }

        await using var stream = await context.Artifacts.OpenReadAsync(artifact.Path, cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return null;
        }

        try
        {
            using var doc = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return $"step '{step}': {OutputsFileName} must hold a JSON object ({{\"name\": value}}), not a {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}.";
            }

            foreach (var property in doc.RootElement.EnumerateObject())
            {
                outputs[property.Name] = property.Value.Clone();
            }

            return null;
        }
        catch (JsonException ex)
        {
            return $"step '{step}': {OutputsFileName} is not valid JSON (line {ex.LineNumber + 1}): {ex.Message} Write one JSON object, e.g. {{\"accuracy\": 0.91}}.";
        }
    }

    private TaskOutcome.Pending Pending(TaskWorkItem work, BatchPollState state) =>
        new(PollDelay(work.DispatchId, state.Poll), JsonSerializer.SerializeToElement(state, BatchJson.Options));

    /// <summary>Groups upstream artifacts by the attempt folder they came from: (target folder under in/, blob prefix).</summary>
    private IEnumerable<(string Target, string BlobDir)> InputGroups(TaskWorkItem work)
    {
        foreach (var (stepId, refs) in work.UpstreamArtifacts.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var dirs = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var artifact in refs)
            {
                if (artifact.Path.EndsWith(artifact.Name, StringComparison.Ordinal))
                {
                    dirs.Add(artifact.Path[..^artifact.Name.Length]);
                }
            }

            foreach (var dir in dirs)
            {
                var item = ItemFolder(stepId, dir);
                var target = item.Length == 0 ? $"in/{stepId}" : $"in/{stepId}/{item}";
                yield return (target, _options.ArtifactBlobPrefix + dir);
            }
        }
    }

    /// <summary>Foreach items of a step get one sub-folder each (`in/step/0/…`), as with the local executor.</summary>
    private static string ItemFolder(string stepId, string dir)
    {
        // Paths are runs/{run}/{taskKey}/{dispatchId}/; a foreach task key is `step[i]`.
        var segments = dir.Split('/');
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

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Batch task {TaskId} in job {JobId} submitted to pool {Pool} (already existed: {Existed})")]
    private static partial void LogTaskSubmitted(ILogger logger, string jobId, string taskId, string pool, bool existed);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Batch requeued task {TaskId} in job {JobId}; requeueCount {RequeueCount}")]
    private static partial void LogRequeued(ILogger logger, string jobId, string taskId, int requeueCount);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Information, Message = "Terminated Batch task {TaskId} in job {JobId}")]
    private static partial void LogTerminated(ILogger logger, string jobId, string taskId);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Information, Message = "Terminated Batch job {JobId} of finished run {RunId}")]
    private static partial void LogJobTerminated(ILogger logger, string jobId, string runId);
}

/// <summary>What the executor keeps between polls (the work message's ResumeState).</summary>
internal sealed record BatchPollState(string JobId, string TaskId, string Pool, int Poll, int RequeueCount);
