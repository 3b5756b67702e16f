using System.Globalization;
using System.Text;
using System.Text.Json;
using FsCheck.Xunit;
using Trainyard.Core.Spec;

namespace Trainyard.Core.Tests.Spec;

/// <summary>Valid random pipelines survive spec -> YAML -> loader unchanged.</summary>
public sealed class RoundTripTests
{
    private static readonly JsonSerializerOptions Canon = new() { WriteIndented = false };

    [Property(MaxTest = 150)]
    public bool RandomValidPipeline_RoundTripsThroughTheLoader(int seed)
    {
        var spec = Generate(new Random(seed));
        var yaml = ToYaml(spec);
        var result = PipelineLoader.Load(yaml, "rt.yaml");
        if (result.Spec is null)
        {
            throw new InvalidOperationException("generated pipeline does not validate:\n" + string.Join("\n", result.Errors.Select(e => e.Format())) + "\n" + yaml);
        }

        var expected = Canonical(spec);
        var actual = Canonical(result.Spec);
        return expected == actual ? true : throw new InvalidOperationException($"round trip changed the model:\n{expected}\n{actual}\n{yaml}");
    }

    private static string Canonical(PipelineSpec s) => JsonSerializer.Serialize(
        new
        {
            s.Name,
            s.Description,
            Params = s.Params.Select(p => p with { Location = null }),
            Triggers = s.Triggers.Select(t => (object)(t with { Location = null })),
            s.Defaults,
            s.MaxParallel,
            s.Timeout,
            Steps = s.Steps.Select(x => x with { Location = null }),
        },
        Canon);

    private static readonly string[] Words = ["alpha", "beta", "with space", "colon: here", "quote \"q\"", "hash # not comment", "ünïcode", "true", "42", ""];

    private static T Pick<T>(Random r, IReadOnlyList<T> items) => items[r.Next(items.Count)];

    private static JsonElement J<T>(T value) => JsonSerializer.SerializeToElement(value);

