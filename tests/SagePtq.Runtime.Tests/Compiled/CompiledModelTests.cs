using System.Runtime.InteropServices;
using System.Security.Cryptography;
using SagePtq.Runtime.Compiled;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Tests.Api;
using SagePtq.Runtime.Tests.Packing;
using SagePtq.Tests;
using static SagePtq.Runtime.Tests.Api.EmbeddedLanguageModel;

namespace SagePtq.Runtime.Tests.Compiled;

/// <summary>
/// What generated model classes rely on: layer forward passes of their own with plans checked against
/// the pack, a pack found beside the assembly or in memory, and the manifest hash compiled into the class.
/// </summary>
public sealed class CompiledModelTests
{
    private static ModelPlan PlanOf(PackedModel pack, string modelId, string manifestPath) => new(
        modelId,
        Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(manifestPath))),
        Enumerable.Range(0, pack.Manifest.Architecture.NumLayers).Select(i => LayerPlan.From(pack.Manifest, i)).ToArray());

    [Fact]
    public void Compiled_layers_run_in_order_with_their_plans_and_match_the_generic_model()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        using var pack = PackedModel.Open(dir.Path);
        var plan = PlanOf(pack, "tiny", TestPacks.ManifestPath(dir.Path));
        var calls = new List<(int Layer, int Start, int Tokens)>();
        var forwards = plan.Layers.Select(layer => (CpuLayerForward)(step =>
        {
            calls.Add((step.Layer, step.StartPosition, step.Tokens));
            CpuLayerStep.Standard(step, layer);
        })).ToArray();

        using var generic = new CpuModel(pack, new CpuModelOptions { BatchSize = 4, Threads = 2 });
        using var compiled = new CpuModel(pack, new CpuModelOptions { BatchSize = 4, Threads = 2 }, ownsPack: false, new CpuModel.CompiledLayers(plan.Layers, forwards));
        int vocab = generic.Config.VocabSize;
        int[] tokens = Enumerable.Range(0, 6).Select(i => (i * 3 + 2) % vocab).ToArray();
        var expected = new float[tokens.Length * vocab];
        var actual = new float[tokens.Length * vocab];
        generic.Forward(tokens, 0, expected);
        compiled.Forward(tokens, 0, actual);

        Assert.Equal(expected, actual);
        int layers = plan.Layers.Count;
        Assert.Equal([.. Enumerable.Range(0, layers).Select(l => (l, 0, 4)), .. Enumerable.Range(0, layers).Select(l => (l, 4, 2))], calls);
    }

    [Fact]
    public void A_plan_that_disagrees_with_the_pack_is_refused_with_rebuild_advice()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        using var pack = PackedModel.Open(dir.Path);
        var plan = PlanOf(pack, "tiny", TestPacks.ManifestPath(dir.Path));
        var layer1 = plan.Layers[1];
        var stale = plan.Layers.ToArray();
        stale[1] = layer1 with { Down = layer1.Down with { SalientCount = layer1.Down.SalientCount + 5 } };
        var forwards = stale.Select(l => (CpuLayerForward)(step => CpuLayerStep.Standard(step, l))).ToArray();

        var e = Assert.Throws<ModelFileException>(() => new CpuModel(pack, null, ownsPack: false, new CpuModel.CompiledLayers(stale, forwards)));
        Assert.Contains(layer1.Down.Name, e.Message);
        Assert.Contains("rebuild the project", e.Message);
    }

    [Fact]
    public void A_layer_that_passes_another_linears_plan_is_stopped()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        using var pack = PackedModel.Open(dir.Path);
        var plan = PlanOf(pack, "tiny", TestPacks.ManifestPath(dir.Path));
        // Layer 0 passes layer 1's plans: same shapes, different linears.
        var forwards = plan.Layers.Select(_ => (CpuLayerForward)(step => CpuLayerStep.Standard(step, plan.Layers[^1]))).ToArray();
        using var model = new CpuModel(pack, null, ownsPack: false, new CpuModel.CompiledLayers(plan.Layers, forwards));

        var e = Assert.Throws<ArgumentException>(() => model.Forward(1, 0));
        Assert.Contains("layer 0 was given the plan of model.layers.1.", e.Message);
    }

    [Fact]
    public void Open_finds_a_pack_copied_beside_the_assembly_and_checks_the_compiled_manifest_hash()
    {
        string modelId = "compiled-test-" + Guid.NewGuid().ToString("N")[..8];
        var assembly = typeof(CompiledModelTests).Assembly;
        string folder = CompiledPackLocation.CopiedFolder(Path.GetDirectoryName(assembly.Location)!, modelId);
        Directory.CreateDirectory(folder);
        try
        {
            LanguageModelOpenTests.WriteF16Pack(folder);
            ModelPlan plan;
            using (var pack = PackedModel.Open(folder)) plan = PlanOf(pack, modelId, Path.Combine(folder, PackFormat.ManifestFileName));
            var forwards = plan.Layers.Select(l => (CpuLayerForward)(step => CpuLayerStep.Standard(step, l))).ToArray();

            using (var model = CompiledModel.Open(assembly, plan, forwards))
            {
                Assert.Equal(modelId, model.ModelId);
                Assert.Equal(GoldenContinuation, model.Generate(Golden.Prompt, GoldenOptions));
                var logits = model.Forward(Golden.Ids);
                Assert.Equal(Golden.ArgmaxPerPosition[^1], Array.IndexOf(logits, logits.Max()));
            }

            if (!Runtime.Cuda.CudaAvailability.IsAvailable)
            {
                // Asking a generated class for the GPU where there is none says why; it does not quietly run the CPU.
                var noGpu = Assert.Throws<Runtime.Cuda.Model.CudaUnavailableException>(() =>
                    CompiledModel.Open(assembly, plan, forwards, new LanguageModelOptions { Backend = ModelBackend.Cuda }));
                Assert.Contains("CUDA backend unavailable", noGpu.Message);
            }

            var e = Assert.Throws<ModelFileException>(() => CompiledModel.Open(assembly, plan with { ManifestSha256 = new string('0', 64) }, forwards));
            Assert.Contains("rebuild the project", e.Message);
            Assert.Contains(PackFormat.ManifestFileName, e.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Open_names_both_places_it_looked_when_no_pack_was_delivered()
    {
        var e = Assert.Throws<ModelFileException>(() => CompiledModel.Open(typeof(CompiledModelTests).Assembly, new ModelPlan("absent-model", "", []), []));
        Assert.Contains("SagePtq/absent-model/model.manifest.json", e.Message);
        Assert.Contains(Path.Combine("sageptq", "absent-model"), e.FilePath);
    }

    [Fact]
    public unsafe void A_pack_in_memory_opens_like_a_file_and_corruption_is_caught()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        byte[] packBytes = File.ReadAllBytes(TestPacks.PackPath(dir.Path));
        byte[] manifest = File.ReadAllBytes(TestPacks.ManifestPath(dir.Path));

        using (var memory = new NativeBytes(packBytes))
        using (var pack = PackedModel.OpenMemory(memory.Pointer, packBytes.Length, manifest, "app!pack", "app!manifest", memory))
        using (var file = PackedModel.Open(dir.Path))
            foreach (var entry in file.Table)
                Assert.True(file.GetTensorBytes(entry.Name).SequenceEqual(pack.GetTensorBytes(entry.Name)), entry.Name);

        packBytes[^100] ^= 0x40; // inside the tensor table
        var corrupt = new NativeBytes(packBytes);
        var e = Assert.Throws<ModelFileException>(() => PackedModel.OpenMemory(corrupt.Pointer, packBytes.Length, manifest, "app!pack", "app!manifest", corrupt));
        Assert.Contains("app!pack", e.Message);
        Assert.True(corrupt.Disposed, "the memory of a refused pack is released");
    }

    private sealed unsafe class NativeBytes : IDisposable
    {
        public NativeBytes(byte[] bytes)
        {
            Pointer = (byte*)NativeMemory.Alloc((nuint)bytes.Length);
            bytes.CopyTo(new Span<byte>(Pointer, bytes.Length));
        }

        public byte* Pointer { get; }
        public bool Disposed { get; private set; }

        public void Dispose()
        {
            if (Disposed) return;
            Disposed = true;
            NativeMemory.Free(Pointer);
        }
    }
}
