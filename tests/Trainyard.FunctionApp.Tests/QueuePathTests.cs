using System.Text.Json.Nodes;

namespace Trainyard.FunctionApp.Tests;

public sealed class QueuePathTests
{
    [Fact]
    public async Task ManualRun_DrivenThroughAdvanceRunAndExecuteTask_Succeeds()
    {
        await using var app = await AppHarness.StartAsync();
        await app.PushAsync("""
            name: hello
            steps:
              - id: greet
                uses: echo
                with:
                  message: hi
            """);
        var (status, result) = await app.InvokeAsync("Api", Payloads.Http("POST", "pipelines/hello/runs", "{}"));
        Assert.Equal(200, status);
        var (resStatus, body) = Payloads.Res(result);
        Assert.Equal(201, resStatus);
        var runId = body["runId"]!.GetValue<string>();

        var run = await app.DriveAsync(runId, TimeSpan.FromSeconds(30));

        Assert.Equal("succeeded", run["status"]?.GetValue<string>());
    }
}
