using SagePtq.Quantizer.Methods;
using SagePtq.Quantizer.Pipeline;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using SagePtq.Tests;

namespace SagePtq.Quantizer.Tests.Pipeline;

public sealed class EmbeddingQuantizationTests
{
    [Theory]
    [InlineData("fp16", null)]
    [InlineData("8", 8)]
    [InlineData("4", 4)]
    public void Parse_reads_the_three_settings_and_names_them_back(string value, int? bits)
    {
        var setting = EmbeddingQuantization.Parse(value);
        Assert.Equal(bits, setting.Bits);
        Assert.Equal(value, setting.Name);
    }

    [Theory]
    [InlineData("3")]
    [InlineData("")]
    [InlineData("FP16")]
    [InlineData("8 ")]
    [InlineData("16")]
    public void Parse_refuses_anything_else(string value) =>
        Assert.Contains("expected one of fp16, 8, 4", Assert.Throws<ArgumentException>(() => EmbeddingQuantization.Parse(value)).Message);

    [Fact]
    public void A_tied_model_has_one_tensor_to_quantize_and_fp16_has_none()
    {
        var untied = ModelConfig.Parse(new TinyCheckpoint().Config.ToJsonString(), "config.json");
        var tied = untied with { TieWordEmbeddings = true };
        Assert.Equal([LlamaTensors.Embedding, LlamaTensors.LmHead], EmbeddingQuantization.Parse("8").TensorsOf(untied));
        Assert.Equal([LlamaTensors.Embedding], EmbeddingQuantization.Parse("4").TensorsOf(tied));
        Assert.Empty(EmbeddingQuantization.Fp16.TensorsOf(untied));
        var target = new LinearTarget("x", 2, 2, new float[4], null, 0);
        Assert.Throws<InvalidOperationException>(() => EmbeddingQuantization.Fp16.Quantize(target));
    }

    /// <summary>Against a naive oracle: each group of 128 values of a row gets the min/max-with-zero grid, so every weight is within half its group's step.</summary>
    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    public void Quantize_groups_128_hidden_values_per_row_and_rounds_to_the_nearest_step(int bits)
    {
        const int rows = 6, cols = 320;   // groups of 128, 128 and 64
        var random = new Random(bits);
        var weight = Enumerable.Range(0, rows * cols).Select(_ => (float)(random.NextDouble() - 0.3) * 0.2f).ToArray();
        var quantized = EmbeddingQuantization.Parse(bits.ToString()).Quantize(new LinearTarget("e", rows, cols, weight, null, 1));

        Assert.Equal(("uniform", bits, 128), (quantized.Payload.Layout, quantized.Payload.Parameter("bits"), quantized.Payload.Parameter("group_size")));
        Assert.Equal(quantized.Dequantized, LinearLayouts.Decode(quantized.Payload));
        int maxCode = (1 << bits) - 1;
        for (int r = 0; r < rows; r++)
            for (int start = 0; start < cols; start += 128)
            {
                var group = weight.AsSpan(r * cols + start, Math.Min(128, cols - start));
                float low = Math.Min(0, TensorMin(group)), high = Math.Max(0, TensorMax(group));
                float step = (float)(Half)((high - low) / maxCode);
                for (int k = 0; k < group.Length; k++)
                    Assert.True(Math.Abs(quantized.Dequantized[r * cols + start + k] - group[k]) <= step / 2 * 1.0001f + 1e-7f,
                        $"[{r}, {start + k}]: {group[k]} decoded to {quantized.Dequantized[r * cols + start + k]}, step {step}");
            }
    }

