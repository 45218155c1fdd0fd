using System.Diagnostics;
using System.Text.RegularExpressions;
using SagePtq.Runtime.Cuda.Model;
using SagePtq.Runtime.Packing;

using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Cuda;

/// <summary>
/// The run-time source builder against the source generator: for the sagelm-7m SAGE fixture manifest its
/// per-layer and model-wide sources must equal the generator's verified .cu snapshots byte for byte (one
/// kernel semantics, two emitters); the decode loop's own kernels instantiate the same constants, and
/// clang-14 accepts them against the real header where it is installed.
/// </summary>
public sealed class CudaSourceBuilderTests
{
    private static readonly string Fixtures = Path.Combine(TestAssets.RepoRoot, "tests", "SagePtq.Generator.Tests", "Fixtures");
    private static readonly string Snapshots = Path.Combine(TestAssets.RepoRoot, "tests", "SagePtq.Generator.Tests", "Snapshots");

    internal static (PackManifest Manifest, string Sha) Fixture()
    {
        var path = Path.Combine(Fixtures, "sagelm-7m-sage.manifest.json");
        var bytes = File.ReadAllBytes(path);
        return (ManifestJson.Parse(bytes, path), CudaSourceBuilder.Sha256Hex(bytes));
    }

    private static CudaSourceBuilder GeneratorLike()
    {
        var (manifest, sha) = Fixture();
        return new CudaSourceBuilder(manifest, "sagelm-7m", sha, "SagePtq.Generator 1.0.0.0");
    }

    [Fact]
    public void Layer_sources_equal_the_generators_verified_snapshots()
    {
        var builder = GeneratorLike();
        var layers = builder.LayerSources();
        Assert.Equal(6, layers.Count);
        foreach (var layer in layers)
        {
            var expected = File.ReadAllText(Path.Combine(Snapshots, $"SageLm7mModel.Layer{layer.Layer:00}.verified.cu")).Replace("\r\n", "\n");
            Assert.Equal(expected, layer.Source);
            Assert.Equal(CudaSourceBuilder.Roles.Select(r => $"layer{layer.Layer:00}_{r.Replace('.', '_')}"), layer.Kernels);
        }
    }

    [Fact]
    public void Model_source_equals_the_generators_verified_snapshot()
    {
        var expected = File.ReadAllText(Path.Combine(Snapshots, "SageLm7mModel.Kernels.verified.cu")).Replace("\r\n", "\n");
        Assert.Equal(expected, GeneratorLike().ModelSource());
    }

    [Fact]
    public void The_embedded_header_is_templates_cuda_sageptq_cuh()
    {
        var onDisk = File.ReadAllText(Path.Combine(TestAssets.RepoRoot, "templates", "cuda", "sageptq.cuh")).Replace("\r\n", "\n");
        Assert.Equal(onDisk, CudaSourceBuilder.HeaderText);
    }

