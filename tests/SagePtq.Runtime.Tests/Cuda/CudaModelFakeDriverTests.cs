using System.Runtime.InteropServices;
using SagePtq.Runtime.Cuda.Model;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Tests.Api;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Cuda;

/// <summary>
/// <see cref="CudaModel"/> against the fake driver (FakeDriver/run.sh): kernels do not execute there, so no
/// result is checked, only the calls: every kernel the sources name is found after the fake NVRTC "compiles"
/// them, the sections are uploaded, each gemv launch passes a LinearArgs per linear it runs (a fused launch
/// several) whose section pointers are 16-byte aligned and lie with their lengths inside live allocations, the first token launches the step directly and
/// captures it once, and later tokens are one graph launch each. Skipped unless the loaded libcuda.so.1 is the fake.
/// </summary>
public sealed unsafe class CudaModelFakeDriverTests
{
    private const int Launches = 0, GraphLaunches = 1, Captured = 2, Allocated = 3, CopiedIn = 4, GemvLaunches = 5, BadGemv = 6, GemvLinears = 7,
        PrefetchRegions = 8, BadPrefetch = 9;

    public sealed class FakeCudaFactAttribute : FactAttribute
    {
        public FakeCudaFactAttribute()
        {
            if (!NativeLibrary.TryLoad("libcuda.so.1", out var handle) || !NativeLibrary.TryGetExport(handle, "fake_statistics", out _))
                Skip = "needs the fake driver on the loader path (bash tests/SagePtq.Runtime.Tests/Cuda/FakeDriver/run.sh)";
        }
    }

    private static long[] Statistics()
    {
        var handle = NativeLibrary.Load("libcuda.so.1");
        var read = (delegate* unmanaged<long*, int, int>)NativeLibrary.GetExport(handle, "fake_statistics");
        var values = new long[16];
        fixed (long* p = values) read(p, values.Length);
        return values;
    }

    private static void ResetStatistics()
    {
        var handle = NativeLibrary.Load("libcuda.so.1");
        ((delegate* unmanaged<void>)NativeLibrary.GetExport(handle, "fake_reset_statistics"))();
    }

    /// <summary>The six-layer f16 test pack, written into <paramref name="dir"/>/pack and opened.</summary>
    private static PackedModel F16Pack(TempDir dir)
    {
        var packDir = Path.Combine(dir.Path, "pack");
        Directory.CreateDirectory(packDir);
        LanguageModelOpenTests.WriteF16Pack(packDir);
        return PackedModel.Open(packDir);
    }

