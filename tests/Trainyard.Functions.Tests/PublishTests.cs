using System.Text.Json.Nodes;
using Trainyard.Engine.Durable;

namespace Trainyard.Functions.Tests;

/// <summary>What the Functions host reads from the published app: functions.metadata, extensions.json, worker.config.json, host.json.</summary>
public sealed class PublishTests(PublishedApp app) : IClassFixture<PublishedApp>
{
    private static readonly string[] ApiFunctions =
        ["PushPipeline", "ListPipelines", "ShowPipeline", "ShowPipelineVersion", "StartRun", "ListRuns", "ShowRun", "CancelRun", "RetryRun", "RaiseEvent"];

    private JsonObject Trigger(string function)
    {
        Assert.True(app.Functions.ContainsKey(function), $"functions.metadata has no function '{function}'; it has {string.Join(", ", app.Functions.Keys)}");
        var bindings = app.Functions[function]["bindings"]!.AsArray().Select(b => b!.AsObject()).ToList();
        return Assert.Single(bindings, b => b["type"]!.GetValue<string>().EndsWith("Trigger", StringComparison.Ordinal) && b["direction"]!.GetValue<string>() == "In");
    }

    private List<JsonObject> Bindings(string function) =>
        app.Functions[function]["bindings"]!.AsArray().Select(b => b!.AsObject()).ToList();

    [Fact]
    public void Metadata_ListsExactlyTheAppsFunctions_AllDotnetIsolated()
    {
        string[] expected =
        [
            DurableNames.RunPipeline, DurableNames.RunRemoteTask, DurableNames.RunTaskChunk,
            DurableNames.RunTask, DurableNames.CancelAttempt, DurableNames.LoadPipeline, DurableNames.RunFinished,
            FunctionNames.OnSchedule, FunctionNames.OnBlobArrived, FunctionNames.OnDriftSignal, FunctionNames.DrainServiceBus,
            FunctionNames.Dashboard, .. ApiFunctions,
        ];

        Assert.Equal(expected.Order(StringComparer.Ordinal), app.Functions.Keys.Order(StringComparer.Ordinal));
        Assert.All(app.Functions.Values, f =>
        {
            Assert.Equal("dotnet-isolated", f["language"]!.GetValue<string>());
            Assert.Equal("Trainyard.Functions.dll", f["scriptFile"]!.GetValue<string>());
        });
    }

    [Theory]
    [InlineData(DurableNames.RunPipeline)]
    [InlineData(DurableNames.RunRemoteTask)]
    [InlineData(DurableNames.RunTaskChunk)]
    public void Orchestrators_HaveAnOrchestrationTrigger(string name) =>
        Assert.Equal("orchestrationTrigger", Trigger(name)["type"]!.GetValue<string>());

    [Theory]
    [InlineData(DurableNames.RunTask)]
    [InlineData(DurableNames.CancelAttempt)]
    [InlineData(DurableNames.LoadPipeline)]
    [InlineData(DurableNames.RunFinished)]
    public void Activities_HaveAnActivityTrigger(string name) =>
        Assert.Equal("activityTrigger", Trigger(name)["type"]!.GetValue<string>());

    [Fact]
    public void Timers_FireOnTheirSchedules_WithADurableClient()
    {
        Assert.Equal(("timerTrigger", "0 * * * * *"), (Trigger(FunctionNames.OnSchedule)["type"]!.GetValue<string>(), Trigger(FunctionNames.OnSchedule)["schedule"]!.GetValue<string>()));
        Assert.Equal(("timerTrigger", "15,45 * * * * *"), (Trigger(FunctionNames.DrainServiceBus)["type"]!.GetValue<string>(), Trigger(FunctionNames.DrainServiceBus)["schedule"]!.GetValue<string>()));
        Assert.Contains(Bindings(FunctionNames.OnSchedule), b => b["type"]!.GetValue<string>() == "durableClient");
        Assert.Contains(Bindings(FunctionNames.DrainServiceBus), b => b["type"]!.GetValue<string>() == "durableClient");
    }

    [Fact]
    public void BlobTrigger_UsesTheEventGridSource_OnTheDataContainer()
    {
        var blob = Trigger(FunctionNames.OnBlobArrived);

        Assert.Equal("blobTrigger", blob["type"]!.GetValue<string>());
        Assert.Equal("%TRAINYARD_DATA_CONTAINER%/{name}", blob["path"]!.GetValue<string>());
        Assert.Equal("EventGrid", blob["source"]!.GetValue<string>());
        Assert.Equal("AzureWebJobsStorage", blob["connection"]!.GetValue<string>());
        Assert.Contains(Bindings(FunctionNames.OnBlobArrived), b => b["type"]!.GetValue<string>() == "durableClient");
    }

