using System.Text.Json;
using Trainyard.Core.Spec;
using Trainyard.Core.Steps;
using Trainyard.Testing;

namespace Trainyard.Core.Tests.Spec;

/// <summary>schemas/pipeline.schema.json and the loader accept the same fields, so editors never complete a field the loader rejects (or miss one).</summary>
public sealed class SchemaTests
{
    private static readonly JsonElement Schema = JsonDocument.Parse(File.ReadAllText(RepoPaths.Of("schemas", "pipeline.schema.json"))).RootElement.Clone();

    private static JsonElement Defs => Schema.GetProperty("$defs");

    [Fact]
    public void Schema_IsDraft2020_12AndStartsAtThePipelineDefinition()
    {
        Assert.Equal("https://json-schema.org/draft/2020-12/schema", Schema.GetProperty("$schema").GetString());
        Assert.Equal("#/$defs/pipeline", Schema.GetProperty("$ref").GetString());
    }

    [Fact]
    public void EveryLoaderObject_HasASchemaDefinitionWithExactlyItsFields()
    {
        foreach (var (def, fields) in SpecFields.ByDefinition)
        {
            Assert.True(Defs.TryGetProperty(def, out var d), $"schema has no $defs/{def}");
            var properties = d.GetProperty("properties").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
            Assert.True(fields.Order(StringComparer.Ordinal).SequenceEqual(properties), $"$defs/{def}: loader accepts [{string.Join(", ", fields.Order(StringComparer.Ordinal))}], schema lists [{string.Join(", ", properties)}]");
            Assert.False(d.GetProperty("additionalProperties").GetBoolean(), $"$defs/{def} must reject unknown fields like the loader does");
        }
    }

    [Fact]
    public void EverySchemaObjectDefinition_IsAnObjectTheLoaderReads()
    {
        var objectDefs = Defs.EnumerateObject().Where(d => d.Value.TryGetProperty("properties", out _)).Select(d => d.Name);
        Assert.Empty(objectDefs.Except(SpecFields.ByDefinition.Keys));
    }

    [Fact]
    public void EveryReference_PointsAtADefinition()
    {
        var refs = new List<string>();
        Collect(Schema, refs);
        Assert.NotEmpty(refs);
        Assert.All(refs, r => Assert.True(Defs.TryGetProperty(r["#/$defs/".Length..], out _), $"dangling $ref {r}"));
    }

    [Fact]
    public void UsesExamples_AreStandardSteps()
    {
        var examples = Defs.GetProperty("step").GetProperty("properties").GetProperty("uses").GetProperty("examples").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.NotEmpty(examples);
        Assert.All(examples, e => Assert.NotNull(StandardSteps.Catalog.Find(e)));
    }

    [Theory]
    [InlineData("30s", true)]
    [InlineData("1h30m", true)]
    [InlineData("PT5M", true)]
    [InlineData("5 minutes", false)]
    public void DurationPattern_AgreesWithDurationTryParse(string text, bool valid)
    {
        var pattern = Defs.GetProperty("duration").GetProperty("pattern").GetString()!;
        Assert.Equal(valid, System.Text.RegularExpressions.Regex.IsMatch(text, pattern));
        Assert.Equal(valid, Duration.TryParse(text, out _));
    }

    private static void Collect(JsonElement e, List<string> refs)
    {
        if (e.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in e.EnumerateObject())
            {
                if (p.Name == "$ref" && p.Value.ValueKind == JsonValueKind.String)
                {
                    refs.Add(p.Value.GetString()!);
                }
                else
                {
                    Collect(p.Value, refs);
                }
            }
        }
        else if (e.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in e.EnumerateArray())
            {
                Collect(item, refs);
            }
        }
    }
}
