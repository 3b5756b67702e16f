using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainyard.Engine.Durable;
using Trainyard.Service;

namespace Trainyard.Functions.Tests;

/// <summary>The app's settings are read strictly (identity only), and its one DI extension wires everything the functions ask for.</summary>
public sealed class AppSettingsTests
{
    private static Func<string, string?> Settings(params (string Name, string Value)[] values) =>
        name => values.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void KeyBasedConnectionString_IsRefused_NamingTheIdentitySettings()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => AppSettings.Read(Settings((AppSettings.Storage, "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc"))));
        Assert.Contains(AppSettings.StorageAccountName, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("abc", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NoStorage_IsRefused_SayingWhatToSet()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => AppSettings.Read(Settings()));
        Assert.Contains("UseDevelopmentStorage=true", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(AppSettings.TaskHub, "Bad_Hub")]
    [InlineData(AppSettings.RetentionDays, "a month")]
    public void BadValues_AreRefused_NamingTheSetting(string name, string value)
    {
        var ex = Assert.ThrowsAny<Exception>(() => AppSettings.Read(Settings((AppSettings.Storage, "UseDevelopmentStorage=true"), (name, value))));
        Assert.Contains(name == AppSettings.TaskHub ? "Task hub" : name, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IdentityStorage_ReadsTheAccountAndClientId()
    {
        var values = AppSettings.Read(Settings((AppSettings.StorageAccountName, "sttrainyard"), (AppSettings.AzureClientId, "00000000-0000-0000-0000-000000000001"), (AppSettings.RetentionDays, "0")));
        Assert.Equal(("sttrainyard", "00000000-0000-0000-0000-000000000001", false, null), (values.StorageAccountName, values.ClientId, values.DevelopmentStorage, values.Retention));
    }

    [Fact]
    public void AddTrainyardFunctions_OnAzurite_ResolvesWhatEveryFunctionAsksFor()
    {
        using var provider = Provider((AppSettings.TaskHub, "tyfunctest"));

        Assert.IsType<DurableActivities>(provider.GetRequiredService<IDurableActivities>());
        Assert.NotNull(provider.GetRequiredService<ServiceHandlers>());
        Assert.Null(provider.GetRequiredService<DriftSubscription>().Drain);
        Assert.IsType<Trainyard.Storage.Azure.QueueSignalSink>(provider.GetRequiredService<Trainyard.Execution.Contracts.ISignalSink>());
        Assert.Equal(TimeSpan.FromDays(30), provider.GetRequiredService<TriggerOptions>().Retention);

        // The worker's serializer is what the Durable extension turns into its data converter: engine JSON.
        var serializer = provider.GetRequiredService<IOptions<WorkerOptions>>().Value.Serializer!;
        var json = serializer.Serialize(new RunSignal { Kind = RunSignal.Cancel, EventId = "c1" }).ToString();
        Assert.Equal("""{"kind":"cancel","eventId":"c1"}""", json);
    }

    [Fact]
    public void AddTrainyardFunctions_WithAServiceBusNamespace_DrainsTheDriftSubscription()
    {
        using var provider = Provider((AppSettings.ServiceBusNamespace, "sb-ty.servicebus.windows.net"));

        Assert.NotNull(provider.GetRequiredService<DriftSubscription>().Drain);
        Assert.IsType<Trainyard.Messaging.ServiceBus.ServiceBusSignalSink>(provider.GetRequiredService<Trainyard.Execution.Contracts.ISignalSink>());
    }

    [Fact]
    public void BatchSettings_GiveTheRunnerABatchExecutor_WithoutThemAttemptsAreRefusedNamingTheSetting()
    {
        using var batchProvider = Provider(
            (AppSettings.BatchEndpoint, "https://acct.westeurope.batch.azure.com"),
            (AppSettings.BatchArtifactContainerUrl, "https://st.blob.core.windows.net/trainyard-artifacts"),
            (AppSettings.AzureClientId, "00000000-0000-0000-0000-000000000001"));
        using var plainProvider = Provider();
        var withBatch = (DurableActivities)batchProvider.GetRequiredService<IDurableActivities>();
        var without = (DurableActivities)plainProvider.GetRequiredService<IDurableActivities>();

        Assert.True(withBatch.Runner.HasExecutor(Trainyard.Core.Spec.ExecutorKind.Batch));
        Assert.False(without.Runner.HasExecutor(Trainyard.Core.Spec.ExecutorKind.Batch));
        Assert.Contains(AppSettings.BatchEndpoint, without.Runner.Options.MissingExecutorHints[Trainyard.Core.Spec.ExecutorKind.Batch], StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunFinished_SendsTheRunsNotifyWebhook_SignedWithTheSecretFromAnAppSetting()
    {
        await using var hook = new Trainyard.Testing.WebhookReceiver();
        using var provider = Provider(("TY_HOOK_SECRET", "app-secret"));
        var activities = (DurableActivities)provider.GetRequiredService<IDurableActivities>();
        var spec = Trainyard.Core.Spec.PipelineLoader.LoadOrThrow($$"""
            name: hooked
            notify:
              - url: {{hook.Url}}
                secretFrom: TY_HOOK_SECRET
            steps:
              - id: boom
                uses: fail
            """, "hooked.yaml");
        var run = new Trainyard.Core.Engine.RunState { RunId = "hooked-1", PipelineName = "hooked", PipelineHash = "h", Status = Trainyard.Core.Engine.RunStatus.Failed, Error = "boom failed" };

        await activities.OnRunFinished!(spec, run, CancellationToken.None);

        var delivered = Assert.Single(hook.Snapshot()); // delivered before the hook returned
        Assert.Contains("\"event\":\"run-failed\"", delivered.Body, StringComparison.Ordinal);
        Assert.Contains("hooked-1", delivered.Body, StringComparison.Ordinal);
        Assert.Equal(Trainyard.Notifications.WebhookSender.Sign("app-secret", delivered.Headers["X-Trainyard-Timestamp"], delivered.Body), delivered.Headers["X-Trainyard-Signature"]);
    }

    /// <summary>The app's services on Azurite with the given settings on top.</summary>
    private static ServiceProvider Provider(params (string Name, string Value)[] values)
    {
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddSingleton(typeof(ILogger<>), typeof(NullLogger<>));
        services.AddTrainyardFunctions(Settings([(AppSettings.Storage, "UseDevelopmentStorage=true"), .. values]));
        return services.BuildServiceProvider();
    }
}
