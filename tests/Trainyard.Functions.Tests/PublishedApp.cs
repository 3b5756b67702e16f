using System.Diagnostics;
using System.Text.Json.Nodes;
using Trainyard.Testing;

namespace Trainyard.Functions.Tests;

/// <summary>
/// The Function App published once per test run (`dotnet publish src/Trainyard.Functions -c Release -o TEMP`), as azd
/// deploys it; the folder is deleted when the run ends.
/// </summary>
public sealed class PublishedApp : IAsyncLifetime
{
    /// <summary>The publish folder.</summary>
    public string Folder { get; } = Directory.CreateTempSubdirectory("trainyard-functions-publish-").FullName;

    /// <summary>functions.metadata, by function name.</summary>
    public IReadOnlyDictionary<string, JsonObject> Functions { get; private set; } = new Dictionary<string, JsonObject>();

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        // The inner WorkerExtensions build (net8.0, repo props off) prints NU1603 warnings for packages our source serves
        // in newer versions; harmless there, silenced so the output stays readable.
        var start = new ProcessStartInfo("dotnet", ["publish", RepoPaths.Of("src", "Trainyard.Functions"), "-c", "Release", "-o", Folder, "-nologo", "-v", "q", "-p:NoWarn=NU1603"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var publish = Process.Start(start)!;
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        var stdout = publish.StandardOutput.ReadToEndAsync(limit.Token);
        var stderr = publish.StandardError.ReadToEndAsync(limit.Token);
        try
        {
            await publish.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            publish.Kill(entireProcessTree: true);
            throw new TimeoutException("dotnet publish src/Trainyard.Functions ran longer than 8 minutes");
        }

        Assert.True(publish.ExitCode == 0, $"dotnet publish failed ({publish.ExitCode}):\n{await stdout}\n{await stderr}");
        var metadata = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(Folder, "functions.metadata")))!.AsArray();
        Functions = metadata.Select(f => f!.AsObject()).ToDictionary(f => f["name"]!.GetValue<string>(), StringComparer.Ordinal);
    }

    /// <inheritdoc />
    public Task DisposeAsync()
    {
        Directory.Delete(Folder, recursive: true);
        return Task.CompletedTask;
    }

    /// <summary>A file of the publish output as JSON.</summary>
    public JsonNode Json(string file) => JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, file)))!;
}
