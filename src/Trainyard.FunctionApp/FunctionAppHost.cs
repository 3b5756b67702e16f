using Microsoft.AspNetCore.Server.Kestrel.Core;
using Trainyard.FunctionApp.Api;
using Trainyard.FunctionApp.Functions;
using Trainyard.FunctionApp.Triggers;
using Trainyard.Runtime;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Registry;
using Trainyard.Execution.Contracts;
using Trainyard.Execution;

namespace Trainyard.FunctionApp;

/// <summary>What tests (and only tests) substitute when they host the app in-process on a real Kestrel server.</summary>
internal sealed record FunctionAppOverrides
{
    /// <summary>Backend to use instead of the one the settings select (the caller owns it).</summary>
    public IBackend? Backend { get; init; }

    /// <summary>Clock for triggers and the engine.</summary>
    public TimeProvider? Time { get; init; }

    /// <summary>Listening URL; "http://127.0.0.1:0" picks a free port.</summary>
    public string? Url { get; init; }
}

/// <summary>Builds the custom handler: Kestrel on 127.0.0.1, the function endpoints, and the services behind them.</summary>
internal static class FunctionAppHost
{
    /// <summary>Builds the app from settings (and test overrides).</summary>
    public static WebApplication Build(AppSettingsValues settings, string[]? args = null, FunctionAppOverrides? overrides = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args ?? []);
        builder.WebHost.UseUrls(overrides?.Url ?? $"http://127.0.0.1:{settings.Port}");
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = FunctionEndpoints.MaxInvocationBytes;
            k.AddServerHeader = false;
        });
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);

        var time = overrides?.Time ?? TimeProvider.System;
        var services = builder.Services;
        services.AddSingleton(settings);
        services.AddSingleton(time);
        if (overrides?.Backend is { } backend)
        {
            services.AddSingleton(new BackendHolder(backend, owned: false));
        }
        else
        {
            services.AddSingleton(_ => new BackendHolder(BackendSelector.Create(settings, time), owned: true));
        }

        services.AddSingleton(sp => sp.GetRequiredService<BackendHolder>().Backend);
        services.AddSingleton(sp => sp.GetRequiredService<IBackend>().Store);
        services.AddSingleton(sp => new PipelineRegistry(sp.GetRequiredService<IRunStore>(), sp.GetRequiredService<IRunStore>(), time));
        AzureServices.AddSignalSink(services, settings);
        services.AddSingleton(sp => EngineFactory.Create(sp, settings, time));
        services.AddSingleton<IRunGateway, EngineGateway>();
        services.AddSingleton<InlineWork>();
        services.AddHostedService(sp => sp.GetRequiredService<InlineWork>());
        services.AddSingleton<IRunLauncher>(sp => sp.GetRequiredService<IRunGateway>());
        services.AddSingleton<TriggerService>();
        services.AddSingleton<ApiHandler>();

        var app = builder.Build();
        FunctionEndpoints.Map(app);
        return app;
    }

    /// <summary>Disposes the backend when the app owns it.</summary>
    internal sealed class BackendHolder(IBackend backend, bool owned) : IAsyncDisposable
    {
        public IBackend Backend { get; } = backend;

        public ValueTask DisposeAsync() => owned ? Backend.DisposeAsync() : ValueTask.CompletedTask;
    }
}
