using System.Text.Json;
using System.Text.Json.Serialization;

namespace Trainyard.Compute.Batch;

// Shapes of the Batch data-plane REST API (api-version 2025-06-01) that Trainyard sends and reads; property names are
// the documented camelCase JSON names. Only the fields Trainyard uses are modelled; unknown fields are ignored on read.

/// <summary>A job to add: `POST /jobs`.</summary>
public sealed record BatchJobSpec(string Id, BatchPoolInfo PoolInfo)
{
    /// <summary>What Batch does when all tasks completed ("noaction": Trainyard terminates the job itself).</summary>
    public string OnAllTasksComplete { get; init; } = "noaction";

    /// <summary>Display name (free text).</summary>
    public string? DisplayName { get; init; }
}

/// <summary>The pool a job runs on.</summary>
public sealed record BatchPoolInfo(string PoolId);

/// <summary>A job as returned by `GET /jobs/{id}`.</summary>
public sealed record BatchJobInfo(string Id, string State)
{
    /// <summary>Pool.</summary>
    public BatchPoolInfo? PoolInfo { get; init; }
}

/// <summary>A task to add: `POST /jobs/{job}/tasks`.</summary>
public sealed record BatchTaskSpec
{
    /// <summary>Task id (see <see cref="BatchIds"/>).</summary>
    public required string Id { get; init; }

    /// <summary>Command line (not run under a shell by Batch).</summary>
    public required string CommandLine { get; init; }

    /// <summary>Display name.</summary>
    public string? DisplayName { get; init; }

    /// <summary>Container to run in.</summary>
    public BatchContainerSettings? ContainerSettings { get; init; }

    /// <summary>Files downloaded before the command runs.</summary>
    public IReadOnlyList<BatchResourceFile>? ResourceFiles { get; init; }

    /// <summary>Files uploaded after it ran.</summary>
    public IReadOnlyList<BatchOutputFile>? OutputFiles { get; init; }

    /// <summary>Environment variables.</summary>
    public IReadOnlyList<BatchEnvironmentSetting>? EnvironmentSettings { get; init; }

    /// <summary>Limits.</summary>
    public BatchTaskConstraints? Constraints { get; init; }
}

/// <summary>containerSettings of a task.</summary>
public sealed record BatchContainerSettings(string ImageName)
{
    /// <summary>Extra `docker create` options.</summary>
    public string? ContainerRunOptions { get; init; }

    /// <summary>"taskWorkingDirectory" (default) or "containerImageDefault".</summary>
    public string? WorkingDirectory { get; init; }
}

/// <summary>A resource file: all blobs of a container under a prefix, fetched with a managed identity.</summary>
public sealed record BatchResourceFile
{
    /// <summary>Container URL (no SAS when <see cref="IdentityReference"/> is set).</summary>
    public string? StorageContainerUrl { get; init; }

    /// <summary>Only blobs whose name starts with this.</summary>
    public string? BlobPrefix { get; init; }

    /// <summary>Directory (relative to the task working directory) to download into; blob paths are kept below it.</summary>
    public string? FilePath { get; init; }

    /// <summary>Identity used to read the container.</summary>
    public BatchIdentityReference? IdentityReference { get; init; }
}

/// <summary>identityReference: a user-assigned identity attached to the pool.</summary>
public sealed record BatchIdentityReference(string ResourceId);

/// <summary>An output file rule.</summary>
public sealed record BatchOutputFile(string FilePattern, BatchOutputFileDestination Destination, BatchOutputFileUploadOptions UploadOptions);

/// <summary>Where output files go.</summary>
public sealed record BatchOutputFileDestination(BatchOutputFileBlobContainerDestination Container);

/// <summary>A blob container destination.</summary>
public sealed record BatchOutputFileBlobContainerDestination(string ContainerUrl)
{
    /// <summary>Blob name (no wildcard in the pattern) or virtual directory prepended to each blob name.</summary>
    public string? Path { get; init; }

    /// <summary>Identity used to write the container.</summary>
    public BatchIdentityReference? IdentityReference { get; init; }
}

/// <summary>uploadOptions: "tasksuccess", "taskfailure" or "taskcompletion".</summary>
public sealed record BatchOutputFileUploadOptions(string UploadCondition);

/// <summary>An environment variable.</summary>
public sealed record BatchEnvironmentSetting(string Name, string? Value);