    [FakeCudaFact]
    public void Decode_uploads_the_sections_launches_once_captures_once_and_replays_the_graph()
    {
        using var dir = TestAssets.NewTempDir();
        using var pack = F16Pack(dir);
        ResetStatistics();
        using var model = new CudaModel(pack, new CudaModelOptions { ContextLength = 64, KernelCacheDirectory = Path.Combine(dir.Path, "cache") });
        var plan = CudaDecodePlan.Create(pack.Manifest, 64);
        var opened = Statistics();
        Assert.True(opened[Allocated] >= plan.Weights.TotalBytes, $"{opened[Allocated]} bytes allocated, the sections alone need {plan.Weights.TotalBytes}");
        long embeddingTable = 4L * pack.Manifest.Architecture.VocabSize * pack.Manifest.Architecture.HiddenSize;
        Assert.True(opened[CopiedIn] >= plan.Weights.SectionBytes + embeddingTable,
            $"{opened[CopiedIn]} bytes copied in, the sections ({plan.Weights.SectionBytes}) and the FP32 embedding table ({embeddingTable}) are more");
        Assert.Equal(plan.Weights.SectionBytes, model.WeightBytesPerToken);

        // The embedding; six f16 layers: norm, q+k+v, RoPE+attention, o, norm, gate+up with the SwiGLU, down; then norm, LM head, greedy token.
        const int perToken = 1 + 6 * 7 + 3, gemvs = 6 * 4 + 1, linears = 6 * 7 + 1;
        Assert.Equal(perToken, model.LaunchesPerToken);
        Assert.Equal(4096, model.Forward(1, 0).Length);
        var first = Statistics();
        Assert.Equal(2 * perToken, first[Launches]);      // launched directly, then the same launches captured
        Assert.Equal(perToken, first[Captured]);
        Assert.Equal(0, first[GraphLaunches]);
        Assert.Equal(2 * gemvs, first[GemvLaunches]);
        Assert.Equal(2 * linears, first[GemvLinears]);
        Assert.Equal(0, first[BadGemv]);

        model.Forward(5, 1);
        var copied = Statistics()[CopiedIn];
        Assert.Equal(7, model.ForwardGreedy(7, 2));   // the fake runs no kernel: the step's input keeps the token the host wrote
        Assert.Equal(copied + 8, Statistics()[CopiedIn]);   // {token, position}, nothing more
        // The next greedy step starts from what the device holds ({the argmax, the next position}): nothing is copied in.
        Assert.Equal(7, model.ForwardGreedy(7, 3));
        Assert.Equal(copied + 8, Statistics()[CopiedIn]);
        var later = Statistics();
        Assert.Equal(first[Launches], later[Launches]);
        Assert.Equal(3, later[GraphLaunches]);
        Assert.Equal(4, model.CachedPositions);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(1, 6));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(4096, 4));

        var down = CudaSourceBuilder.LinearName(2, "mlp.down_proj");
        Assert.Equal(256, model.RunLinear(down, new float[704]).Length);
        var checkedOne = Statistics();
        Assert.Equal(later[GemvLaunches] + 1, checkedOne[GemvLaunches]);
        Assert.Equal(0, checkedOne[BadGemv]);
        Assert.Throws<ArgumentException>(() => model.RunLinear(down, new float[256]));
        Assert.Throws<KeyNotFoundException>(() => model.RunLinear("model.norm.weight", new float[256]));
    }

    /// <summary>
    /// The embedded model's shapes with every decoder linear a random sage encoding (rotated, salient columns, two
    /// groups) and the other tensors from the checkpoint: a pack whose step has prepare launches.
    /// </summary>
    private static PackedModel SagePack(TempDir dir)
    {
        var packDir = Path.Combine(dir.Path, "sage-pack");
        using var checkpoint = Checkpoint.Open(TestAssets.EmbeddedModel);
        var tensors = new Dictionary<string, (float[], long[])>();
        var linears = new Dictionary<string, (LinearPayload, LinearStats)>();
        int seed = 0;
        foreach (var (name, shape) in LlamaTensors.Expected(checkpoint.Config))
        {
            if (name.StartsWith("model.layers.", StringComparison.Ordinal) && shape.Length == 2)
            {
                var c = new Cpu.SageCase(name, (int)shape[0], (int)shape[1], Groups: 2, ScaleMode: 1, Salient: 4, SalientBits: 4, Rotated: true);
                linears[name] = (SageLayout.Encode(Cpu.SageTestPack.Build(c, ++seed)), new LinearStats(2, 4.0 / c.Cols, 4L * c.Rows, 4, 1.1));
            }
            else tensors[name] = (checkpoint.ReadFloat32(name), shape);
        }
        PackWriter.Write(packDir, new PackContents
        {
            Config = checkpoint.Config, TokenizerJson = File.ReadAllBytes(checkpoint.TokenizerPath), Method = "sage", Tensors = tensors, Linears = linears,
        });
        return PackedModel.Open(packDir);
    }

    [FakeCudaFact]
    public void Each_prepare_launch_prefetches_the_bytes_of_the_gemv_after_it()
    {
        using var dir = TestAssets.NewTempDir();
        using var pack = SagePack(dir);
        ResetStatistics();
        using var model = new CudaModel(pack, new CudaModelOptions { ContextLength = 16, KernelCacheDirectory = Path.Combine(dir.Path, "cache") });
        // Per layer: q/k/v norm + prepare, q/k/v gemv, RoPE + attention, o_proj prepare and gemv, gate/up prepare and
        // gemv, down_proj prepare and gemv; then the embedding, the final norm, the LM head and the greedy token.
        Assert.Equal(6 * 9 + 4, model.LaunchesPerToken);
        model.Forward(1, 0);
        var s = Statistics();
        // Directly, then captured: per layer the q/k/v prepare (3 regions), o_proj's (1), gate/up's (2), down_proj's (1).
        Assert.Equal(2 * 6 * (3 + 1 + 2 + 1), s[PrefetchRegions]);
        Assert.Equal(0, s[BadPrefetch]);
        Assert.Equal(0, s[BadGemv]);
    }

    [FakeCudaFact]
    public void The_step_profile_times_every_launch_once_per_repeat_and_sums_them_by_part()
    {
        using var dir = TestAssets.NewTempDir();
        using var pack = F16Pack(dir);
        using var model = new CudaModel(pack, new CudaModelOptions { ContextLength = 8, KernelCacheDirectory = Path.Combine(dir.Path, "cache") });
        model.Prefill([1, 2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.ProfileStep(3));
        ResetStatistics();
        var profile = model.ProfileStep(2, repeat: 3);
        var s = Statistics();
        // Each repeat: the spin, then the step's launches one by one, then one graph replay.
        Assert.Equal(3 * (1 + model.LaunchesPerToken), s[Launches]);
        Assert.Equal(3, s[GraphLaunches]);
        Assert.Equal(0, s[BadGemv]);
        Assert.Equal(
            [("embedding", 1), ("norm", 13), ("q/k/v gemv", 6), ("RoPE + attention", 6), ("o_proj gemv", 6), ("gate/up gemv + SwiGLU", 6), ("down_proj gemv", 6), ("LM head gemv", 1), ("greedy token", 1)],
            profile.Parts.Select(p => (p.Name, p.Launches)));
        // The fake reports 0.5 ms between any two events.
        Assert.All(profile.Parts, p => Assert.Equal(500.0 * p.Launches, p.Microseconds, 3));
        Assert.Equal(500.0 * model.LaunchesPerToken, profile.LaunchesMicroseconds, 3);
        Assert.Equal(500.0, profile.GraphMicroseconds, 3);
        Assert.Equal(3, model.CachedPositions);
    }

    [FakeCudaFact]
    public void Without_the_graph_every_token_launches_the_whole_step()
    {
        using var dir = TestAssets.NewTempDir();
        using var pack = F16Pack(dir);
        using var model = new CudaModel(pack, new CudaModelOptions { ContextLength = 16, UseGraph = false, KernelCacheDirectory = Path.Combine(dir.Path, "cache") });
        ResetStatistics();
        var logits = new float[3 * 4096];
        model.Forward([1, 2, 3], 0, logits);
        var s = Statistics();
        Assert.Equal(3 * model.LaunchesPerToken, s[Launches]);
        Assert.Equal(0, s[GraphLaunches]);
        Assert.Equal(0, s[BadGemv]);
    }
}
