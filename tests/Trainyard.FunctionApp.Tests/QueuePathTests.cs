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

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        string? runStatus = null;
        while (!timeout.IsCancellationRequested)
        {
            bool moved = false;
            foreach (var (queue, function) in new[] { (app.Backend.Control, "AdvanceRun"), (app.Backend.Work, "ExecuteTask") })
            {
                foreach (var m in await queue.ReceiveAsync(8, TimeSpan.FromSeconds(30), timeout.Token))
                {
                    // As the Azure backend writes it: an {"id","body"} envelope, JSON-encoded again by the host.
                    var envelope = new JsonObject { ["id"] = m.Id, ["body"] = JsonNode.Parse(m.Body) }.ToJsonString();
                    var (code, response) = await app.InvokeAsync(function, Payloads.Queue(envelope, m.DequeueCount));
                    Assert.Equal(200, code);
                    Payloads.AssertHostShape(response);
                    await queue.CompleteAsync(m, timeout.Token);
                    moved = true;
                }
            }

            var (_, run) = await app.InvokeAsync("Api", Payloads.Http("GET", "runs/" + runId));
            runStatus = Payloads.Res(run).Body["status"]?.GetValue<string>();
            if (runStatus is "succeeded" or "failed")
            {
                break;
            }

            if (!moved)
            {
                await Task.Delay(50, timeout.Token);
            }
        }

        Assert.Equal("succeeded", runStatus);
    }
}
