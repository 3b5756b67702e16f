using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Compute.Batch;
using Trainyard.Core.Spec;
using Trainyard.Messaging.ServiceBus;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.FunctionApp.Tests;

/// <summary>The Function App picks Batch and the Service Bus signal sink from its app settings.</summary>
public sealed class AzureServicesTests
{
    private static AppSettingsValues Settings(params (string Name, string Value)[] values) =>
        AppSettings.Read(name => values.FirstOrDefault(v => v.Name == name).Value);

    [Fact]
    public void BatchEndpointSet_RegistersTheBatchExecutor()
    {
        var executors = new List<ITaskExecutor>();
        var missing = AzureServices.AddBatch(executors, Settings(
            (AppSettings.BatchEndpoint, "https://acct.westeurope.batch.azure.com"),
            (AppSettings.BatchArtifactContainerUrl, "https://st.blob.core.windows.net/trainyard-artifacts"),
            (AppSettings.AzureClientId, "00000000-0000-0000-0000-000000000001")), NullLoggerFactory.Instance);
        Assert.IsType<BatchExecutor>(Assert.Single(executors));
        Assert.Empty(missing);
    }

    [Fact]
    public void NoBatchEndpoint_NoExecutor_AndRunsAreRefusedNamingTheSetting()
    {
        var executors = new List<ITaskExecutor>();
        var missing = AzureServices.AddBatch(executors, Settings(), NullLoggerFactory.Instance);
        Assert.Empty(executors);
        Assert.Contains(AppSettings.BatchEndpoint, missing[ExecutorKind.Batch], StringComparison.Ordinal);
    }

    [Fact]
    public void BadBatchSettings_HostStillStarts_AndTheHintNamesTheBadSetting()
    {
        var executors = new List<ITaskExecutor>();
        var missing = AzureServices.AddBatch(executors, Settings(
            (AppSettings.BatchEndpoint, "https://acct.westeurope.batch.azure.com"),
            (AppSettings.BatchArtifactContainerUrl, "https://st.blob.core.windows.net/trainyard-artifacts"),
            (AppSettings.BatchPoolPrices, "gpu:0.5")), NullLoggerFactory.Instance);
        Assert.Empty(executors);
        Assert.Contains(AppSettings.BatchPoolPrices, missing[ExecutorKind.Batch], StringComparison.Ordinal);
    }

    [Fact]
    public void ServiceBusNamespaceSet_DriftSignalsGoToTheDriftSignalsTopic()
    {
        var services = new ServiceCollection();
        AzureServices.AddSignalSink(services, Settings((AppSettings.ServiceBusNamespace, "sb-trainyard.servicebus.windows.net")));
        using var provider = services.BuildServiceProvider();
        var sink = Assert.IsType<ServiceBusSignalSink>(provider.GetRequiredService<ISignalSink>());
        Assert.Equal(new Uri("https://sb-trainyard.servicebus.windows.net/drift-signals/messages"), sink.MessagesUri);
    }

    [Fact]
    public void NoServiceBusNamespace_NoSink_SoTheDriftStepKeepsItsLocalQueue()
    {
        var services = new ServiceCollection();
        AzureServices.AddSignalSink(services, Settings());
        using var provider = services.BuildServiceProvider();
        Assert.Null(provider.GetService<ISignalSink>());
    }
}