    private static PipelineSpec Generate(Random r)
    {
        var paramSpecs = new List<ParamSpec>();
        for (int i = 0, n = r.Next(4); i < n; i++)
        {
            var type = (ParamType)r.Next(5);
            JsonElement? def = r.Next(3) == 0 ? null : type switch
            {
                ParamType.String => J(Pick(r, Words)),
                ParamType.Number => J(r.Next(-100, 100) / 4.0),
                ParamType.Integer => J(r.Next(-1000, 1000)),
                ParamType.Boolean => J(r.Next(2) == 0),
                _ => J(Enumerable.Range(0, r.Next(4)).Select(_ => Pick(r, Words)).ToArray()),
            };
            paramSpecs.Add(new ParamSpec($"p{i}", type) { Default = def, Required = def is null && r.Next(2) == 0, Description = r.Next(2) == 0 ? Pick(r, Words) : null });
        }

        var triggers = new List<TriggerSpec>();
        for (int i = 0, n = r.Next(4); i < n; i++)
        {
            var p = paramSpecs.Count > 0 && paramSpecs[0].Type == ParamType.String && r.Next(2) == 0
                ? new Dictionary<string, JsonElement> { ["p0"] = J("${{ trigger.path }}") }
                : new Dictionary<string, JsonElement>();
            triggers.Add(r.Next(4) switch
            {
                0 => new ScheduleTriggerSpec { Id = $"t{i}", Cron = Pick(r, ["0 2 * * *", "*/5 * * * * *", "0 0 1 * *"]), TimeZone = Pick(r, ["UTC", "Europe/Amsterdam", "Pacific Standard Time"]), CatchUp = (CatchUpPolicy)r.Next(3), MaxCatchUp = r.Next(1, 50), Params = p },
                1 => new BlobTriggerSpec { Id = $"t{i}", Container = "data-in", Path = "in/{date}/*.csv", Debounce = r.Next(2) == 0 ? null : TimeSpan.FromSeconds(r.Next(1, 600)), Params = p },
                2 => new DriftTriggerSpec { Id = $"t{i}", Model = "churn", Metric = "psi", Threshold = r.Next(1, 100) / 100.0, Cooldown = TimeSpan.FromMinutes(r.Next(0, 600)), Params = p },
                _ => new ManualTriggerSpec { Id = $"t{i}", Params = p },
            });
        }

        var steps = new List<StepSpec>();
        for (int i = 0, n = r.Next(1, 12); i < n; i++)
        {
            var needs = Enumerable.Range(0, i).Where(_ => r.Next(3) == 0).Select(j => $"s{j}").ToList();
            bool isRun = r.Next(2) == 0;
            var executor = isRun ? (r.Next(3) switch { 0 => (ExecutorKind?)null, 1 => ExecutorKind.Local, _ => ExecutorKind.Batch }) : (r.Next(2) == 0 ? null : ExecutorKind.Builtin);
            bool batch = executor == ExecutorKind.Batch;
            var foreachSpec = r.Next(4) == 0 ? new ForeachSpec { Items = J(new[] { "a", "b", "c" }.Take(r.Next(1, 4)).ToArray()), MaxParallel = r.Next(2) == 0 ? null : r.Next(1, 5) } : null;
            string Ref()
            {
                var choices = new List<string> { "'literal'", "run.id" };
                choices.AddRange(paramSpecs.Select(p => $"params.{p.Name}"));
                choices.AddRange(needs.Where(nd => steps[int.Parse(nd[1..], CultureInfo.InvariantCulture)].Uses is not null).Select(nd => $"steps.{nd}.outputs.message"));
                if (foreachSpec is not null)
                {
                    choices.Add("item");
                }

                return Pick(r, choices);
            }

            var with = new Dictionary<string, JsonElement>();
            if (!isRun || r.Next(2) == 0)
            {
                with["message"] = J($"m ${{{{ {Ref()} }}}}");
                if (r.Next(2) == 0)
                {
                    with["cfg"] = JsonDocument.Parse("""{"depth": 3, "rate": 0.25, "on": true, "none": null, "tags": ["x", "y"], "nested": {"k": "v"}}""").RootElement.Clone();
                }
            }

            steps.Add(new StepSpec
            {
                Id = $"s{i}",
                Needs = needs,
                Uses = isRun ? null : "echo",
                Run = isRun ? new RunSpec
                {
                    Command = ["python", "train.py", $"--x=${{{{ {Ref()} }}}}"],
                    Image = batch && r.Next(2) == 0 ? "registry.io/img:1" : null,
                    Env = r.Next(2) == 0 ? new Dictionary<string, string> { ["MODE"] = Pick(r, Words) } : new Dictionary<string, string>(),
                } : null,
                With = with,
                When = r.Next(3) == 0 ? $"{Ref()} != 'x'" : null,
                Foreach = foreachSpec,
                Retry = r.Next(3) == 0 ? new RetryPolicy { MaxAttempts = r.Next(1, 101), InitialInterval = TimeSpan.FromMilliseconds(r.Next(1, 5000)), BackoffCoefficient = 1 + (r.Next(0, 8) / 4.0), MaxInterval = TimeSpan.FromMinutes(r.Next(5, 60)), Jitter = r.Next(0, 5) / 4.0 } : null,
                Timeout = r.Next(3) == 0 ? TimeSpan.FromSeconds(r.Next(1, 100_000)) : null,
                Executor = executor,
                Resources = r.Next(3) == 0 ? new ResourceSpec { Cpu = r.Next(1, 16) / 2.0, MemoryGiB = r.Next(1, 64), Gpu = batch ? r.Next(0, 4) : null, Pool = batch ? "pool-a" : null } : null,
                Cache = r.Next(3) == 0 ? new CacheSpec { Enabled = r.Next(2) == 0, MaxAge = r.Next(2) == 0 ? null : TimeSpan.FromHours(r.Next(1, 100)) } : null,
                Outputs = isRun && r.Next(2) == 0 ? [new OutputSpec("message") { Description = r.Next(2) == 0 ? Pick(r, Words) : null }] : [],
                OnFailure = (OnFailure)r.Next(2),
            });
        }

        return new PipelineSpec
        {
            Name = $"pipe-{r.Next(1000)}",
            Description = r.Next(2) == 0 ? Pick(r, Words) : null,
            Params = paramSpecs,
            Triggers = triggers,
            Defaults = new DefaultsSpec
            {
                Retry = r.Next(2) == 0 ? null : new RetryPolicy { MaxAttempts = r.Next(1, 10) },
                Timeout = r.Next(2) == 0 ? null : TimeSpan.FromMinutes(r.Next(1, 100)),
                Executor = r.Next(2) == 0 ? null : (ExecutorKind)r.Next(3),
            },
            MaxParallel = r.Next(2) == 0 ? null : r.Next(1, 100),
            Timeout = r.Next(2) == 0 ? null : TimeSpan.FromHours(r.Next(1, 48)),
            Steps = steps,
        };
    }