    [Fact]
    public void A_tied_model_stores_one_quantized_tensor_that_serves_as_embedding_and_lm_head()
    {
        using var dir = TestAssets.NewTempDir();
        var tiny = new TinyCheckpoint();
        tiny.Config["tie_word_embeddings"] = true;
        tiny.Tensors.Remove(LlamaTensors.LmHead);
        using var checkpoint = Checkpoint.Open(tiny.WriteTo(Path.Combine(dir.Path, "model")));

        var model = ModelQuantizer.Run(checkpoint, new Fp16Quantizer(), null, 0, EmbeddingQuantization.Parse("4"));
        var embedding = Assert.Single(model.QuantizedTensors);
        Assert.Equal(LlamaTensors.Embedding, embedding.Name);
        Assert.DoesNotContain(model.FloatTensors, t => t.Name is LlamaTensors.Embedding or LlamaTensors.LmHead);

        string packDir = Path.Combine(dir.Path, "pack");
        var manifest = PackWriter.Write(packDir, new PackContents
        {
            Config = checkpoint.Config,
            TokenizerJson = "{}"u8.ToArray(),
            Method = model.Method,
            Tensors = model.FloatTensors.ToDictionary(t => t.Name, t => (t.Data, t.Shape.Select(d => (long)d).ToArray())),
            Linears = model.Linears.Select(l => (l.Name, l.Quantized)).Concat(model.QuantizedTensors.Select(t => (t.Name, t.Quantized)))
                .ToDictionary(l => l.Name, l => (l.Quantized.Payload, l.Quantized.Stats)),
        });
        using var pack = PackedModel.Open(packDir);
        var weights = pack.ToLlamaWeights();
        Assert.Equal(embedding.Quantized.Dequantized, weights.Embedding);
        Assert.Same(weights.Embedding, weights.LmHead);
        Assert.NotEqual(checkpoint.ReadFloat32(LlamaTensors.Embedding), weights.Embedding);

        var report = ModelBitReport.FromManifest(manifest);
        var other = Assert.Single(report.Others, o => o.Kind is ModelBitReport.EmbeddingKind or ModelBitReport.LmHeadKind);
        Assert.Equal(("uniform 4-bit", 32L * 16), (other.Storage, other.Elements));
        Assert.Equal(2 * 7, report.Linears.Count);
    }

    /// <summary>Calibration starts from the embedding the pack will hold: the layer-0 Hessians, and so GPTQ's codes, follow it.</summary>
    [Fact]
    public void Calibration_sees_the_quantized_embedding()
    {
        using var dir = TestAssets.NewTempDir();
        using var checkpoint = Checkpoint.Open(new TinyCheckpoint().WriteTo(dir.Path));
        var random = new Random(3);
        int[][] windows = [.. Enumerable.Range(0, 2).Select(_ => Enumerable.Range(0, 12).Select(_ => random.Next(32)).ToArray())];
        byte[] QueryCodes(string embeddings)
        {
            var gptq = MethodCatalog.Create("gptq", new MethodOptions());
            var model = ModelQuantizer.Run(checkpoint, gptq, windows, 0, EmbeddingQuantization.Parse(embeddings));
            return model.Linears.Single(l => l.Name == LlamaTensors.Layer(0, "self_attn.q_proj")).Quantized.Payload.Section("codes");
        }

        byte[] fp16 = QueryCodes("fp16");
        Assert.Equal(fp16, QueryCodes("fp16"));
        Assert.NotEqual(fp16, QueryCodes("4"));
    }

    [Fact]
    public void A_non_finite_embedding_weight_is_named()
    {
        using var dir = TestAssets.NewTempDir();
        var tiny = new TinyCheckpoint { EditValues = (name, values) => { if (name == LlamaTensors.LmHead) values[20] = float.PositiveInfinity; } };
        using var checkpoint = Checkpoint.Open(tiny.WriteTo(dir.Path));
        var e = Assert.Throws<SagePtq.Runtime.ModelFileException>(() => ModelQuantizer.Run(checkpoint, new Fp16Quantizer(), null, 0, EmbeddingQuantization.Parse("8")));
        Assert.Contains("tensor lm_head.weight has a non-finite weight", e.Message);
        Assert.EndsWith("at [1, 4]", e.Message);
    }

    private static float TensorMin(ReadOnlySpan<float> values) { float m = float.PositiveInfinity; foreach (var v in values) m = Math.Min(m, v); return m; }

    private static float TensorMax(ReadOnlySpan<float> values) { float m = float.NegativeInfinity; foreach (var v in values) m = Math.Max(m, v); return m; }
}
