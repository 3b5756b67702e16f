using System.Text;
using System.Text.Json;
using Trainyard.Core.Spec;
using Trainyard.Core.Validation;

namespace Trainyard.Core.Tests.Spec;

public sealed class LoaderTests
{
    private const string Minimal = "name: demo\nsteps:\n  - id: hello\n    uses: echo\n";

    private static PipelineSpec LoadValid(string yaml)
    {
        var result = PipelineLoader.Load(yaml, "p.yaml");
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics.Select(d => d.Format())));
        return result.Spec!;
    }

    [Fact]
    public void Load_ContentHash_IsLowerHexSha256OfText()
    {
        var spec = LoadValid(Minimal);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(Minimal))), spec.ContentHash);
        Assert.NotEqual(spec.ContentHash, LoadValid(Minimal + "\n").ContentHash);
    }

    [Fact]
    public void Load_WithValues_FollowYamlCoreSchemaTyping()
    {
        var spec = LoadValid("""
            name: demo
            steps:
              - id: hello
                uses: echo
                with:
                  a: true
                  b: "true"
                  c: 42
                  d: "42"
                  e: 1.5e3
                  f: ~
                  g: 0x1F
                  h: yes
                  i: [1, two, 3.5]
                  j: { k: null }
                  l: !!str 7
            """);
        var w = spec.Steps[0].With;
        Assert.Equal(JsonValueKind.True, w["a"].ValueKind);
        Assert.Equal("true", w["b"].GetString());
        Assert.Equal(42, w["c"].GetInt32());
        Assert.Equal("42", w["d"].GetString());
        Assert.Equal(1500, w["e"].GetDouble());
        Assert.Equal(JsonValueKind.Null, w["f"].ValueKind);
        Assert.Equal(31, w["g"].GetInt32());
        Assert.Equal("yes", w["h"].GetString()); // YAML 1.2 core schema: only true/false are booleans
        Assert.Equal("[1,\"two\",3.5]", w["i"].GetRawText());
        Assert.Equal(JsonValueKind.Null, w["j"].GetProperty("k").ValueKind);
        Assert.Equal("7", w["l"].GetString());
    }

    [Fact]
    public void Load_FullStep_MapsEveryField()
    {
        var spec = LoadValid("""
            name: demo
            params:
              items: { type: list, default: [a, b] }
            defaults:
              executor: batch
              timeout: 10m
              retry: { maxAttempts: 4, initialInterval: 500ms, backoffCoefficient: 3, maxInterval: PT2M, jitter: 0.2 }
            maxParallel: 8
            timeout: 2h
            steps:
              - id: prep
                run:
                  command: [python, prep.py, "--n", "${{ item }}"]
                  image: registry/prep:1
                  env: { MODE: fast, N: 3 }
                foreach: { items: "${{ params.items }}", maxParallel: 2 }
                executor: batch
                resources: { cpu: 2, memoryGiB: 7.5, gpu: 1, pool: gpu-pool }
                cache: { enabled: true, maxAge: 1d }
                outputs: [rows, { name: path, description: where }]
                onFailure: continue
                timeout: 1h30m
              - id: use
                uses: echo
                needs: prep
                cache: false
                when: steps.prep.outputs.rows > 0
                with: { message: "${{ steps.prep.outputs.rows }} ${{ steps.prep.outputs.path }}" }
            """);
        Assert.Equal(ExecutorKind.Batch, spec.Defaults.Executor);
        Assert.Equal(TimeSpan.FromMinutes(10), spec.Defaults.Timeout);
        Assert.Equal(new RetryPolicy { MaxAttempts = 4, InitialInterval = TimeSpan.FromMilliseconds(500), BackoffCoefficient = 3, MaxInterval = TimeSpan.FromMinutes(2), Jitter = 0.2 }, spec.Defaults.Retry);
        Assert.Equal(8, spec.MaxParallel);
        Assert.Equal(TimeSpan.FromHours(2), spec.Timeout);
        var prep = spec.Steps[0];
        Assert.Equal(["python", "prep.py", "--n", "${{ item }}"], prep.Run!.Command);
        Assert.Equal("registry/prep:1", prep.Run.Image);
        Assert.Equal("3", prep.Run.Env["N"]);
        Assert.Equal("${{ params.items }}", prep.Foreach!.Items.GetString());
        Assert.Equal(2, prep.Foreach.MaxParallel);
        Assert.Equal(new ResourceSpec { Cpu = 2, MemoryGiB = 7.5, Gpu = 1, Pool = "gpu-pool" }, prep.Resources);
        Assert.Equal(new CacheSpec { Enabled = true, MaxAge = TimeSpan.FromDays(1) }, prep.Cache);
        Assert.Equal(["rows", "path"], prep.Outputs.Select(o => o.Name));
        Assert.Equal("where", prep.Outputs[1].Description);
        Assert.Equal(OnFailure.Continue, prep.OnFailure);
        Assert.Equal(TimeSpan.FromMinutes(90), prep.Timeout);
        Assert.Equal(new SourceLocation("p.yaml", 11, 5), prep.Location);
        var use = spec.Steps[1];
        Assert.Equal(["prep"], use.Needs);
        Assert.False(use.Cache!.Enabled);
        Assert.Equal("steps.prep.outputs.rows > 0", use.When);
    }

    [Fact]
    public void Load_Triggers_MapsEveryKindWithIds()
    {
        var spec = LoadValid("""
            name: demo
            params:
              path: { type: string, default: x }
            triggers:
              - type: schedule
                cron: "*/30 * * * * *"
                timezone: W. Europe Standard Time
                catchUp: all
                maxCatchUp: 5
              - type: blob
                id: landing
                container: raw-data
                path: "in/{date}/*.csv"
                debounce: 30s
                params: { path: "${{ trigger.path }}" }
              - type: drift
                model: churn
                metric: psi
                threshold: 0.25
              - type: schedule
                cron: "0 3 * * 1"
              - type: manual
            steps:
              - id: hello
                uses: echo
                with: { message: "${{ params.path }}" }
            """);
        Assert.Equal(["schedule-0", "landing", "drift-0", "schedule-1", "manual-0"], spec.Triggers.Select(t => t.Id));
        var s = Assert.IsType<ScheduleTriggerSpec>(spec.Triggers[0]);
        Assert.Equal(("*/30 * * * * *", "W. Europe Standard Time", CatchUpPolicy.All, 5), (s.Cron, s.TimeZone, s.CatchUp, s.MaxCatchUp));
        var b = Assert.IsType<BlobTriggerSpec>(spec.Triggers[1]);
        Assert.Equal(("raw-data", "in/{date}/*.csv", TimeSpan.FromSeconds(30)), (b.Container, b.Path, b.Debounce!.Value));
        Assert.Equal("${{ trigger.path }}", b.Params["path"].GetString());
        var d = Assert.IsType<DriftTriggerSpec>(spec.Triggers[2]);
        Assert.Equal(("churn", "psi", 0.25, TimeSpan.FromHours(1)), (d.Model, d.Metric, d.Threshold, d.Cooldown));
        Assert.Equal("UTC", ((ScheduleTriggerSpec)spec.Triggers[3]).TimeZone);
    }

    [Fact]
    public void Load_ManyErrors_ReportsAllOfThemInOnePass()
    {
        var result = PipelineLoader.Load("""
            name: demo
            stepz: 1
            steps:
              - id: a
                uses: echo
                needs: [zz]
                timeout: soon
              - id: B
                uses: nope
              - id: c
                run: { command: [x] }
                executor: builtin
            """, "many.yaml");
        Assert.Null(result.Spec);
        Assert.Equal(
            ["TY003 2:1", "TY012 6:13", "TY007 7:14", "TY008 8:9", "TY025 9:11", "TY028 12:15"],
            result.Errors.Select(d => $"{d.Code} {d.Line}:{d.Column}"));
    }

    [Fact]
    public void Load_ExpressionInBlockScalar_PointsAtTheReferenceLine()
    {
        var result = PipelineLoader.Load("""
            name: demo
            steps:
              - id: hello
                uses: echo
                with:
                  message: |
                    first line
                    second ${{ params.nope }} line
            """, "b.yaml");
        var d = Assert.Single(result.Errors);
        Assert.Equal((DiagnosticCodes.UnknownReference, 8, 20), (d.Code, d.Line, d.Column));
        Assert.Equal("hello", d.StepId);
        Assert.Equal("steps[0].with.message", d.Field);
        Assert.Equal("b.yaml:8:20: error TY016: steps.hello.with.message: unknown param 'nope'", d.Format(includeHelp: false));
    }

    [Fact]
    public void Load_FileOverOneMiB_IsRejectedBeforeParsing()
    {
        var text = Minimal + "# " + new string('x', PipelineLoader.MaxFileBytes) + "\n";
        var d = Assert.Single(PipelineLoader.Load(text, "big.yaml").Diagnostics);
        Assert.Equal((DiagnosticCodes.Limit, 1, 1), (d.Code, d.Line, d.Column));
        Assert.Contains("limit is 1048576 bytes", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MoreThanTenThousandSteps_IsRejected()
    {
        var sb = new StringBuilder("name: demo\nsteps:\n");
        for (int i = 0; i <= PipelineLoader.MaxSteps; i++)
        {
            sb.Append("- {id: s").Append(i).Append(", uses: echo}\n");
        }

        var d = Assert.Single(PipelineLoader.Load(sb.ToString(), "many.yaml").Diagnostics);
        Assert.Equal((DiagnosticCodes.Limit, 3, 1), (d.Code, d.Line, d.Column));
        Assert.Equal("the pipeline has 10001 steps; the limit is 10000", d.Message);
    }

    [Fact]
    public void Load_AliasBomb_IsRejectedByTheNodeLimit()
    {
        var sb = new StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (int i = 1; i < 8; i++)
        {
            sb.Append($"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]\n");
        }

        var d = Assert.Single(PipelineLoader.Load(sb.ToString(), "bomb.yaml").Diagnostics);
        Assert.Equal(DiagnosticCodes.Limit, d.Code);
        Assert.Contains("aliases expand to more than", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_EmptyOrTwoDocuments_IsAnError()
    {
        Assert.Equal(DiagnosticCodes.MissingField, Assert.Single(PipelineLoader.Load("", "e.yaml").Diagnostics).Code);
        var two = Assert.Single(PipelineLoader.Load(Minimal + "---\n" + Minimal, "two.yaml").Diagnostics);
        Assert.Equal((DiagnosticCodes.Limit, 5, 1), (two.Code, two.Line, two.Column));
    }

    [Fact]
    public void LoadOrThrow_InvalidFile_ThrowsListingEveryError()
    {
        var ex = Assert.Throws<PipelineLoadException>(() => PipelineLoader.LoadOrThrow("name: demo\nsteps:\n  - id: a\n    uses: nope\n    needs: b\n", "x.yaml"));
        Assert.Equal(2, ex.Diagnostics.Count);
        Assert.Contains("x.yaml:4:11: error TY025", ex.Message, StringComparison.Ordinal);
        Assert.Contains("x.yaml:5:12: error TY012", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("500ms", 0, 0, 0, 0, 500)]
    [InlineData("30s", 0, 0, 0, 30, 0)]
    [InlineData("5m", 0, 0, 5, 0, 0)]
    [InlineData("1h30m", 0, 1, 30, 0, 0)]
    [InlineData("2d", 2, 0, 0, 0, 0)]
    [InlineData("1.5h", 0, 1, 30, 0, 0)]
    [InlineData("PT5M", 0, 0, 5, 0, 0)]
    [InlineData("P1DT2H3M4.5S", 1, 2, 3, 4, 500)]
    public void Duration_TryParse_AcceptsUnitsAndIso8601(string text, int d, int h, int m, int s, int ms)
    {
        Assert.True(Duration.TryParse(text, out var value));
        Assert.Equal(new TimeSpan(d, h, m, s, ms), value);
        Assert.True(Duration.TryParse(Duration.Format(value), out var back));
        Assert.Equal(value, back);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("5 minutes")]
    [InlineData("-5s")]
    [InlineData("5x")]
    [InlineData("P1Y")]
    [InlineData("PT")]
    [InlineData("1h 30m")]
    public void Duration_TryParse_RejectsOtherText(string text) => Assert.False(Duration.TryParse(text, out _));
}
