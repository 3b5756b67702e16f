using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Queues.Models;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Trainyard.Service;

namespace Trainyard.Functions;

/// <summary>
/// The triggers: thin wrappers over <see cref="TriggerService"/> and <see cref="ServiceBusDrain"/>. A trigger whose
/// run starts failed throws, so the host delivers it again (run ids are deterministic: a redelivery starts one run);
/// a malformed payload is refused with its reason and starts nothing.
/// </summary>
public sealed partial class TriggerFunctions(ServiceHandlers service, DriftSubscription drift, ILogger<TriggerFunctions> logger)
{
    /// <summary>Every minute: due schedules (watermark + catch-up), closed debounce windows, watchdog and purge.</summary>
    [Function(FunctionNames.OnSchedule)]
    public async Task OnSchedule([TimerTrigger(FunctionNames.ScheduleCron)] TimerInfo timer, [DurableClient] DurableTaskClient client, FunctionContext context)
    {
        ArgumentNullException.ThrowIfNull(timer);
        if (timer.IsPastDue)
        {
            // Nothing special to do: the watermarks cover whatever the late firing missed.
            LogPastDue();
        }

        Finish(FunctionNames.OnSchedule, await service.Triggers(client).OnScheduleAsync(context.CancellationToken));
    }

    /// <summary>A blob created in the data container (Event Grid source): the run id comes from its path and ETag.</summary>
    [Function(FunctionNames.OnBlobArrived)]
    public async Task OnBlobArrived(
        [BlobTrigger("%TRAINYARD_DATA_CONTAINER%/{name}", Source = BlobTriggerSource.EventGrid, Connection = "AzureWebJobsStorage")] BlobClient blob,
        [DurableClient] DurableTaskClient client,
        FunctionContext context)
    {
        ArgumentNullException.ThrowIfNull(blob);
        string etag;
        long size;
        try
        {
            // Only the properties: the content is the pipeline's to read (the ingest step, pinned to this ETag).
            var properties = await blob.GetPropertiesAsync(cancellationToken: context.CancellationToken);
            etag = properties.Value.ETag.ToString().Trim('"');
            size = properties.Value.ContentLength;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            LogBlobGone(blob.BlobContainerName, blob.Name);
            return;
        }

        var arrival = new BlobArrival(blob.BlobContainerName, blob.Name, etag, blob.Uri.GetLeftPart(UriPartial.Path), size);
        Finish(FunctionNames.OnBlobArrived, await service.Triggers(client).OnBlobAsync(arrival, context.CancellationToken));
    }

    /// <summary>A drift signal on the Storage queue; a malformed one fails with its reason and, after maxDequeueCount, goes to drift-signals-poison.</summary>
    [Function(FunctionNames.OnDriftSignal)]
    public async Task OnDriftSignal(
        [QueueTrigger(FunctionNames.DriftQueue, Connection = "AzureWebJobsStorage")] QueueMessage message,
        [DurableClient] DurableTaskClient client,
        FunctionContext context)
    {
        ArgumentNullException.ThrowIfNull(message);
        Trainyard.Execution.Contracts.DriftSignal signal;
        try
        {
            signal = DriftSignalReader.ReadQueue(message.Body.ToString(), message.MessageId);
        }
        catch (TriggerPayloadException ex)
        {
            LogMalformed(FunctionNames.OnDriftSignal, message.MessageId, message.DequeueCount, ex.Field, ex.Message);
            throw;
        }

        Finish(FunctionNames.OnDriftSignal, await service.Triggers(client).OnDriftAsync(signal, context.CancellationToken));
    }

    /// <summary>Every 30 seconds: drains the Service Bus drift-signals subscription (peek-lock) when one is configured.</summary>
    [Function(FunctionNames.DrainServiceBus)]
    public async Task DrainServiceBus([TimerTrigger(FunctionNames.DrainCron)] TimerInfo timer, [DurableClient] DurableTaskClient client, FunctionContext context)
    {
        ArgumentNullException.ThrowIfNull(timer);
        if (drift.Drain is not { } drain)
        {
            return;
        }

        var report = await drain.DrainAsync(service.Triggers(client), batchSize: 32, maxWait: TimeSpan.FromSeconds(2), maxBatches: 8, context.CancellationToken);
        LogDrained(report.Received, report.Completed, report.DeadLettered.Count, report.Abandoned.Count);
    }

    private void Finish(string function, TriggerReport report)
    {
        foreach (var line in report.Lines)
        {
            LogLine(function, line);
        }

        if (report.Failures.Count > 0)
        {
            throw new TriggerFailedException($"{function}: {report.Failures.Count} run start(s) failed, so the host delivers the trigger again (run ids are deterministic): {string.Join("; ", report.Failures)}");
        }
    }

    [LoggerMessage(EventId = 6401, Level = LogLevel.Information, Message = "{Function}: {Line}")]
    private partial void LogLine(string function, string line);

    [LoggerMessage(EventId = 6402, Level = LogLevel.Information, Message = "Timer firing is past due; the schedule watermarks catch up")]
    private partial void LogPastDue();

    [LoggerMessage(EventId = 6403, Level = LogLevel.Information, Message = "Blob {Container}/{Name} is gone before its trigger ran; nothing to start")]
    private partial void LogBlobGone(string container, string name);

    [LoggerMessage(EventId = 6404, Level = LogLevel.Warning, Message = "{Function}: message {MessageId} (dequeue {DequeueCount}) refused: field {Field}: {Reason}")]
    private partial void LogMalformed(string function, string messageId, long dequeueCount, string field, string reason);

    [LoggerMessage(EventId = 6405, Level = LogLevel.Information, Message = "Service Bus drain: {Received} received, {Completed} completed, {DeadLettered} dead-lettered, {Abandoned} abandoned")]
    private partial void LogDrained(int received, int completed, int deadLettered, int abandoned);
}

/// <summary>Run starts of a trigger failed; the invocation fails so the host delivers the trigger again.</summary>
public sealed class TriggerFailedException(string message) : Exception(message);

/// <summary>The Service Bus drift-signals subscription drain, when ServiceBusConnection__fullyQualifiedNamespace is set.</summary>
/// <param name="Drain">The drain, or null when no Service Bus is configured.</param>
public sealed record DriftSubscription(ServiceBusDrain? Drain);
