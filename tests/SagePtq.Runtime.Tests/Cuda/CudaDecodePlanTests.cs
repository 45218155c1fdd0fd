using System.Runtime.InteropServices;
using SagePtq.Runtime.Cuda;
using SagePtq.Runtime.Cuda.Model;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Reference;
using SagePtq.Runtime.Tests.Api;

using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Cuda;

/// <summary>
/// What the CUDA model decides on the host (no GPU needed): the linears it runs and their order, the placement
/// of their sections in device memory, rotation seeds, the LM head from a plain tensor, the FP16 stand-in of the
/// benchmark, the RoPE tables, and how <see cref="ModelBackend.Cuda"/> fails on a machine without CUDA.
/// </summary>
public sealed class CudaDecodePlanTests
{
    [Fact]
    public void The_plan_runs_each_layers_seven_linears_in_forward_order_then_the_lm_head()
    {
        var (manifest, _) = CudaSourceBuilderTests.Fixture();
        var plan = CudaDecodePlan.Create(manifest, null);
        Assert.Equal(6, plan.Layers.Count);
        for (int layer = 0; layer < 6; layer++)
            Assert.Equal(CudaSourceBuilder.Roles.Select(r => CudaSourceBuilder.LinearName(layer, r)), plan.Layers[layer].Linears.Select(l => l.Record.Name));
        Assert.Equal("lm_head.weight", plan.LmHead.Name);
        Assert.Equal("f16", plan.LmHead.Layout);
        Assert.Equal((4096, 256), (plan.LmHead.Rows, plan.LmHead.Cols));
        Assert.Equal(2048, plan.ContextLength);
        Assert.Equal(100, CudaDecodePlan.Create(manifest, 100).ContextLength);
        Assert.Equal(2048, CudaDecodePlan.Create(manifest, 1 << 20).ContextLength);
    }

    [Fact]
    public void Sections_are_placed_in_pack_order_aligned_without_overlap()
    {
        var (manifest, _) = CudaSourceBuilderTests.Fixture();
        var plan = CudaDecodePlan.Create(manifest, null);
        long end = 0, sectionBytes = 0;
        foreach (var linear in plan.Linears)
        {
            var placed = plan.Weights.Linears[linear.Record.Name];
            Assert.Equal(linear.Record.Sections.Select(s => s.Length), placed.Select(p => p.Length));
            foreach (var section in placed)
            {
                Assert.Equal(0, section.Offset % DeviceWeights.SectionAlignment);
                Assert.True(section.Offset >= end, "sections overlap");
                end = section.Offset + section.Length;
                sectionBytes += section.Length;
            }
        }
        Assert.Equal(end, plan.Weights.TotalBytes);
        Assert.Equal(sectionBytes, plan.Weights.SectionBytes);
        Assert.Equal(manifest.Linears.Where(l => l.Layer is not null).Sum(l => l.Sections.Sum(s => s.Length)) + 2L * 4096 * 256, sectionBytes);
    }

    [Fact]
    public void More_sections_than_the_kernels_take_is_refused()
    {
        var plan = new WeightPlan();
        var e = Assert.Throws<InvalidDataException>(() => plan.Add("w", Enumerable.Repeat(16L, LinearArgs.MaxSections + 1)));
        Assert.Contains("w has more than 10 sections", e.Message, StringComparison.Ordinal);
        plan.Add("ok", [1, 2]);
        Assert.Throws<ArgumentException>(() => plan.Add("ok", [1]));
    }

    [Fact]
    public void The_rotation_seed_is_hi_and_lo_as_unsigned_halves()
    {
        var (manifest, _) = CudaSourceBuilderTests.Fixture();
        var name = CudaSourceBuilder.LinearName(2, "mlp.gate_proj");
        var rotated = CudaSourceBuilderTests.WithParameters(manifest, name, p =>
        {
            p["rotate_seed_lo"] = -2;
            p["rotate_seed_hi"] = 0x12345678;
        });
        var plan = CudaDecodePlan.Create(rotated, null);
        Assert.Equal(0x12345678_FFFFFFFEUL, plan.Layers[2].Linears[4].RotationSeed);
        Assert.Equal(0UL, plan.Layers[2].Linears[5].RotationSeed);
    }

