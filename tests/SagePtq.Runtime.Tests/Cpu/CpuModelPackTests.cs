using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using SagePtq.Runtime.Reference;
using SagePtq.Runtime.Tests.Packing;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Cpu;

/// <summary><see cref="CpuModel"/> on the tiny test packs: it follows the reference, and a pack that does not hold the model its manifest describes is refused by name.</summary>
public sealed class CpuModelPackTests
{
    [Fact]
    public void A_tiny_pack_runs_like_the_reference_forward_pass()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        using var pack = PackedModel.Open(dir.Path);
        var reference = new ReferenceModel(pack.ToLlamaWeights());
        using var model = new CpuModel(pack, new CpuModelOptions { BatchSize = 3, Threads = 2 });
        int vocab = model.Config.VocabSize;
        int[] tokens = Enumerable.Range(0, 7).Select(i => (i * 5 + 1) % vocab).ToArray();
        var expected = new float[tokens.Length * vocab];
        var actual = new float[tokens.Length * vocab];
        reference.Forward(tokens, 0, expected);
        model.Forward(tokens, 0, actual);
        for (int i = 0; i < actual.Length; i++) Assert.Equal(expected[i], actual[i], 1e-2f);
    }

    [Fact]
    public void A_linear_of_the_wrong_shape_is_refused_by_name()
    {
        using var dir = TestAssets.NewTempDir();
        var contents = TestPacks.Contents();
        string query = LlamaTensors.Layer(0, "self_attn.q_proj");
        var linears = new Dictionary<string, (LinearPayload, LinearStats)>(contents.Linears);
        var shape = LlamaTensors.LayerShape(contents.Config, "self_attn.q_proj");
        int rows = (int)shape[0] + 1, cols = (int)shape[1];
        linears[query] = (F16Layout.Encode(new float[rows * cols], rows, cols).Payload, F16Layout.Stats);
        PackWriter.Write(dir.Path, contents with { Linears = linears });

        var e = Assert.Throws<ModelFileException>(() => CpuModel.Open(dir.Path));
        Assert.Contains($"{query} is [{rows}, {cols}], the architecture needs [{shape[0]}, {shape[1]}]", e.Message);
        Assert.Contains(PackFormat.PackFileName, e.Message);
    }

    [Fact]
    public void A_missing_norm_is_refused_by_name()
    {
        using var dir = TestAssets.NewTempDir();
        var contents = TestPacks.Contents();
        var tensors = contents.Tensors.Where(t => t.Key != LlamaTensors.FinalNorm).ToDictionary();
        PackWriter.Write(dir.Path, contents with { Tensors = tensors });

        var e = Assert.Throws<ModelFileException>(() => CpuModel.Open(dir.Path));
        Assert.Contains($"has no float tensor {LlamaTensors.FinalNorm}, which the forward pass needs", e.Message);
    }
}