    [Fact]
    public void A_different_maker_or_manifest_changes_only_the_provenance_line()
    {
        var (manifest, sha) = Fixture();
        var ours = new CudaSourceBuilder(manifest, "sagelm-7m", sha).LayerSource(2).Source;
        var generator = GeneratorLike().LayerSource(2).Source;
        Assert.NotEqual(generator, ours);
        Assert.Equal(generator.Split('\n').Skip(1), ours.Split('\n').Skip(1));
        Assert.Contains(CudaSourceBuilder.DefaultGeneratedBy, ours.Split('\n')[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Every_prepare_wrapper_takes_the_constants_of_its_gemv()
    {
        var builder = GeneratorLike();
        var (manifest, _) = Fixture();
        var backend = builder.BackendSource(LmHeadOf(manifest));
        var decode = string.Concat(Enumerable.Range(0, manifest.Architecture.NumLayers).Select(l => builder.LayerDecodeSource(l).Source));
        var gemv = new Regex(@"void __launch_bounds__\(SAGEPTQ_THREADS\) (layer\d+_\w+)\(const sageptq::LinearArgs args\)\n\{\n    sageptq::sage::gemv<([^>]*)>");
        var prepare = new Regex(@"void __launch_bounds__\(SAGEPTQ_THREADS\) (layer\d+_\w+)_prepare\(const sageptq::sage::PrepareArgs args, const sageptq::PrefetchArgs prefetch\)\n\{\n.*\n    sageptq::sage::prepare_activation<([^>]*)>");
        var gemvs = builder.LayerSources().SelectMany(l => gemv.Matches(l.Source)).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        var prepares = prepare.Matches(decode).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        Assert.Equal(42, gemvs.Count);
        Assert.Equal(gemvs.Keys.Order(), prepares.Keys.Order());
        foreach (var (name, constants) in gemvs) Assert.Equal(constants, prepares[name]);
        Assert.Contains("sageptq::f16::gemv<4096, 256>(args);", backend, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_fused_launch_runs_each_member_with_the_constants_of_its_own_prepare_and_gemv()
    {
        var (fixture, sha) = Fixture();
        var rotated = WithParameters(fixture, CudaSourceBuilder.LinearName(2, "mlp.up_proj"), p =>
        {
            p["flags"] |= 8;
            p["rotate_seed_lo"] = 11;
            p["rotate_seed_hi"] = -2;
        });
        var builder = new CudaSourceBuilder(rotated, "m", sha);
        var prepare = new Regex(@"_prepare\(const sageptq::sage::PrepareArgs args, const sageptq::PrefetchArgs prefetch\)\n\{\n.*\n    sageptq::sage::prepare_activation<([^>]*)>");
        var perLinear = Enumerable.Range(0, rotated.Architecture.NumLayers)
            .SelectMany(l => prepare.Matches(builder.LayerDecodeSource(l).Source)).Select(m => m.Groups[1].Value).ToList();
        var member = new Regex(@"sageptq::(?:gemv_ctas|sage::prepare_token)<(?:sageptq::sage::Linear<)?([^>]*)>");
        for (int layer = 0; layer < rotated.Architecture.NumLayers; layer++)
        {
            var fused = builder.LayerDecodeSource(layer);
            Assert.Equal([.. CudaSourceBuilder.Roles.Select(r => $"layer{layer:00}_{r.Replace('.', '_')}_prepare"),
                $"layer{layer:00}_qkv_prepare", $"layer{layer:00}_qkv", $"layer{layer:00}_gate_up_prepare", $"layer{layer:00}_gate_up"], fused.Kernels);
            // q, k, v: their prepares then their gemvs; gate and up: prepares, then both in gemv_swiglu's type list.
            var constants = member.Matches(fused.Source).Select(m => m.Groups[1].Value).ToList();
            int Linear(int role) => 7 * layer + role;
            Assert.Equal(new[] { 0, 1, 2, 0, 1, 2, 4, 5 }.Select(role => perLinear[Linear(role)]), constants);
            var swiglu = Regex.Match(fused.Source, @"gemv_swiglu<sageptq::sage::Linear<([^>]*)>, sageptq::sage::Linear<([^>]*)>>\(gate_proj, up_proj\)");
            Assert.Equal((perLinear[Linear(4)], perLinear[Linear(5)]), (swiglu.Groups[1].Value, swiglu.Groups[2].Value));
        }
        Assert.DoesNotContain("-2, 11", builder.LayerDecodeSource(2).Source, StringComparison.Ordinal);   // the seed travels in PrepareArgs
    }

    /// <summary>
    /// The fused q/k/v launch gives each member ⌈rows / (8 · rows per warp)⌉ CTAs, rows per warp being the builder's
    /// knob on the sage fast path and 1 elsewhere, and the builder compiles every source with that knob defined.
    /// </summary>
    [Theory]
    [InlineData(4, "CTAs 0–7 q_proj (256 rows, 32 a CTA), 8–23 k_proj (128 rows, 8 a CTA), 24–39 v_proj (128 rows, 8 a CTA)")]
    [InlineData(1, "CTAs 0–31 q_proj (256 rows, 8 a CTA), 32–47 k_proj (128 rows, 8 a CTA), 48–63 v_proj (128 rows, 8 a CTA)")]
    [InlineData(3, "CTAs 0–10 q_proj (256 rows, 24 a CTA), 11–26 k_proj (128 rows, 8 a CTA), 27–42 v_proj (128 rows, 8 a CTA)")]
    public void Fused_launch_ranges_follow_the_rows_a_warp_takes(int sageRowsPerWarp, string ranges)
    {
        var (fixture, sha) = Fixture();
        var builder = new CudaSourceBuilder(MixedVariant(fixture), "m", sha, sageRowsPerWarp: sageRowsPerWarp);
        var source = builder.LayerDecodeSource(1).Source;
        Assert.Contains("// layer 1 q_proj, k_proj, v_proj in one launch: " + ranges + "\n", source, StringComparison.Ordinal);
        Assert.Equal([$"-DSAGEPTQ_SAGE_ROWS_PER_WARP={sageRowsPerWarp}"], builder.CompileOptions);
        var q = MixedVariant(fixture).FindLinear(CudaSourceBuilder.LinearName(1, "self_attn.q_proj"))!;
        Assert.Equal((uint)((256 + 8 * sageRowsPerWarp - 1) / (8 * sageRowsPerWarp)), builder.GemvCtas(q));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(9)]
    public void Rows_per_warp_outside_1_to_8_is_refused(int sageRowsPerWarp)
    {
        var (fixture, sha) = Fixture();
        Assert.Throws<ArgumentOutOfRangeException>(() => new CudaSourceBuilder(fixture, "m", sha, sageRowsPerWarp: sageRowsPerWarp));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CudaModelOptions { SageRowsPerWarp = sageRowsPerWarp });
    }

    [Fact]
    public void A_rotated_linear_passes_nine_gemv_constants_in_ordinal_key_order_and_seven_to_prepare()
    {
        var (manifest, sha) = Fixture();
        var name = CudaSourceBuilder.LinearName(0, "self_attn.q_proj");
        var rotated = WithParameters(manifest, name, p =>
        {
            p["flags"] |= 8;
            p["rotate_seed_lo"] = -5;
            p["rotate_seed_hi"] = 3;
        });
        var linear = rotated.FindLinear(name)!;
        var p = linear.Parameters;
        Assert.Equal($"256, 256, {p["flags"]}, {p["groups"]}, 3, -5, {p["salient_bits"]}, {p["salient_count"]}, {p["scale_mode"]}",
            CudaSourceBuilder.TemplateArguments(linear));
        var builder = new CudaSourceBuilder(rotated, "m", sha);
        Assert.Contains($"sage::gemv<256, 256, {p["flags"]}, {p["groups"]}, 3, -5, ", builder.LayerSource(0).Source, StringComparison.Ordinal);
        Assert.Contains($"sage::prepare_activation<256, 256, {p["flags"]}, {p["groups"]}, {p["salient_bits"]}, {p["salient_count"]}, {p["scale_mode"]}>",
            builder.LayerDecodeSource(0).Source, StringComparison.Ordinal);
    }

    [Fact]
    public void A_layout_without_a_kernel_gets_a_comment_in_the_layer_and_is_refused_by_the_decode_loop()
    {
        var (manifest, sha) = Fixture();
        var name = CudaSourceBuilder.LinearName(1, "mlp.up_proj");
        var billm = manifest with { Linears = manifest.Linears.Select(l => l.Name == name ? l with { Layout = "billm" } : l).ToList() };
        var builder = new CudaSourceBuilder(billm, "m", sha);
        var layer = builder.LayerSource(1);
        Assert.Contains("// no kernel: the billm layout has no CUDA implementation (SPQ1004)", layer.Source, StringComparison.Ordinal);
        Assert.Equal(6, layer.Kernels.Count);
        var e = Assert.Throws<NotSupportedException>(() => builder.LayerDecodeSource(1));
        Assert.Contains(name, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_manifest_missing_a_decoder_linear_is_refused_by_name()
    {
        var (manifest, sha) = Fixture();
        var name = CudaSourceBuilder.LinearName(3, "self_attn.v_proj");
        var missing = manifest with { Linears = manifest.Linears.Where(l => l.Name != name).ToList() };
        var e = Assert.Throws<ArgumentException>(() => new CudaSourceBuilder(missing, "m", sha));
        Assert.Contains(name, e.Message, StringComparison.Ordinal);
    }

    /// <summary>The fixture with every decoder linear and the LM head in the uniform layout (4-bit groups of 64, 8-bit groups of 128).</summary>
    internal static PackManifest UniformVariant(PackManifest manifest)
    {
        var c = manifest.Architecture;
        var decoder = manifest.Linears.Select(l => l with { Layout = "uniform", Parameters = new Dictionary<string, int> { ["bits"] = 4, ["group_size"] = 64 } });
        var head = new LinearRecord("lm_head.weight", null, c.VocabSize, c.HiddenSize, "uniform", new Dictionary<string, int> { ["bits"] = 8, ["group_size"] = 128 },
            [new SectionRecord("codes", 0, (long)c.VocabSize * c.HiddenSize)], new LinearStats(0, 0, 0, 0, 8));
        return manifest with { Linears = [.. decoder, head] };
    }

    /// <summary>The fixture with layer 1's fused groups mixing layouts: q sage, k uniform, v f16; gate uniform, up sage.</summary>
    internal static PackManifest MixedVariant(PackManifest manifest)
    {
        var uniform = UniformVariant(manifest);
        var f16 = Fp16Substitute.Manifest(manifest);
        LinearRecord From(PackManifest source, string role) => source.FindLinear(CudaSourceBuilder.LinearName(1, role))!;
        var replaced = new[] { From(uniform, "self_attn.k_proj"), From(f16, "self_attn.v_proj"), From(uniform, "mlp.gate_proj") }.ToDictionary(l => l.Name);
        return manifest with { Linears = manifest.Linears.Select(l => replaced.GetValueOrDefault(l.Name, l)).ToList() };
    }

    /// <summary>
    /// The fixture at LLaMA-2-7B's shapes (4096 hidden, 11008 intermediate, 32 heads of 128): every decoder linear
    /// sage, rotated, 4 groups, 2.25 % salient columns at 4 bits (the largest prepare buffers and staged activations
    /// the decode loop has), and an f16 LM head of 32,000 rows.
    /// </summary>
    internal static (PackManifest Manifest, LinearRecord LmHead) LlamaSevenBShaped(PackManifest manifest)
    {
        var a = manifest.Architecture with { HiddenSize = 4096, IntermediateSize = 11008, NumHeads = 32, NumKeyValueHeads = 32, HeadDim = 128, VocabSize = 32000 };
        var decoder = manifest.Linears.Where(l => l.Layer is not null).Select(l =>
        {
            var (rows, cols) = l.Name.Contains("down_proj", StringComparison.Ordinal) ? (4096, 11008)
                : l.Name.Contains(".mlp.", StringComparison.Ordinal) ? (11008, 4096) : (4096, 4096);
            var parameters = new Dictionary<string, int>
            {
                ["flags"] = 8, ["groups"] = 4, ["salient_bits"] = 4, ["salient_count"] = cols * 9 / 400, ["scale_mode"] = 1,
                ["rotate_seed_hi"] = 7, ["rotate_seed_lo"] = -3,
            };
            return l with { Rows = rows, Cols = cols, Parameters = parameters };
        });
        var head = new LinearRecord("lm_head.weight", null, a.VocabSize, a.HiddenSize, "f16", new Dictionary<string, int>(),
            [new SectionRecord("weight", 0, 2L * a.VocabSize * a.HiddenSize)], new LinearStats(0, 0, 0, 0, 16));
        return (manifest with { Architecture = a, Linears = [.. decoder] }, head);
    }

    [ClangTheory]
    [InlineData("sage")]
    [InlineData("uniform")]
    [InlineData("f16")]
    [InlineData("mixed")]
    [InlineData("llama2-7b")]
    public void Every_kernel_compiles_to_ptx_with_clang_within_the_static_shared_memory_limit(string variant)
    {
        var (fixture, sha) = Fixture();
        var (manifest, head) = variant switch
        {
            "uniform" => (UniformVariant(fixture), null), "f16" => (Fp16Substitute.Manifest(fixture), null), "mixed" => (MixedVariant(fixture), null),
            "llama2-7b" => LlamaSevenBShaped(fixture), _ => (fixture, (LinearRecord?)null),
        };
        head ??= LmHeadOf(manifest);
        var builder = new CudaSourceBuilder(manifest, "m", sha);
        using var dir = TestAssets.NewTempDir();
        File.WriteAllText(dir.File("sageptq.cuh"), CudaSourceBuilder.HeaderText);
        File.Copy(Path.Combine(TestAssets.RepoRoot, "templates", "cuda", "clang_prelude.h"), dir.File("clang_prelude.h"));
        var backend = builder.BackendSource(head);
        if (variant != "llama2-7b")
            Assert.Contains(variant == "uniform" ? "sageptq::uniform::gemv<4096, 256, 8, 128>(args);" : "sageptq::f16::gemv<4096, 256>(args);", backend, StringComparison.Ordinal);
        var sources = new (string File, string Text, IEnumerable<string> Kernels)[]
        {
            ("model.cu", builder.ModelSource(), CudaSourceBuilder.ModelKernels),
            ("decode.cu", backend, CudaSourceBuilder.BackendKernels),
            ("layer01.cu", builder.LayerSource(1).Source, builder.LayerSource(1).Kernels),
            ("decode01.cu", builder.LayerDecodeSource(1).Source, builder.LayerDecodeSource(1).Kernels),
        };
        foreach (var (file, text, kernels) in sources)
        {
            File.WriteAllText(dir.File(file), text);
            var start = new ProcessStartInfo("clang-14") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir.Path };
            foreach (var argument in new[] { "-x", "cuda", "--cuda-device-only", "--cuda-gpu-arch=sm_80", "-nocudainc", "-nocudalib",
                         "-include", dir.File("clang_prelude.h"), "-I", dir.Path, "-O2", "-S", "-o", dir.File(file + ".ptx"), dir.File(file) })
                start.ArgumentList.Add(argument);
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"clang-14 refused the {variant} {file} (exit {process.ExitCode}):\n{stdout}{stderr.Result}");
            var ptx = File.ReadAllText(dir.File(file + ".ptx"));
            var shared = SharedBytesPerKernel(ptx);
            Assert.Equal(kernels.Order(StringComparer.Ordinal), shared.Keys.Order(StringComparer.Ordinal));
            foreach (var (kernel, bytes) in shared)
                Assert.True(bytes <= StaticSharedLimit, $"{variant} {kernel} declares {bytes} bytes of static shared memory, over the {StaticSharedLimit} a kernel may have");
            foreach (var (kernel, bytes) in LocalBytesPerKernel(ptx))
                Assert.True(bytes == 0, $"{variant} {kernel} keeps {bytes} bytes in local memory (a register array indexed at run time, or a loop left rolled)");
        }
    }

    /// <summary>Each kernel (.entry) of a PTX module and the size of its local-memory frame (<c>__local_depot</c>; 0 when it has none).</summary>
    internal static Dictionary<string, long> LocalBytesPerKernel(string ptx)
    {
        var entries = Regex.Matches(ptx, @"\.entry (\w+)\(");
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int i = 0; i < entries.Count; i++)
        {
            int end = i + 1 < entries.Count ? entries[i + 1].Index : ptx.Length;
            var depot = Regex.Match(ptx[entries[i].Index..end], @"\.local \.align \d+ \.b8 \t*__local_depot\d+\[(\d+)\];");
            result[entries[i].Groups[1].Value] = depot.Success ? long.Parse(depot.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        }
        return result;
    }

    /// <summary>The most static shared memory a CUDA kernel may declare (48 KiB; more must be dynamic and opted into).</summary>
    private const long StaticSharedLimit = 48 * 1024;

    /// <summary>Each kernel (.entry) of a PTX module and the bytes of the .shared variables its body names.</summary>
    internal static Dictionary<string, long> SharedBytesPerKernel(string ptx)
    {
        var variables = Regex.Matches(ptx, @"^(?:\.weak |\.global |\.visible )?\.shared \.align \d+ \.b8 ([\w$]+)\[(\d+)\];", RegexOptions.Multiline)
            .ToDictionary(m => m.Groups[1].Value, m => long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        var entries = Regex.Matches(ptx, @"\.entry (\w+)\(");
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int i = 0; i < entries.Count; i++)
        {
            int end = i + 1 < entries.Count ? entries[i + 1].Index : ptx.Length;
            var body = ptx[entries[i].Index..end];
            result[entries[i].Groups[1].Value] = variables.Where(v => Regex.IsMatch(body, $@"\b{Regex.Escape(v.Key)}\b")).Sum(v => v.Value);
        }
        return result;
    }

    internal static LinearRecord LmHeadOf(PackManifest manifest) => CudaDecodePlan.Create(manifest, null).LmHead;

    internal static PackManifest WithParameters(PackManifest manifest, string name, Action<Dictionary<string, int>> edit) => manifest with
    {
        Linears = manifest.Linears.Select(l =>
        {
            if (l.Name != name) return l;
            var parameters = new Dictionary<string, int>(l.Parameters);
            edit(parameters);
            return l with { Parameters = parameters };
        }).ToList(),
    };

}

/// <summary>A theory that needs clang-14 and templates/cuda/clang_prelude.h; skipped with the reason elsewhere.</summary>
public sealed class ClangTheoryAttribute : TheoryAttribute
{
    public ClangTheoryAttribute()
    {
        bool clang = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "clang-14")));
        if (!clang) Skip = "clang-14 is not on PATH: the CUDA syntax check of the decode-loop kernels is skipped";
        else if (!File.Exists(Path.Combine(TestAssets.RepoRoot, "templates", "cuda", "clang_prelude.h")))
            Skip = "templates/cuda/clang_prelude.h is absent: the CUDA syntax check is skipped";
    }
}