/// <summary>Task constraints.</summary>
public sealed record BatchTaskConstraints
{
    /// <summary>Longest run time from start (ISO 8601 duration on the wire).</summary>
    [JsonConverter(typeof(Iso8601DurationConverter))]
    public TimeSpan? MaxWallClockTime { get; init; }

    /// <summary>How long the task directory is kept on the node.</summary>
    [JsonConverter(typeof(Iso8601DurationConverter))]
    public TimeSpan? RetentionTime { get; init; }

    /// <summary>Batch's own retries; Trainyard owns retries, so 0.</summary>
    public int? MaxTaskRetryCount { get; init; }
}

/// <summary>A task as returned by `GET /jobs/{job}/tasks/{task}` or in a task list.</summary>
public sealed record BatchTaskInfo
{
    /// <summary>Task id.</summary>
    public required string Id { get; init; }

    /// <summary>active, preparing, running or completed.</summary>
    public required string State { get; init; }

    /// <summary>The command line it was created with.</summary>
    public string? CommandLine { get; init; }

    /// <summary>Creation time.</summary>
    public DateTimeOffset? CreationTime { get; init; }

    /// <summary>Execution details (times, exit code, failure, requeues).</summary>
    public BatchTaskExecutionInfo? ExecutionInfo { get; init; }

    /// <summary>Node the task ran on.</summary>
    public BatchTaskNodeInfo? NodeInfo { get; init; }

    /// <summary>True when completed.</summary>
    [JsonIgnore]
    public bool IsCompleted => string.Equals(State, "completed", StringComparison.OrdinalIgnoreCase);
}

/// <summary>executionInfo of a task.</summary>
public sealed record BatchTaskExecutionInfo
{
    /// <summary>When the current run started.</summary>
    public DateTimeOffset? StartTime { get; init; }

    /// <summary>When it completed.</summary>
    public DateTimeOffset? EndTime { get; init; }

    /// <summary>Exit code of the command line.</summary>
    public int? ExitCode { get; init; }

    /// <summary>Why it failed, when it did.</summary>
    public BatchTaskFailureInfo? FailureInfo { get; init; }

    /// <summary>"success" or "failure".</summary>
    public string? Result { get; init; }

    /// <summary>Batch's own retries (0: Trainyard sets maxTaskRetryCount 0).</summary>
    public int RetryCount { get; init; }

    /// <summary>Times Batch requeued the task (node pre-emption or removal); not the task's fault.</summary>
    public int RequeueCount { get; init; }
}

/// <summary>failureInfo of a task.</summary>
public sealed record BatchTaskFailureInfo
{
    /// <summary>usererror or servererror.</summary>
    public string? Category { get; init; }

    /// <summary>Batch's code, e.g. FailureExitCode.</summary>
    public string? Code { get; init; }

    /// <summary>Batch's message.</summary>
    public string? Message { get; init; }
}

/// <summary>nodeInfo of a task.</summary>
public sealed record BatchTaskNodeInfo
{
    /// <summary>Pool id.</summary>
    public string? PoolId { get; init; }

    /// <summary>Node id.</summary>
    public string? NodeId { get; init; }
}

/// <summary>A page of a list: `{"value":[...],"odata.nextLink":"..."}`.</summary>
internal sealed record BatchListPage<T>
{
    public IReadOnlyList<T> Value { get; init; } = [];

    [JsonPropertyName("odata.nextLink")]
    public string? NextLink { get; init; }
}

/// <summary>Batch's error body: `{"code","message":{"lang","value"},"values":[{"key","value"}]}`.</summary>
internal sealed record BatchErrorBody
{
    public string? Code { get; init; }

    public BatchErrorMessage? Message { get; init; }

    public IReadOnlyList<BatchErrorDetail>? Values { get; init; }
}

internal sealed record BatchErrorMessage(string? Lang, string? Value);

internal sealed record BatchErrorDetail(string? Key, string? Value);

/// <summary>JSON settings for the Batch wire format.</summary>
internal static class BatchJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}

/// <summary>Reads and writes TimeSpan as an ISO 8601 duration (PT1H30M), as Batch does.</summary>
internal sealed class Iso8601DurationConverter : JsonConverter<TimeSpan?>
{
    public override TimeSpan? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? null : System.Xml.XmlConvert.ToTimeSpan(reader.GetString()!);

    public override void Write(Utf8JsonWriter writer, TimeSpan? value, JsonSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNullValue();
            return;
        }

        writer.WriteStringValue(System.Xml.XmlConvert.ToString(value.Value));
    }
}