    // ---- a small emitter: JSON-style flow values are valid YAML, so every value is written that way ---------------

    private static string Q(string s) => JsonSerializer.Serialize(s);

    private static string D(TimeSpan t) => Q(Duration.Format(t));

    private static string N(double d) => d.ToString("R", CultureInfo.InvariantCulture);

    private static string Flow(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Object => "{ " + string.Join(", ", v.EnumerateObject().Select(p => $"{Q(p.Name)}: {Flow(p.Value)}")) + " }",
        JsonValueKind.Array => "[" + string.Join(", ", v.EnumerateArray().Select(Flow)) + "]",
        JsonValueKind.String => Q(v.GetString()!),
        _ => v.GetRawText(),
    };

    private static string Lower<T>(T e)
        where T : struct, Enum => e.ToString().ToLowerInvariant();

    private static void Retry(StringBuilder sb, string indent, RetryPolicy p) =>
        sb.Append(CultureInfo.InvariantCulture, $"{indent}retry: {{ maxAttempts: {p.MaxAttempts}, initialInterval: {D(p.InitialInterval)}, backoffCoefficient: {N(p.BackoffCoefficient)}, maxInterval: {D(p.MaxInterval)}, jitter: {N(p.Jitter)} }}\n");

    private static string ToYaml(PipelineSpec s)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.Append(inv, $"name: {Q(s.Name)}\n");
        if (s.Description is not null)
        {
            sb.Append(inv, $"description: {Q(s.Description)}\n");
        }

        if (s.MaxParallel is { } mp)
        {
            sb.Append(inv, $"maxParallel: {mp}\n");
        }

        if (s.Timeout is { } to)
        {
            sb.Append(inv, $"timeout: {D(to)}\n");
        }

        if (s.Params.Count > 0)
        {
            sb.Append("params:\n");
            foreach (var p in s.Params)
            {
                sb.Append(inv, $"  {p.Name}:\n    type: {Lower(p.Type)}\n");
                if (p.Default is { } d)
                {
                    sb.Append(inv, $"    default: {Flow(d)}\n");
                }

                if (p.Required)
                {
                    sb.Append("    required: true\n");
                }

                if (p.Description is not null)
                {
                    sb.Append(inv, $"    description: {Q(p.Description)}\n");
                }
            }
        }

        if (s.Triggers.Count > 0)
        {
            sb.Append("triggers:\n");
            foreach (var t in s.Triggers)
            {
                switch (t)
                {
                    case ScheduleTriggerSpec x:
                        sb.Append(inv, $"  - type: schedule\n    cron: {Q(x.Cron)}\n    timezone: {Q(x.TimeZone)}\n    catchUp: {Lower(x.CatchUp)}\n    maxCatchUp: {x.MaxCatchUp}\n");
                        break;
                    case BlobTriggerSpec x:
                        sb.Append(inv, $"  - type: blob\n    container: {Q(x.Container)}\n    path: {Q(x.Path)}\n");
                        if (x.Debounce is { } db)
                        {
                            sb.Append(inv, $"    debounce: {D(db)}\n");
                        }

                        break;
                    case DriftTriggerSpec x:
                        sb.Append(inv, $"  - type: drift\n    model: {Q(x.Model)}\n    metric: {Q(x.Metric)}\n    threshold: {N(x.Threshold)}\n    cooldown: {D(x.Cooldown)}\n");
                        break;
                    default:
                        sb.Append("  - type: manual\n");
                        break;
                }

                sb.Append(inv, $"    id: {Q(t.Id)}\n");
                if (t.Params.Count > 0)
                {
                    sb.Append(inv, $"    params: {{ {string.Join(", ", t.Params.Select(kv => $"{Q(kv.Key)}: {Flow(kv.Value)}"))} }}\n");
                }
            }
        }

