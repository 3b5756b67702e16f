using System.Net;
using System.Reflection;
using Trainyard.Execution.Artifacts;
using Trainyard.Execution.Contracts;
using Trainyard.Service;
using Xunit.Abstractions;

namespace Trainyard.Dashboard.Tests;

/// <summary>A store that cannot be read gives the user a 500 naming the cause, never a stack trace or an empty reply.</summary>
public sealed class StoreFailureTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("/runs/r1", "text/html")]
    [InlineData("/runs/r1/tasks/a", "text/html")]
    [InlineData("/api/runs/r1/timeline", "application/json")]
    public async Task AStoreThatThrows_GivesA500NamingTheCause_WithoutAStackTrace(string path, string type)
    {
        var source = new DurableDashboardSource(Down<IRunControl>(), Down<IPipelineStore>(), Down<IKeyValueStore>(), Down<IArtifactStore>());
        await using var server = await DashboardServer.StartAsync(new DashboardOptions { Durable = source, LoggerProvider = new TestOutputLoggerProvider(output) }, CancellationToken.None);
        using var http = new HttpClient { Timeout = DashboardHarness.Bound };
        http.DefaultRequestHeaders.Authorization = new("Bearer", server.Token);

        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{server.Port}{path}"));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.StartsWith(type, response.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        Assert.Contains("store is down", body, StringComparison.Ordinal);
        Assert.DoesNotContain(" at Trainyard", body, StringComparison.Ordinal);
    }

    private static T Down<T>()
        where T : class => DispatchProxy.Create<T, DownProxy>();

    /// <summary>Every call fails as an unreachable store does.</summary>
    public class DownProxy : DispatchProxy
    {
        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => throw new IOException("the store is down");
    }
}
