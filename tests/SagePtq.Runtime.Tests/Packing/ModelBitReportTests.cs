using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Packing;
using Xunit;

namespace SagePtq.Runtime.Tests.Packing;

public sealed class ModelBitReportTests
{
    [Fact]
    public void HandComputedManifest()
    {
        // Tiny config (hidden 16, MLP 24, 2 layers, 4 heads of 4, 2 KV heads, vocab 32, untied):
        // per layer q 256 + k 128 + v 128 + o 256 + gate 384 + up 384 + down 384 = 1920, norms 32;
        // embedding 512 + lm_head 512 + final norm 16 → 2·(1920+32) + 1040 = 4944 parameters = 9888 FP16 bytes.
        var config = TestPacks.Config;
        var noParameters = new Dictionary<string, int>();
        var manifest = new PackManifest
        {
            Architecture = config,
            TokenizerTensor = "tokenizer.json",
            Method = "x",
            MethodOptions = new Dictionary<string, string>(),
            Pack = new PackFileRecord("model.sagepack", 4000, 3200, 0),
            Linears =
            [
                // 16×16: sections 30 + 2 bytes, 2 parameters → 40 bytes → 320 / 256 = 1.25 bits; paper 1.0
                new LinearRecord("model.layers.0.self_attn.q_proj.weight", 0, 16, 16, "t",
                    new Dictionary<string, int> { ["a"] = 1, ["b"] = 2 }, [new SectionRecord("s", 128, 30), new SectionRecord("u", 192, 2)], new LinearStats(2, 0.1, 3, 2, 1.0)),
                // 24×16: 96 bytes → 768 / 384 = 2 bits; paper 1.5
                new LinearRecord("model.layers.1.mlp.up_proj.weight", 1, 24, 16, "t",
                    noParameters, [new SectionRecord("s", 256, 96)], new LinearStats(1, 0, 0, 0, 1.5)),
                // The LM head as a linear payload: reported apart, not in the totals. 32×16, 64 bytes.
                new LinearRecord(LlamaTensors.LmHead, null, 32, 16, "t", noParameters, [new SectionRecord("s", 384, 64)], new LinearStats(1, 0, 0, 0, 1)),
            ],
            Tensors =
            [
                new TensorRecord("tokenizer.json", PackDataType.Bytes, [10], 448, 10),
                new TensorRecord(LlamaTensors.Embedding, PackDataType.Float16, [32, 16], 512, 1024),
                new TensorRecord(LlamaTensors.FinalNorm, PackDataType.Float32, [16], 1536, 64),
            ],
        };

        var report = ModelBitReport.FromManifest(manifest);

        Assert.Equal([1.25, 2.0], report.Linears.Select(l => l.StorageBitsPerWeight));
        Assert.Equal([40L, 96L], report.Linears.Select(l => l.StoredBytes));
        Assert.Equal(640, report.QuantizedWeightCount);
        Assert.Equal(136, report.QuantizedStoredBytes);
        Assert.Equal(8.0 * 136 / 640, report.StorageBitsPerWeight, 12);          // 1.7
        Assert.Equal((1.0 * 256 + 1.5 * 384) / 640, report.PaperBitsPerWeight, 12); // 1.3
        Assert.Equal(9888, report.Fp16CheckpointBytes);
        Assert.Equal(4000.0 / 9888, report.PackToFp16Ratio, 12);

        var others = report.Others.ToDictionary(o => o.Name);
        Assert.Equal(("lm_head", 512L, 64L, 1.0), (others[LlamaTensors.LmHead].Kind, others[LlamaTensors.LmHead].Elements, others[LlamaTensors.LmHead].StoredBytes, others[LlamaTensors.LmHead].StorageBitsPerElement));
        Assert.Equal(("embedding", 16.0), (others[LlamaTensors.Embedding].Kind, others[LlamaTensors.Embedding].StorageBitsPerElement));
        Assert.Equal(("norm", 32.0), (others[LlamaTensors.FinalNorm].Kind, others[LlamaTensors.FinalNorm].StorageBitsPerElement));
        Assert.Equal("tokenizer", others["tokenizer.json"].Kind);
        Assert.Equal(["t", "f16", "f32", "bytes"], new[] { LlamaTensors.LmHead, LlamaTensors.Embedding, LlamaTensors.FinalNorm, "tokenizer.json" }.Select(n => others[n].Storage));
        Assert.Equal(["embedding", "lm_head", "norm", "tokenizer"], report.Others.Select(o => o.Kind));
    }
}