        var df = s.Defaults;
        if (df.Retry is not null || df.Timeout is not null || df.Executor is not null)
        {
            sb.Append("defaults:\n");
            if (df.Retry is { } r)
            {
                Retry(sb, "  ", r);
            }

            if (df.Timeout is { } dt)
            {
                sb.Append(inv, $"  timeout: {D(dt)}\n");
            }

            if (df.Executor is { } de)
            {
                sb.Append(inv, $"  executor: {Lower(de)}\n");
            }
        }

        sb.Append("steps:\n");
        foreach (var st in s.Steps)
        {
            sb.Append(inv, $"  - id: {st.Id}\n");
            if (st.Needs.Count > 0)
            {
                sb.Append(inv, $"    needs: [{string.Join(", ", st.Needs)}]\n");
            }

            if (st.Uses is not null)
            {
                sb.Append(inv, $"    uses: {st.Uses}\n");
            }

            if (st.Run is { } run)
            {
                sb.Append(inv, $"    run:\n      command: [{string.Join(", ", run.Command.Select(Q))}]\n");
                if (run.Image is not null)
                {
                    sb.Append(inv, $"      image: {Q(run.Image)}\n");
                }

                if (run.Env.Count > 0)
                {
                    sb.Append("      env:\n");
                    foreach (var (k, v) in run.Env)
                    {
                        sb.Append(inv, $"        {k}: {Q(v)}\n");
                    }
                }
            }

            if (st.With.Count > 0)
            {
                sb.Append("    with:\n");
                foreach (var (k, v) in st.With)
                {
                    sb.Append(inv, $"      {k}: {Flow(v)}\n");
                }
            }

            if (st.When is not null)
            {
                sb.Append(inv, $"    when: {Q(st.When)}\n");
            }

            if (st.Foreach is { } fe)
            {
                sb.Append(inv, $"    foreach:\n      items: {Flow(fe.Items)}\n");
                if (fe.MaxParallel is { } fmp)
                {
                    sb.Append(inv, $"      maxParallel: {fmp}\n");
                }
            }

            if (st.Retry is { } rt)
            {
                Retry(sb, "    ", rt);
            }

            if (st.Timeout is { } stt)
            {
                sb.Append(inv, $"    timeout: {D(stt)}\n");
            }

            if (st.Executor is { } ex)
            {
                sb.Append(inv, $"    executor: {Lower(ex)}\n");
            }

            if (st.Resources is { } res)
            {
                sb.Append("    resources:\n");
                if (res.Cpu is { } cpu)
                {
                    sb.Append(inv, $"      cpu: {N(cpu)}\n");
                }

                if (res.MemoryGiB is { } mem)
                {
                    sb.Append(inv, $"      memoryGiB: {N(mem)}\n");
                }

                if (res.Gpu is { } gpu)
                {
                    sb.Append(inv, $"      gpu: {gpu}\n");
                }

                if (res.Pool is { } pool)
                {
                    sb.Append(inv, $"      pool: {Q(pool)}\n");
                }
            }

            if (st.Cache is { } cache)
            {
                sb.Append(inv, $"    cache: {{ enabled: {(cache.Enabled ? "true" : "false")}{(cache.MaxAge is { } ma ? $", maxAge: {D(ma)}" : "")} }}\n");
            }

            if (st.Outputs.Count > 0)
            {
                sb.Append("    outputs:\n");
                foreach (var o in st.Outputs)
                {
                    sb.Append(inv, $"      - name: {Q(o.Name)}\n");
                    if (o.Description is not null)
                    {
                        sb.Append(inv, $"        description: {Q(o.Description)}\n");
                    }
                }
            }

            sb.Append(inv, $"    onFailure: {(st.OnFailure == OnFailure.FailRun ? "fail-run" : "continue")}\n");
        }

        return sb.ToString();
    }
}
