using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Xunit;

namespace Trainyard.Testing;

/// <summary>
/// Azure Storage for tests: Azurite, the real emulator. Uses the account in <c>TRAINYARD_AZURITE</c> when set (scripts/test.sh
/// starts Azurite and sets it to <c>UseDevelopmentStorage=true</c>); otherwise starts Azurite from <c>.tools/</c> itself
/// on free 127.0.0.1 ports and stops it afterwards. When neither works the tests FAIL saying how to install it; they
/// are skipped only when <c>TRAINYARD_SKIP_AZURITE=1</c> is set explicitly (see <see cref="AzuriteFactAttribute"/>).
/// </summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    /// <summary>Environment variable with the connection string of a running Azurite (or storage account).</summary>
    public const string ConnectionVariable = "TRAINYARD_AZURITE";

    /// <summary>Environment variable that, set to 1, skips every Azurite test (visibly, as skipped).</summary>
    public const string SkipVariable = "TRAINYARD_SKIP_AZURITE";

    /// <summary>How to get Azurite, for failure messages.</summary>
    public const string InstallHint =
        "Azurite is needed for the Azure Storage tests: run `bash scripts/test.sh` (installs azurite@3.35.0 into .tools/ and starts it), " +
        "or `npm install --prefix .tools azurite@3.35.0` (Node 20+), or start Azurite yourself and set TRAINYARD_AZURITE=UseDevelopmentStorage=true. " +
        "To skip these tests on purpose set TRAINYARD_SKIP_AZURITE=1.";

    // Azurite's fixed development account (published in Microsoft's Azurite docs; only the emulator accepts it). Needed
    // because UseDevelopmentStorage=true cannot name the free ports a private Azurite listens on.
    private const string DevAccount = "devstoreaccount1";
    private const string DevKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private Process? _process;
    private string? _location;

    /// <summary>True when the tests are skipped on request (TRAINYARD_SKIP_AZURITE=1).</summary>
    public static bool SkipRequested => Environment.GetEnvironmentVariable(SkipVariable) == "1";

    /// <summary>Connection string of the Azurite in use.</summary>
    public string ConnectionString { get; private set; } = "";

    /// <summary>A fresh task hub name, unique per test (tests delete it when done).</summary>
    public static string NewTaskHub() => "t" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        if (SkipRequested)
        {
            return;
        }

        if (Environment.GetEnvironmentVariable(ConnectionVariable) is { Length: > 0 } given)
        {
            ConnectionString = given;
            return;
        }

        ConnectionString = await StartAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_process is { } p)
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await p.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }

            p.Dispose();
        }

        if (_location is not null && Directory.Exists(_location))
        {
            Directory.Delete(_location, recursive: true);
        }
    }

    /// <summary>
    /// A CLI `--store` value for this Azurite and <paramref name="taskHub"/>. The CLI takes no keys or connection strings,
    /// only <c>UseDevelopmentStorage=true</c> (Azurite on 127.0.0.1:10000), so a private Azurite on other ports cannot be
    /// named: then this fails saying how to run such tests.
    /// </summary>
    public string CliStore(string taskHub)
    {
        EnsureAvailable();
        return string.Equals(ConnectionString.Trim().TrimEnd(';'), "UseDevelopmentStorage=true", StringComparison.OrdinalIgnoreCase)
            ? $"azure:UseDevelopmentStorage=true;TaskHub={taskHub}"
            : throw new InvalidOperationException(
                "This test runs the CLI on Azurite, which it reaches only as UseDevelopmentStorage=true (127.0.0.1:10000): start Azurite on the " +
                $"default ports and set {ConnectionVariable}=UseDevelopmentStorage=true (bash scripts/test.sh does both).");
    }

    /// <summary>Fails with <see cref="InstallHint"/> when Azurite could not be reached or started.</summary>
    public void EnsureAvailable()
    {
        if (ConnectionString.Length == 0)
        {
            throw new InvalidOperationException("Azurite is not available. " + InstallHint);
        }
    }

    private async Task<string> StartAsync()
    {
        var root = RepoRoot() ?? throw new InvalidOperationException($"Cannot find the repository root (FunctionApp.sln) above {AppContext.BaseDirectory}. {InstallHint}");
        var azurite = Path.Combine(root, ".tools", "node_modules", "azurite", "dist", "src", "azurite.js");
        if (!File.Exists(azurite))
        {
            throw new InvalidOperationException($"Azurite is not installed at {azurite} and {ConnectionVariable} is not set. {InstallHint}");
        }

        _location = Directory.CreateTempSubdirectory("trainyard-azurite-").FullName;
        var (blob, queue, table) = (FreePort(), FreePort(), FreePort());
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     azurite, "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--location", _location,
                     "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
                     "--blobPort", blob.ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "--queuePort", queue.ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "--tablePort", table.ToString(System.Globalization.CultureInfo.InvariantCulture),
                 })
        {
            start.ArgumentList.Add(arg);
        }

        try
        {
            _process = Process.Start(start) ?? throw new InvalidOperationException("node did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"Cannot run node to start Azurite ({e.Message}). {InstallHint}", e);
        }

        _process.OutputDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        var errors = new System.Text.StringBuilder();
        _process.ErrorDataReceived += (_, e) => { lock (errors) { errors.AppendLine(e.Data); } };
        _process.BeginErrorReadLine();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!(await Listening(blob).ConfigureAwait(false) && await Listening(queue).ConfigureAwait(false) && await Listening(table).ConfigureAwait(false)))
        {
            if (_process.HasExited || timeout.IsCancellationRequested)
            {
                string why;
                lock (errors)
                {
                    why = errors.ToString();
                }

                throw new InvalidOperationException($"Azurite did not start within 30 s (exit: {(_process.HasExited ? _process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "still running")}): {why} {InstallHint}");
            }

            await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
        }

        return $"DefaultEndpointsProtocol=http;AccountName={DevAccount};AccountKey={DevKey};" +
               $"BlobEndpoint=http://127.0.0.1:{blob}/{DevAccount};QueueEndpoint=http://127.0.0.1:{queue}/{DevAccount};TableEndpoint=http://127.0.0.1:{table}/{DevAccount};";
    }

    private static async Task<bool> Listening(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? RepoRoot() => RepoPaths.TryFindRoot();
}

/// <summary>A test that needs Azurite: skipped (visibly) only when TRAINYARD_SKIP_AZURITE=1, never silently.</summary>
public sealed class AzuriteFactAttribute : FactAttribute
{
    /// <summary>Sets Skip when Azurite tests are switched off on request.</summary>
    public AzuriteFactAttribute()
    {
        if (AzuriteFixture.SkipRequested)
        {
            Skip = "Azurite tests skipped on request (TRAINYARD_SKIP_AZURITE=1).";
        }
    }
}

/// <summary>A theory that needs Azurite (see <see cref="AzuriteFactAttribute"/>).</summary>
public sealed class AzuriteTheoryAttribute : TheoryAttribute
{
    /// <summary>Sets Skip when Azurite tests are switched off on request.</summary>
    public AzuriteTheoryAttribute()
    {
        if (AzuriteFixture.SkipRequested)
        {
            Skip = "Azurite tests skipped on request (TRAINYARD_SKIP_AZURITE=1).";
        }
    }
}
