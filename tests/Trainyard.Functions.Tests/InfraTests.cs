using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Trainyard.Testing;
using YamlDotNet.RepresentationModel;

namespace Trainyard.Functions.Tests;

/// <summary>
/// infra/ (Bicep), azure.yaml and the app's settings list agree, and every Bicep file builds and lints cleanly with the
/// bicep CLI from the Azure.Bicep.CommandLine.linux-x64 package (offline: no registry modules).
/// </summary>
public sealed partial class InfraTests
{
    private static readonly Lazy<JsonNode> CompiledMain = new(() => JsonNode.Parse(BicepCli.BuildToStdout("infra/main.bicep"))!);

    [Fact]
    public void BicepBuild_EveryBicepFile_CompilesWithoutErrorsOrWarnings()
    {
        var files = BicepFiles();
        var outDir = Directory.CreateTempSubdirectory("trainyard-bicep-").FullName;
        try
        {
            var result = BicepCli.Run(["build", "--pattern", "infra/**/*.bicep", "--outdir", outDir]);
            Assert.True(result.ExitCode == 0 && Diagnostics(result).Count == 0, $"bicep build failed (exit {result.ExitCode}):\n{result.Output}");

            // The pattern must really have reached every file: one compiled template per .bicep file.
            var compiled = Directory.GetFiles(outDir, "*.json", SearchOption.AllDirectories).Select(f => Path.GetFileNameWithoutExtension(f)).Order().ToList();
            Assert.Equal(files.Select(f => Path.GetFileNameWithoutExtension(f)).Order(), compiled);
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    [Fact]
    public void BicepLint_EveryBicepFile_HasNoDiagnostics()
    {
        Assert.NotEmpty(BicepFiles());
        var result = BicepCli.Run(["lint", "--pattern", "infra/**/*.bicep"]);
        Assert.True(result.ExitCode == 0 && Diagnostics(result).Count == 0, $"bicep lint reported problems (exit {result.ExitCode}):\n{result.Output}");
    }

    [Fact]
    public void BicepLint_ABicepFileWithAnUnusedParameter_IsReported()
    {
        // The lint test above passes only if the CLI really reports what the rules catch: prove it on a bad file
        // linted with the repository's rules (a copy of infra/bicepconfig.json next to it).
        var dir = Directory.CreateTempSubdirectory("trainyard-bicep-lint-").FullName;
        try
        {
            File.Copy(RepoPaths.Of("infra", "bicepconfig.json"), Path.Combine(dir, "bicepconfig.json"));
            var bad = Path.Combine(dir, "probe.bicep");
            File.WriteAllText(bad, "param unused string\nvar alsoUnused = 'x'\n");
            var found = Diagnostics(BicepCli.Run(["lint", bad]));
            Assert.Contains(found, d => d.Contains("no-unused-params", StringComparison.Ordinal));
            Assert.Contains(found, d => d.Contains("no-unused-vars", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void AzureAppSettings_BicepSetsExactlyTheSettingsTheAppAndHostReadInAzure()
    {
        var site = Assert.Single(FunctionAppSites(CompiledMain.Value));
        var problems = SettingsProblems(AppSettingsOf(site));
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void SettingsProblems_TemplateMissingOneSettingAndAddingAnother_ReportsBoth()
    {
        var site = Assert.Single(FunctionAppSites(CompiledMain.Value.DeepClone()));
        var settings = AppSettingsOf(site);
        var dropped = settings.First(s => s.Name == AppSettings.BatchEndpoint);
        settings.Remove(dropped);
        settings.Add(("TRAINYARD_NOBODY_READS_THIS", "x"));
        settings.Add((AppSettings.WorkerRuntime, "dotnet-isolated"));

        var problems = SettingsProblems(settings);

        Assert.Contains(problems, p => p.Contains(AppSettings.BatchEndpoint, StringComparison.Ordinal) && p.Contains("not set by", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("TRAINYARD_NOBODY_READS_THIS", StringComparison.Ordinal) && p.Contains("not in AppSettings.All", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains(AppSettings.WorkerRuntime, StringComparison.Ordinal) && p.Contains("LocalOnly", StringComparison.Ordinal));
    }

    [Fact]
    public void AzureYaml_FunctionService_IsTheOneBicepTagsAndItsHookExists()
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(File.ReadAllText(RepoPaths.Of("azure.yaml"))));
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        var services = (YamlMappingNode)root["services"];
        var (name, service) = Assert.Single(services.Children.Select(kv => (((YamlScalarNode)kv.Key).Value!, (YamlMappingNode)kv.Value)));
        Assert.Equal("function", ((YamlScalarNode)service["host"]).Value);
        var project = ((YamlScalarNode)service["project"]).Value!;
        Assert.True(Directory.Exists(RepoPaths.Of(project)), $"azure.yaml: service '{name}' names project '{project}', which does not exist");

        // main.bicep passes the function app module tags = union(tags, { 'azd-service-name': serviceName }).
        var compiled = CompiledMain.Value;
        var module = Deployments(compiled).Single(d => FunctionAppSites(d["properties"]!["template"]!).Any());
        var tags = module["properties"]!["parameters"]!["tags"]!["value"]!.GetValue<string>();
        Assert.Contains("createObject('azd-service-name', variables('serviceName'))", tags, StringComparison.Ordinal);
        Assert.Equal(name, compiled["variables"]!["serviceName"]!.GetValue<string>());

        var hooks = (YamlMappingNode)root["hooks"];
        var postdeploy = (YamlMappingNode)hooks["postdeploy"];
        var run = ((YamlScalarNode)((YamlMappingNode)postdeploy["posix"])["run"]).Value!;
        Assert.True(File.Exists(RepoPaths.Of(run)), $"azure.yaml: postdeploy hook '{run}' does not exist");
    }

    [Fact]
    public void MainParameters_EveryParameterAzdPassesIsDeclaredByMainBicep()
    {
        var declared = CompiledMain.Value["parameters"]!.AsObject().Select(p => p.Key).ToHashSet();
        var passed = JsonNode.Parse(File.ReadAllText(RepoPaths.Of("infra", "main.parameters.json")))!["parameters"]!.AsObject().Select(p => p.Key).ToList();
        Assert.NotEmpty(passed);
        Assert.All(passed, p => Assert.True(declared.Contains(p), $"infra/main.parameters.json passes '{p}', which infra/main.bicep does not declare"));
        Assert.All(new[] { "environmentName", "location", "principalId" }, p => Assert.Contains(p, passed));
    }

    [Fact]
    public void ServiceBusTopicAndSubscription_AreTheOnesDrainServiceBusReads()
    {
        var compiled = CompiledMain.Value;
        Assert.Equal(AppSettings.DriftTopic, compiled["variables"]!["names"]!["topic"]!.GetValue<string>());
        Assert.Equal(AppSettings.DriftSubscriptionName, compiled["variables"]!["names"]!["subscription"]!.GetValue<string>());
        var serviceBusModule = Deployments(compiled).Single(d => d["name"]?.GetValue<string>() == "servicebus");
        var passed = serviceBusModule["properties"]!["parameters"]!.AsObject();
        Assert.Equal("[variables('names').topic]", passed["topicName"]!["value"]!.GetValue<string>());
        Assert.Equal("[variables('names').subscription]", passed["subscriptionName"]!["value"]!.GetValue<string>());
    }

    [Fact]
    public void FunctionApp_RunsDotnetIsolated10_OnFlexConsumption_WithAlwaysReadyDurableInstances()
    {
        var site = Assert.Single(FunctionAppSites(CompiledMain.Value));
        var config = site["properties"]!["functionAppConfig"]!;
        Assert.Equal("dotnet-isolated", config["runtime"]!["name"]!.GetValue<string>());
        Assert.Equal("10.0", config["runtime"]!["version"]!.GetValue<string>());
        var alwaysReady = config["scaleAndConcurrency"]!["alwaysReady"]!.AsArray();
        var durable = Assert.Single(alwaysReady, a => a!["name"]!.GetValue<string>() == "durable");
        Assert.True(durable!["instanceCount"]!.GetValue<int>() >= 1);
    }

    [Fact]
    public void AppIdentity_HasTheStorageAndServiceBusRolesDurableAndTheTriggersNeed()
    {
        var module = Deployments(CompiledMain.Value).Single(d => d["name"]?.GetValue<string>() == "role-assignments");
        var template = module["properties"]!["template"]!.ToJsonString();
        Assert.Contains("Microsoft.Authorization/roleAssignments", template, StringComparison.Ordinal);
        // Role definition ids (built-in roles): Blob Data Owner (includes Contributor; the host's blob trigger needs it),
        // Queue and Table Data Contributor (Durable's task hub), Service Bus Data Receiver and Sender.
        foreach (var (role, id) in new[]
        {
            ("Storage Blob Data Owner", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"),
            ("Storage Queue Data Contributor", "974c5e8b-45b9-4653-ba55-5f855dd0fb88"),
            ("Storage Table Data Contributor", "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"),
            ("Azure Service Bus Data Receiver", "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"),
            ("Azure Service Bus Data Sender", "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"),
        })
        {
            Assert.True(template.Contains(id, StringComparison.Ordinal), $"infra/app/role-assignments.bicep assigns no {role} ({id})");
        }
    }

    [Fact]
    public void Infra_HasNoKeysOrConnectionStrings()
    {
        foreach (var file in BicepFiles())
        {
            var text = File.ReadAllText(file);
            foreach (var banned in new[] { "listKeys(", "AccountKey=", "SharedAccessKey", "connectionString:" })
            {
                // blob-events.bicep reads the host's blobs_extension system key for the Event Grid webhook: that is the
                // documented way to reach the blob extension, not a storage or Service Bus key.
                if (banned == "listKeys(" && file.EndsWith("blob-events.bicep", StringComparison.Ordinal))
                {
                    continue;
                }

                Assert.False(text.Contains(banned, StringComparison.Ordinal), $"{file} contains '{banned}': use identity-based connections");
            }
        }
    }

    private static List<string> SettingsProblems(IReadOnlyCollection<(string Name, string Value)> inBicep)
    {
        var problems = new List<string>();
        var byName = AppSettings.All.ToDictionary(s => s.Name, StringComparer.Ordinal);
        var azureSide = AppSettings.All.Where(s => s.Place is SettingPlace.Both or SettingPlace.AzureOnly).Select(s => s.Name).ToList();
        foreach (var name in azureSide.Where(n => !inBicep.Any(s => s.Name == n)))
        {
            problems.Add($"{name} is read in Azure ({byName[name].Place}) but not set by infra/app/function-app.bicep: add it to siteConfig.appSettings.");
        }

        foreach (var (name, value) in inBicep)
        {
            if (!byName.TryGetValue(name, out var setting))
            {
                problems.Add($"infra sets {name}, which is not in AppSettings.All: nothing reads it; remove it, or add it to AppSettings.cs with who reads it.");
            }
            else if (setting.Place is not (SettingPlace.Both or SettingPlace.AzureOnly))
            {
                problems.Add($"infra sets {name}, which AppSettings.All marks {setting.Place} (never an Azure app setting): remove it from the Bicep or change its place.");
            }
            else if (string.IsNullOrWhiteSpace(value))
            {
                problems.Add($"infra sets {name} to an empty value: give it the Azure value.");
            }
        }

        if (inBicep.GroupBy(s => s.Name).FirstOrDefault(g => g.Count() > 1) is { } duplicate)
        {
            problems.Add($"infra sets {duplicate.Key} {duplicate.Count()} times.");
        }

        return problems;
    }

    private static List<(string Name, string Value)> AppSettingsOf(JsonNode site) =>
        site["properties"]!["siteConfig"]!["appSettings"]!.AsArray()
            .Select(s => (s!["name"]!.GetValue<string>(), s["value"]?.ToJsonString() ?? ""))
            .ToList();

    private static IEnumerable<JsonNode> FunctionAppSites(JsonNode template) =>
        Resources(template).Where(r => r["type"]?.GetValue<string>() == "Microsoft.Web/sites" && r["kind"]?.GetValue<string>()?.Contains("functionapp", StringComparison.Ordinal) == true);

    private static IEnumerable<JsonNode> Deployments(JsonNode template) =>
        Resources(template).Where(r => r["type"]?.GetValue<string>() == "Microsoft.Resources/deployments");

    /// <summary>Every resource of a compiled template, nested module deployments included.</summary>
    private static IEnumerable<JsonNode> Resources(JsonNode template)
    {
        var resources = template["resources"] switch
        {
            JsonArray array => array.Select(r => r!),
            JsonObject map => map.Select(kv => kv.Value!),
            _ => [],
        };
        foreach (var resource in resources)
        {
            yield return resource;
            if (resource["properties"]?["template"] is JsonObject nested)
            {
                foreach (var inner in Resources(nested))
                {
                    yield return inner;
                }
            }
        }
    }

    private static List<string> BicepFiles() =>
        Directory.GetFiles(RepoPaths.Of("infra"), "*.bicep", SearchOption.AllDirectories).ToList();

    /// <summary>Diagnostic lines, "file(line,col) : Warning|Error rule: message".</summary>
    private static List<string> Diagnostics(BicepCli.Result result) =>
        result.Output.Split('\n').Where(l => DiagnosticLine().IsMatch(l)).ToList();

    [GeneratedRegex(@"\(\d+,\d+\) : (Error|Warning|Info) ")]
    private static partial Regex DiagnosticLine();

    /// <summary>The bicep CLI of the Azure.Bicep.CommandLine.linux-x64 package (its path is baked in at build time).</summary>
    private static class BicepCli
    {
        public sealed record Result(int ExitCode, string Stdout, string Output);

        private static readonly Lazy<string> Executable = new(Find);

        public static string BuildToStdout(string file)
        {
            var result = Run(["build", file, "--stdout"]);
            Assert.True(result.ExitCode == 0, $"bicep build {file} failed:\n{result.Output}");
            return result.Stdout;
        }

        public static Result Run(string[] args)
        {
            var start = new ProcessStartInfo(Executable.Value, args)
            {
                WorkingDirectory = RepoPaths.Root,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            start.Environment["BICEP_TRACING_ENABLED"] = "false";
            using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {Executable.Value}");
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"bicep {string.Join(' ', args)} ran longer than 2 minutes");
            }

            process.WaitForExit();
            return new Result(process.ExitCode, stdout.Result, stderr.Result + stdout.Result);
        }

        private static string Find()
        {
            var configured = typeof(InfraTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "BicepPath")?.Value;
            Assert.False(string.IsNullOrEmpty(configured), "the test assembly has no BicepPath: the Azure.Bicep.CommandLine.linux-x64 package reference (which sets it) is missing from the test project");
            var path = Path.GetFullPath(configured!.Replace('\\', '/'));
            Assert.True(File.Exists(path), $"no bicep CLI at {path}: restore the test project (dotnet restore) to fetch Azure.Bicep.CommandLine.linux-x64");
            if (!OperatingSystem.IsWindows())
            {
                // Package extraction does not always keep the executable bit.
                var mode = File.GetUnixFileMode(path);
                if ((mode & UnixFileMode.UserExecute) == 0)
                {
                    File.SetUnixFileMode(path, mode | UnixFileMode.UserExecute);
                }
            }

            return path;
        }
    }
}
