using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace Trainyard.Cli.Tests;

/// <summary>What a finished `trainyard` child process left.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Everything it printed, for assertion messages.</summary>
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>A running `trainyard` child process whose output is captured.</summary>
public sealed class CliChild
{
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Task _pumps;

    internal CliChild(Process process)
    {
        Process = process;
        _pumps = Task.WhenAll(Pump(process.StandardOutput, _stdout), Pump(process.StandardError, _stderr));
    }

    /// <summary>The process.</summary>
    public Process Process { get; }

    /// <summary>Output so far.</summary>
    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    /// <summary>Waits for exit (bounded) and returns what it printed; kills it and fails when the bound passes.</summary>
    public async Task<CliResult> WaitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await Process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync(CancellationToken.None);
            await _pumps.WaitAsync(TimeSpan.FromSeconds(5));
            throw new TimeoutException($"trainyard {Process.StartInfo.ArgumentList.Skip(1).FirstOrDefault()} did not exit within {timeout}; killed it.\n{Result()}");
        }

        await _pumps.WaitAsync(TimeSpan.FromSeconds(10));
        return Result();
    }

    /// <summary>SIGKILL: no clean-up, no flush, like a power cut of the process.</summary>
    public async Task KillAsync()
    {
        try
        {
            Process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Process.WaitForExitAsync(cts.Token);
        await _pumps.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>SIGTERM: asks for a graceful stop.</summary>
    public void Terminate()
    {
        if (!Process.HasExited)
        {
            // .NET only sends SIGKILL; `kill` (procps) sends the default SIGTERM.
            using var kill = Process.Start("kill", ["-TERM", Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill.WaitForExit(10_000);
        }
    }

    private CliResult Result()
    {
        lock (_stdout)
        {
            lock (_stderr)
            {
                return new CliResult(Process.HasExited ? Process.ExitCode : -1, _stdout.ToString(), _stderr.ToString());
            }
        }
    }

    private static async Task Pump(StreamReader reader, StringBuilder sink)
    {
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            lock (sink)
            {
                sink.Append(buffer, 0, read);
            }
        }
    }
}

/// <summary>
/// Starts the built `trainyard` executable (copied into this test's output by the project reference) as real child
/// processes in a scratch folder, and kills whatever is still running on dispose.
/// </summary>
public sealed class TrainyardProcesses : IDisposable
{
    private readonly ConcurrentBag<CliChild> _children = [];

    /// <summary>Creates a scratch folder used as the working directory (so `.trainyard/` lands there).</summary>
    public TrainyardProcesses()
    {
        WorkingDirectory = Directory.CreateTempSubdirectory("trainyard-cli-").FullName;
    }

    /// <summary>The scratch folder.</summary>
    public string WorkingDirectory { get; }

    /// <summary>Extra environment for every child.</summary>
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    /// <summary>Starts `trainyard args...`.</summary>
    public CliChild Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "cli", "trainyard.dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"the trainyard CLI was not found at {dll}; build tests/Trainyard.Cli.Tests (its CopyCliOutput target copies src/Trainyard.Cli's build output into cli/).");
        }

        var info = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = WorkingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove("TRAINYARD_FAULT");
        info.Environment["NO_COLOR"] = "1";
        foreach (var (k, v) in Environment)
        {
            info.Environment[k] = v;
        }

        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start trainyard");
        process.StandardInput.Close();
        var child = new CliChild(process);
        _children.Add(child);
        return child;
    }

    /// <summary>Runs `trainyard args...` to its end (bounded).</summary>
    public Task<CliResult> RunAsync(IEnumerable<string> args, TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? env = null)
        => Start(args, env).WaitAsync(timeout ?? TimeSpan.FromSeconds(120));

    /// <summary>Writes a file in the scratch folder and returns its full path.</summary>
    public string WriteFile(string name, string text)
    {
        var path = Path.Combine(WorkingDirectory, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text.ReplaceLineEndings("\n"));
        return path;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var child in _children)
        {
            try
            {
                if (!child.Process.HasExited)
                {
                    child.Process.Kill(entireProcessTree: true);
                    child.Process.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException)
            {
                // Exited meanwhile.
            }

            child.Process.Dispose();
        }

        try
        {
            Directory.Delete(WorkingDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A process we could not kill still holds a file; the temp folder is cleaned by the OS later.
        }
    }

    private static string DotnetHost()
        => System.Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}
