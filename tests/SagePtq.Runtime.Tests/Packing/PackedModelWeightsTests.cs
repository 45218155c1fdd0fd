using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using SagePtq.Runtime.Reference;
using SagePtq.Tests;
using Xunit;
using Xunit.Abstractions;

namespace SagePtq.Runtime.Tests.Packing;

public sealed class PackedModelWeightsTests(ITestOutputHelper output)
{
    /// <summary>sagelm-7m with every linear in the f16 layout and the other tensors in FP16: the pack path is exact.</summary>
    [Fact]
    public void F16PackOfTheEmbeddedModelGivesTheCheckpointsLogitsExactly()
    {
        using var checkpoint = Checkpoint.Open(TestAssets.EmbeddedModel);
        var original = LlamaWeights.FromCheckpoint(checkpoint);
        var config = checkpoint.Config;

        var tensors = new Dictionary<string, (float[], long[])>();
        var linears = new Dictionary<string, (LinearPayload, LinearStats)>();
        foreach (var (name, shape) in LlamaTensors.Expected(config))
        {
            var data = checkpoint.ReadFloat32(name);
            if (name.StartsWith("model.layers.", StringComparison.Ordinal) && shape.Length == 2)
            {
                var (payload, dequantized) = F16Layout.Encode(data, (int)shape[0], (int)shape[1]);
                Assert.Equal(data, dequantized);   // the checkpoint is FP16, so f16 is lossless
                linears[name] = (payload, F16Layout.Stats);
            }
            else tensors[name] = (data, shape);
        }

        using var dir = TestAssets.NewTempDir();
        var manifest = PackWriter.Write(dir.Path, new PackContents
        {
            Config = config,
            TokenizerJson = File.ReadAllBytes(checkpoint.TokenizerPath),
            Method = "f16",
            Tensors = tensors,
            Linears = linears,
        });
        Assert.Equal(config.NumLayers * 7, manifest.Linears.Count);

        using var pack = PackedModel.Open(dir.Path);
        Assert.Equal(config, pack.Manifest.Architecture with { EosTokenIds = config.EosTokenIds });
        var fromPack = pack.ToLlamaWeights();
        Assert.Equal(original.Embedding, fromPack.Embedding);
        Assert.Equal(original.LmHead, fromPack.LmHead);
        for (int i = 0; i < config.NumLayers; i++)
            Assert.Equal(original.Layers[i].Down, fromPack.Layers[i].Down);

        int[] tokens = [1, 450, 2996, 1354, 701, 432, 3204, 975, 278, 366, 1203];
        var expected = new float[tokens.Length * config.VocabSize];
        var actual = new float[expected.Length];
        new ReferenceModel(original).Forward(tokens, 0, expected);
        new ReferenceModel(fromPack).Forward(tokens, 0, actual);
        Assert.Equal(expected, actual);

        var report = ModelBitReport.FromManifest(pack.Manifest);
        output.WriteLine($"pack {report.PackBytes} bytes, FP16 checkpoint {report.Fp16CheckpointBytes} bytes, storage bits/weight {report.StorageBitsPerWeight}");
        Assert.Equal(16.0, report.StorageBitsPerWeight);
        Assert.Equal(16.0, report.PaperBitsPerWeight);
    }

    [Fact]
    public void MissingOrMisshapenTensorIsNamed()
    {
        using var dir = TestAssets.NewTempDir();
        var contents = TestPacks.Contents();
        var tensors = contents.Tensors.ToDictionary();
        tensors.Remove(LlamaTensors.FinalNorm);
        PackWriter.Write(dir.Path, contents with { Tensors = tensors });
        using (var pack = PackedModel.Open(dir.Path))
            Assert.Contains($"has no tensor {LlamaTensors.FinalNorm}", Assert.Throws<ModelFileException>(pack.ToLlamaWeights).Message);

        using var dir2 = TestAssets.NewTempDir();
        var linears = contents.Linears.ToDictionary();
        string q = LlamaTensors.Layer(0, "self_attn.q_proj");
        linears[q] = (F16Layout.Encode(new float[16 * 8], 8, 16).Payload, F16Layout.Stats);
        PackWriter.Write(dir2.Path, contents with { Linears = linears });
        using (var pack = PackedModel.Open(dir2.Path))
            Assert.Contains($"linear {q} is [8, 16], the architecture needs [16, 16]", Assert.Throws<ModelFileException>(pack.ToLlamaWeights).Message);
    }

    [Fact]
    public void LmHeadMayBeALinearPayload()
    {
        using var dir = TestAssets.NewTempDir();
        var contents = TestPacks.Contents();
        var tensors = contents.Tensors.ToDictionary();
        var (lmHead, shape) = tensors[LlamaTensors.LmHead];
        tensors.Remove(LlamaTensors.LmHead);
        var linears = contents.Linears.ToDictionary();
        linears.Remove(TestPacks.ExtraLinear);
        var (payload, dequantized) = F16Layout.Encode(lmHead, (int)shape[0], (int)shape[1]);
        linears[LlamaTensors.LmHead] = (payload, F16Layout.Stats);
        PackWriter.Write(dir.Path, contents with { Tensors = tensors, Linears = linears });
        using var pack = PackedModel.Open(dir.Path);
        Assert.Equal(dequantized, pack.ToLlamaWeights().LmHead);
        Assert.Null(pack.Manifest.FindLinear(LlamaTensors.LmHead)!.Layer);
    }
}
