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

    /// <summary>The embedding as a <c>uniform</c> linear record (rows are tokens): decoded dense for the reference model, untied and tied.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EmbeddingMayBeALinearPayload(bool tied)
    {
        using var dir = TestAssets.NewTempDir();
        var contents = TestPacks.Contents();
        var config = contents.Config with { TieWordEmbeddings = tied };
        var tensors = contents.Tensors.ToDictionary();
        tensors.Remove(LlamaTensors.Embedding);
        if (tied) tensors.Remove(LlamaTensors.LmHead);
        var linears = contents.Linears.ToDictionary();
        linears.Remove(TestPacks.ExtraLinear);

        int rows = config.VocabSize, cols = config.HiddenSize, groupSize = 8, groups = cols / groupSize;
        var random = new Random(5);
        var codes = Enumerable.Range(0, rows * cols).Select(_ => (byte)random.Next(16)).ToArray();
        var scales = Enumerable.Range(0, rows * groups).Select(k => (Half)(0.01f * (1 + k % 7))).ToArray();
        var zeros = Enumerable.Range(0, rows * groups).Select(k => (byte)(k % 16)).ToArray();
        var weights = new UniformWeights(rows, cols, 4, groupSize, codes, scales, zeros, null, [], []);
        linears[LlamaTensors.Embedding] = (UniformLayout.Encode(weights), new LinearStats(1, 0, 0, 0, 4 + 32.0 / groupSize));
        PackWriter.Write(dir.Path, contents with { Config = config, Tensors = tensors, Linears = linears });

        // Oracle: weight [r, c] = scale[r, c / 8] · (code[r, c] − zero[r, c / 8]), written out by hand.
        var expected = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                expected[r * cols + c] = (float)scales[r * groups + c / groupSize] * (codes[r * cols + c] - zeros[r * groups + c / groupSize]);

        using var pack = PackedModel.Open(dir.Path);
        var fromPack = pack.ToLlamaWeights();
        Assert.Equal(expected, fromPack.Embedding);
        if (tied) Assert.Same(fromPack.Embedding, fromPack.LmHead);
        else Assert.Equal(contents.Tensors[LlamaTensors.LmHead].Data.Select(v => (float)(Half)v), fromPack.LmHead);
        Assert.Null(pack.Manifest.FindTensor(LlamaTensors.Embedding));

        var report = ModelBitReport.FromManifest(pack.Manifest);
        var embedding = report.Others.Single(o => o.Kind == ModelBitReport.EmbeddingKind);
        Assert.Equal("uniform 4-bit", embedding.Storage);
        Assert.Equal(ModelBitReport.EmbeddingKind, report.Others[0].Kind);   // listed first, whichever way it is stored
        Assert.Equal(tied ? 0 : 1, report.Others.Count(o => o.Kind == ModelBitReport.LmHeadKind));
        Assert.Equal(config.NumLayers * 7, report.Linears.Count);
    }
}
