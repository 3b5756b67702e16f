using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Trainyard.FunctionApp.Functions;

namespace Trainyard.FunctionApp.Tests;

public sealed class PublishTests
{
    [Fact]
    public async Task Publish_HoldsHostJsonFunctionFoldersAndExecutable_AndEveryFunctionHasAnEndpoint()
    {
        var repo = FindRepoRoot();
        var output = Directory.CreateTempSubdirectory("trainyard-publish-").FullName;
        try
        {
            var publish = Process.Start(new ProcessStartInfo("dotnet", ["publish", Path.Combine(repo, "src/Trainyard.FunctionApp"), "-c", "Release", "-o", output, "-nologo", "-v", "q"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            using var publishTimeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            var stdout = publish.StandardOutput.ReadToEndAsync(publishTimeout.Token);
            await publish.WaitForExitAsync(publishTimeout.Token);
            Assert.True(publish.ExitCode == 0, "dotnet publish failed: " + await stdout);

            var host = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output, "host.json")))!;
            var exe = host["customHandler"]!["description"]!["defaultExecutablePath"]!.GetValue<string>();
            Assert.True(File.Exists(Path.Combine(output, exe)), $"host.json names '{exe}', which is not in the publish output");

            var folders = Directory.GetDirectories(output).Where(d => File.Exists(Path.Combine(d, "function.json"))).Select(Path.GetFileName).Order().ToList();
            Assert.Equal(FunctionNames.All.Order(), folders);

            int port = FreePort();
            var start = new ProcessStartInfo(Path.Combine(output, exe)) { WorkingDirectory = output, RedirectStandardOutput = true, RedirectStandardError = true };
            start.Environment["FUNCTIONS_CUSTOMHANDLER_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            start.Environment["TRAINYARD_STORE"] = "memory";
            using var app = Process.Start(start)!;
            try
            {
                using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
                using var ready = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                while (true)
                {
                    try
                    {
                        if ((await http.GetAsync("/", ready.Token)).IsSuccessStatusCode)
                        {
                            break;
                        }
                    }
                    catch (HttpRequestException)
                    {
                        await Task.Delay(100, ready.Token);
                    }
                }

                foreach (var function in folders)
                {
                    using var content = new StringContent("{\"Data\":{},\"Metadata\":{}}", System.Text.Encoding.UTF8, "application/json");
                    var response = await http.PostAsync("/" + function, content);
                    Assert.NotEqual(HttpStatusCode.NotFound, response.StatusCode);
                    Assert.NotEqual(HttpStatusCode.MethodNotAllowed, response.StatusCode);
                }
            }
            finally
            {
                app.Kill(entireProcessTree: true);
                await app.WaitForExitAsync();
            }
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "FunctionApp.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("FunctionApp.sln not found above the test folder");
    }
}
