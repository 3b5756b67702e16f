using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Trainyard.Storage.Azure;
using Trainyard.Testing;

namespace Trainyard.Cli.Tests;

/// <summary>
/// infra/hooks/postdeploy.sh (azd postdeploy) run for real by sh, with `az` and `curl` replaced by recording stubs (the
/// Azure control plane has no local form) and the real CLI pushing the samples into Azurite.
/// </summary>
[NeedsAzurite]
[Collection(AzuriteCliCollection.Name)]
public sealed partial class PostdeployHookTests(AzuriteFixture azurite) : IDisposable
{
    private readonly TrainyardProcesses _cli = new();
    private readonly string _stubs = Directory.CreateTempSubdirectory("trainyard-hook-").FullName;

    public void Dispose()
    {
        _cli.Dispose();
        Directory.Delete(_stubs, recursive: true);
    }

    [AzuriteFact]
    public async Task Hook_KeyPresent_DeploysBlobEventsWithTheTemplatesParameters_AndRegistersEverySample()
    {
        azurite.EnsureAvailable();
        var store = azurite.CliStore(AzuriteFixture.NewTaskHub());
        var stores = new AzureBlobStores(AzureStorageOptions.Parse(store));
        try
        {
            var run = await RunHookAsync(new() { ["STUB_KEY"] = "k3y", ["TRAINYARD_SAMPLES_STORE"] = store });
            Assert.True(run.ExitCode == 0, run.Output);

            var deploy = Assert.Single(AzCalls(), c => c.StartsWith("deployment group create", StringComparison.Ordinal));
            var template = Regex.Match(deploy, @" -f (\S+)").Groups[1].Value;
            Assert.True(File.Exists(RepoPaths.Of(template)), $"the hook deploys {template}, which does not exist");
            var passed = Regex.Matches(deploy, @"(?<= )(\w+)=").Select(m => m.Groups[1].Value).ToHashSet();
            var declared = BicepParams(RepoPaths.Of(template));
            Assert.All(passed, p => Assert.True(declared.ContainsKey(p), $"the hook passes {p}, which {template} does not declare"));
            Assert.All(declared.Where(d => !d.Value), d => Assert.True(passed.Contains(d.Key), $"{template} needs {d.Key}, which the hook does not pass"));
            Assert.Contains("functionAppName=func-test", deploy, StringComparison.Ordinal);
            Assert.Contains("-g rg-test", deploy, StringComparison.Ordinal);

            var list = await _cli.RunAsync(["pipelines", "list", "--json", "--store", store]);
            Assert.True(list.ExitCode == 0, list.ToString());
            using var rows = JsonDocument.Parse(list.Stdout);
            var registered = rows.RootElement.EnumerateArray().Select(r => r.GetProperty("name").GetString()!).Order().ToList();
            Assert.Equal(SampleNames(), registered);
        }
        finally
        {
            using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await stores.DeleteAllAsync(cleanup.Token);
        }
    }

    [Fact]
    public async Task Hook_KeyNeverAppears_FailsSayingWhatToCheck_AndDeploysNothing()
    {
        var run = await RunHookAsync(new() { ["STUB_KEY"] = "", ["TRAINYARD_KEY_WAIT_ATTEMPTS"] = "2", ["TRAINYARD_KEY_WAIT_SECONDS"] = "0" });

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("no blobs_extension key after 2 attempts", run.Output, StringComparison.Ordinal);
        Assert.Contains("azd hooks run postdeploy", run.Output, StringComparison.Ordinal);
        Assert.Equal(2, AzCalls().Count(c => c.StartsWith("functionapp keys list", StringComparison.Ordinal)));
        Assert.DoesNotContain(AzCalls(), c => c.StartsWith("deployment", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Hook_OutsideAzd_FailsNamingTheMissingValue()
    {
        var run = await RunHookAsync(new() { ["AZURE_FUNCTION_APP_NAME"] = "" });

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("AZURE_FUNCTION_APP_NAME is not set", run.Output, StringComparison.Ordinal);
        Assert.Empty(AzCalls());
    }

    private string AzLog => Path.Combine(_stubs, "az.log");

    private List<string> AzCalls() => File.Exists(AzLog) ? [.. File.ReadAllLines(AzLog)] : [];

    private async Task<(int ExitCode, string Output)> RunHookAsync(Dictionary<string, string> env)
    {
        File.WriteAllText(Path.Combine(_stubs, "az"), """
            #!/bin/sh
            echo "$*" >> "$AZ_LOG"
            case "$1 $2" in
              "account show") exit 0 ;;
              "functionapp keys") [ -n "$STUB_KEY" ] && echo "$STUB_KEY"; exit 0 ;;
              "deployment group") exit 0 ;;
            esac
            echo "stub az: unexpected call: az $*" >&2
            exit 3
            """.Replace("\r", "", StringComparison.Ordinal) + "\n");
        File.WriteAllText(Path.Combine(_stubs, "curl"), "#!/bin/sh\nexit 0\n");
        if (!OperatingSystem.IsWindows())
        {
            foreach (var stub in new[] { "az", "curl" })
            {
                File.SetUnixFileMode(Path.Combine(_stubs, stub), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        var start = new ProcessStartInfo("sh", [RepoPaths.Of("infra", "hooks", "postdeploy.sh")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _stubs,
        };
        var values = new Dictionary<string, string>
        {
            ["PATH"] = _stubs + ":" + Environment.GetEnvironmentVariable("PATH"),
            ["AZ_LOG"] = AzLog,
            ["AZURE_SUBSCRIPTION_ID"] = "00000000-0000-0000-0000-000000000000",
            ["AZURE_RESOURCE_GROUP"] = "rg-test",
            ["AZURE_FUNCTION_APP_NAME"] = "func-test",
            ["AZURE_FUNCTION_APP_URL"] = "https://func-test.azurewebsites.net",
            ["AZURE_EVENTGRID_SYSTEM_TOPIC_NAME"] = "evgst-test",
            ["AZURE_STORAGE_BLOB_ENDPOINT"] = "https://sttest.blob.core.windows.net/",
            ["TRAINYARD_TASK_HUB"] = "trainyard",
            ["TRAINYARD_DATA_CONTAINER"] = "data",
            ["TRAINYARD_CLI"] = $"{DotnetHost()} {Path.Combine(AppContext.BaseDirectory, "cli", "trainyard.dll")}",
            ["TRAINYARD_PUSH_RETRIES"] = "0",
            ["NO_COLOR"] = "1",
        };
        foreach (var (k, v) in env)
        {
            values[k] = v;
        }

        foreach (var (k, v) in values)
        {
            start.Environment[k] = v;
        }

        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("postdeploy.sh ran longer than 3 minutes");
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>Parameters a Bicep file declares, with whether each has a default.</summary>
    private static Dictionary<string, bool> BicepParams(string file) =>
        File.ReadAllLines(file).Select(l => BicepParam().Match(l)).Where(m => m.Success)
            .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Success);

    private static List<string> SampleNames() =>
        Directory.GetFiles(RepoPaths.Of("samples"), "pipeline.yaml", SearchOption.AllDirectories)
            .Select(f => File.ReadAllLines(f).Select(l => SpecName().Match(l)).First(m => m.Success).Groups[1].Value.Trim())
            .Order().ToList();

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    [GeneratedRegex(@"^param (\w+) \w+( =.*)?$")]
    private static partial Regex BicepParam();

    [GeneratedRegex(@"^name: (.+)$")]
    private static partial Regex SpecName();
}