    [Fact]
    public void Layouts_without_a_kernel_and_wrong_shapes_are_refused_by_name()
    {
        var (manifest, _) = CudaSourceBuilderTests.Fixture();
        var name = CudaSourceBuilder.LinearName(4, "self_attn.o_proj");
        var pbllm = manifest with { Linears = manifest.Linears.Select(l => l.Name == name ? l with { Layout = "pbllm" } : l).ToList() };
        var e = Assert.Throws<CudaUnavailableException>(() => CudaDecodePlan.Create(pbllm, null));
        Assert.Contains($"{name} uses the 'pbllm' layout, which has no CUDA kernel", e.Message, StringComparison.Ordinal);

        var wide = manifest with { Linears = manifest.Linears.Select(l => l.Name == name ? l with { Cols = 300 } : l).ToList() };
        var shape = Assert.Throws<ModelFileException>(() => CudaDecodePlan.Create(wide, null));
        Assert.Contains($"{name} is [256, 300], the architecture needs [256, 256]", shape.Message, StringComparison.Ordinal);

        var noKey = CudaSourceBuilderTests.WithParameters(manifest, name, p => p.Remove("scale_mode"));
        Assert.Contains("'scale_mode' is missing", Assert.Throws<CudaUnavailableException>(() => CudaDecodePlan.Create(noKey, null)).Message, StringComparison.Ordinal);

        var noHead = manifest with { Tensors = manifest.Tensors.Where(t => t.Name != "lm_head.weight").ToList() };
        Assert.Contains("lm_head.weight", Assert.Throws<ModelFileException>(() => CudaDecodePlan.Create(noHead, null)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_fp16_stand_in_keeps_every_shape_and_makes_every_decoder_linear_one_f16_section()
    {
        var (manifest, sha) = CudaSourceBuilderTests.Fixture();
        var substitute = Fp16Substitute.Manifest(manifest);
        var plan = CudaDecodePlan.Create(substitute, null);
        foreach (var linear in plan.Layers.SelectMany(l => l.Linears))
        {
            var original = manifest.FindLinear(linear.Record.Name)!;
            Assert.Equal(("f16", original.Rows, original.Cols), (linear.Record.Layout, linear.Record.Rows, linear.Record.Cols));
            Assert.Equal([2L * original.Rows * original.Cols], linear.Record.Sections.Select(s => s.Length));
        }
        Assert.Contains("sageptq::f16::gemv<704, 256>(args);", new CudaSourceBuilder(substitute, "m", sha).LayerSource(0).Source, StringComparison.Ordinal);
        Assert.DoesNotContain("sage::", new CudaSourceBuilder(substitute, "m", sha).LayerDecodeSource(0).Source, StringComparison.Ordinal);

        var noise = MemoryMarshal.Cast<byte, Half>(Fp16Substitute.Noise(1000));
        Assert.Equal(500, noise.Length);
        foreach (var h in noise) Assert.True(Half.IsFinite(h) && Math.Abs((float)h) < 1f / 64, $"{h} is not a small finite half");
        Assert.True(Fp16Substitute.Noise(1000).AsSpan().SequenceEqual(Fp16Substitute.Noise(1000)));
        Assert.True(noise.ToArray().Distinct().Count() > 400, "the stand-in weights are not varied");
    }

    [Fact]
    public void Rope_tables_rotate_exactly_as_the_cpu_rotary_embedding()
    {
        const int headDim = 64, positions = 300;
        var (cos, sin) = RopeTables.Build(headDim, positions, 10000f);
        var cpu = new RotaryEmbedding(headDim, positions, 10000f);
        var random = new Random(3);
        foreach (int position in new[] { 0, 1, 17, 299 })
        {
            var head = Enumerable.Range(0, headDim).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var expected = head.ToArray();
            cpu.Apply(expected, position);
            // The header's rope_pair: x1·cos − x2·sin, x2·cos + x1·sin over pairs (i, i + d/2).
            for (int i = 0; i < headDim / 2; i++)
            {
                float c = cos[position * headDim / 2 + i], s = sin[position * headDim / 2 + i];
                float x1 = head[i], x2 = head[i + headDim / 2];
                head[i] = x1 * c - x2 * s;
                head[i + headDim / 2] = x2 * c + x1 * s;
            }
            Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), head.Select(BitConverter.SingleToInt32Bits));
        }
    }

    [NoCudaFact]
    public void Asking_for_the_cuda_backend_without_cuda_fails_with_the_reason()
    {
        using var dir = TestAssets.NewTempDir();
        LanguageModelOpenTests.WriteF16Pack(dir.Path);
        var e = Assert.Throws<CudaUnavailableException>(() => { LanguageModel.Open(dir.Path, new LanguageModelOptions { Backend = ModelBackend.Cuda }).Dispose(); });
        Assert.Equal($"CUDA backend unavailable: {CudaAvailability.Probe.Reason}", e.Message);
        // The pack was released: the folder can be replaced at once, and the CPU backend still opens it.
        using var cpu = LanguageModel.Open(dir.Path);
        Assert.Equal(4096, cpu.Config.VocabSize);
    }

    [Fact]
    public void Options_refuse_impossible_values()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new CudaModelOptions { ContextLength = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new CudaModelOptions { DeviceOrdinal = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new LanguageModelOptions { ContextLength = 0 });
        Assert.Equal(ModelBackend.Cuda, new LanguageModelOptions { Backend = ModelBackend.Cuda }.Backend);
    }
}