    [Fact]
    public void QueueTrigger_ReadsTheDriftSignalsQueue()
    {
        var queue = Trigger(FunctionNames.OnDriftSignal);

        Assert.Equal(("queueTrigger", "drift-signals", "AzureWebJobsStorage"), (queue["type"]!.GetValue<string>(), queue["queueName"]!.GetValue<string>(), queue["connection"]!.GetValue<string>()));
        Assert.Contains(Bindings(FunctionNames.OnDriftSignal), b => b["type"]!.GetValue<string>() == "durableClient");
    }

    [Theory]
    [InlineData("PushPipeline", "post", "pipelines")]
    [InlineData("ListPipelines", "get", "pipelines")]
    [InlineData("ShowPipeline", "get", "pipelines/{name}")]
    [InlineData("ShowPipelineVersion", "get", "pipelines/{name}/versions/{hash}")]
    [InlineData("StartRun", "post", "pipelines/{name}/runs")]
    [InlineData("ListRuns", "get", "runs")]
    [InlineData("ShowRun", "get", "runs/{runId}")]
    [InlineData("CancelRun", "post", "runs/{runId}/cancel")]
    [InlineData("RetryRun", "post", "runs/{runId}/retry")]
    [InlineData("RaiseEvent", "post", "runs/{runId}/events/{name}")]
    public void HttpFunctions_HaveTheirRoute_FunctionKeys_AndADurableClient(string function, string method, string route)
    {
        var http = Trigger(function);

        Assert.Equal("httpTrigger", http["type"]!.GetValue<string>());
        Assert.Equal(route, http["route"]!.GetValue<string>());
        Assert.Equal("Function", http["authLevel"]!.GetValue<string>());
        Assert.Equal([method], http["methods"]!.AsArray().Select(m => m!.GetValue<string>()));
        Assert.Contains(Bindings(function), b => b["type"]!.GetValue<string>() == "http" && b["direction"]!.GetValue<string>() == "Out");
        Assert.Contains(Bindings(function), b => b["type"]!.GetValue<string>() == "durableClient");
    }

    [Fact]
    public void Dashboard_ServesEverythingBelowApiUi_Anonymously_ForAppServiceAuthentication_WithADurableClient()
    {
        var http = Trigger(FunctionNames.Dashboard);

        Assert.Equal(("httpTrigger", "ui/{*path}", "Anonymous"), (http["type"]!.GetValue<string>(), http["route"]!.GetValue<string>(), http["authLevel"]!.GetValue<string>()));
        Assert.Equal(["get", "post"], http["methods"]!.AsArray().Select(m => m!.GetValue<string>()));
        Assert.Contains(Bindings(FunctionNames.Dashboard), b => b["type"]!.GetValue<string>() == "durableClient");
    }

    [Fact]
    public void ExtensionsJson_HasDurableTaskAndTheStorageExtensions()
    {
        var names = app.Json("extensions.json")["extensions"]!.AsArray().Select(e => e!["name"]!.GetValue<string>()).ToList();
        Assert.Contains("DurableTask", names);
        Assert.Contains("AzureStorageBlobs", names);
        Assert.Contains("AzureStorageQueues", names);
        Assert.All(app.Json("extensions.json")["extensions"]!.AsArray(), e =>
            Assert.True(File.Exists(Path.Combine(app.Folder, e!["hintPath"]!.GetValue<string>())), $"extensions.json names {e["hintPath"]}, which is not in the publish output"));
    }

    [Fact]
    public void WorkerConfig_IsDotnetIsolated_AndNamesTheAppAssembly()
    {
        var description = app.Json("worker.config.json")["description"]!;
        Assert.Equal("dotnet-isolated", description["language"]!.GetValue<string>());
        Assert.Equal("Trainyard.Functions.dll", description["defaultWorkerPath"]!.GetValue<string>());
        Assert.True(File.Exists(Path.Combine(app.Folder, "Trainyard.Functions.dll")));
    }

    [Fact]
    public void HostJson_IsTheIsolatedDurableOne_NoCustomHandlerNoBundle()
    {
        var host = app.Json("host.json");
        Assert.Null(host["customHandler"]);
        Assert.Null(host["extensionBundle"]);
        var durable = host["extensions"]!["durableTask"]!;
        Assert.Equal("%TRAINYARD_TASK_HUB%", durable["hubName"]!.GetValue<string>());
        Assert.Equal("AzureStorage", durable["storageProvider"]!["type"]!.GetValue<string>());
        Assert.True(TimeSpan.Parse(durable["storageProvider"]!["maxQueuePollingInterval"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) <= TimeSpan.FromSeconds(10));
        // OnDriftSignal reads what QueueSignalSink writes: Base64 text.
        Assert.Equal(Azure.Storage.Queues.QueueMessageEncoding.Base64, Trainyard.Storage.Azure.QueueSignalSink.ClientOptions().MessageEncoding);
        Assert.Equal("base64", host["extensions"]!["queues"]!["messageEncoding"]!.GetValue<string>());
    }

    [Fact]
    public void NoFunctionJson_AnywhereInTheOutput() =>
        Assert.Empty(Directory.GetFiles(app.Folder, "function.json", SearchOption.AllDirectories));
}
