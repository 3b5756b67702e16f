using System.Text;
using System.Text.Json.Nodes;
using Trainyard.Testing;

namespace Trainyard.Functions.Tests;

/// <summary>
/// AppSettings.All is the one list of settings: local.settings.sample.json, the README table and the table in
/// docs/function-app.md must say the same. Run with TRAINYARD_UPDATE_DOCS=1 to rewrite both tables from the code.
/// </summary>
public sealed class SettingsDocsTests
{
    private const string Start = "<!-- settings:start (generated from AppSettings.All; a test checks it) -->";
    private const string End = "<!-- settings:end -->";

    [Fact]
    public void LocalSettingsSample_HoldsEverySettingTheAppOrHostReads_WithItsLocalValue()
    {
        var sample = JsonNode.Parse(File.ReadAllText(RepoPaths.Of("local.settings.sample.json")))!["Values"]!.AsObject();
        var expected = AppSettings.All.ToList();

        Assert.Equal(expected.Select(s => s.Name).Order(StringComparer.Ordinal), sample.Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.All(expected, s => Assert.Equal(s.LocalValue, sample[s.Name]!.GetValue<string>()));
    }

    [Fact]
    public void Readme_DocumentsEverySetting_AsAppSettingsAllSays() =>
        AssertTable(RepoPaths.Of("README.md"), ReadmeTable());

    [Fact]
    public void FunctionAppDoc_DocumentsEverySetting_AsAppSettingsAllSays() =>
        AssertTable(RepoPaths.Of("docs", "function-app.md"), DocTable());

    private static void AssertTable(string path, string table)
    {
        var text = File.ReadAllText(path).ReplaceLineEndings("\n");
        var start = text.IndexOf(Start, StringComparison.Ordinal);
        var end = text.IndexOf(End, StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, $"{path} lacks the generated settings table between '{Start}' and '{End}'");
        var current = text[(start + Start.Length)..end].Trim('\n');
        if (current != table.Trim('\n') && Environment.GetEnvironmentVariable("TRAINYARD_UPDATE_DOCS") == "1")
        {
            File.WriteAllText(path, text[..(start + Start.Length)] + "\n" + table.Trim('\n') + "\n" + text[end..]);
            return;
        }

        Assert.True(current == table.Trim('\n'), $"the settings table in {path} differs from AppSettings.All; run the tests with TRAINYARD_UPDATE_DOCS=1 to regenerate it. Expected:\n{table}");
    }

    private static string ReadmeTable()
    {
        var sb = new StringBuilder("| setting | local value | meaning |\n|---|---|---|\n");
        foreach (var s in AppSettings.All)
        {
            sb.Append($"| `{s.Name}` | {Value(s)} | {s.Meaning} |\n");
        }

        return sb.ToString();
    }

    private static string DocTable()
    {
        var sb = new StringBuilder("| setting | read by | where | local value | meaning |\n|---|---|---|---|---|\n");
        foreach (var s in AppSettings.All)
        {
            sb.Append($"| `{s.Name}` | {s.Reader} | {s.Place} | {Value(s)} | {s.Meaning} |\n");
        }

        return sb.ToString();
    }

    private static string Value(AppSetting s) => s.LocalValue.Length == 0 ? "(empty)" : $"`{s.LocalValue}`";
}
