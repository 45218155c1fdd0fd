using System.Text;
using System.Text.Json;
using SagePtq.Quantizer.Pipeline;
using SagePtq.Quantizer.Synthetic;
using SagePtq.Runtime.Cpu;
using SagePtq.Quantizer.Tests.Cli;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using SagePtq.Runtime.Reference;
using SagePtq.Runtime.Tokenization;
using SagePtq.Tests;
using Xunit;

namespace SagePtq.Quantizer.Tests.Synthetic;

public sealed class SynthCommandTests
{
    [Fact]
    public void TinyPackOpensDecodesAndIsDeterministic()
    {
        using var dir = TestAssets.NewTempDir();
        string a = dir.File("a"), b = dir.File("b"), c = dir.File("c");
        var run = CliRunner.Run("synth", "--shape", "tiny", "--out", a, "--seed", "5", "--json");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Equal(0, CliRunner.Run("synth", "--shape", "tiny", "--out", b, "--seed", "5").ExitCode);
        Assert.Equal(0, CliRunner.Run("synth", "--shape", "tiny", "--out", c, "--seed", "6").ExitCode);
        foreach (var file in new[] { PackFormat.PackFileName, PackFormat.ManifestFileName })
            Assert.Equal(File.ReadAllBytes(Path.Combine(a, file)), File.ReadAllBytes(Path.Combine(b, file)));
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(a, PackFormat.PackFileName)), File.ReadAllBytes(Path.Combine(c, PackFormat.PackFileName)));
        using (var summary = JsonDocument.Parse(run.Output))
            Assert.Equal("synthetic", summary.RootElement.GetProperty("method").GetString());

        using var pack = PackedModel.Open(a);
        var shape = SyntheticShape.Parse("tiny");
        Assert.Equal("synthetic", pack.Manifest.Method);
        Assert.Equal("random (not a quantized model)", pack.Manifest.MethodOptions["weights"]);
        Assert.Equal((shape.Layers, shape.Hidden, shape.Intermediate, shape.Vocab),
            (pack.Manifest.Architecture.NumLayers, pack.Manifest.Architecture.HiddenSize, pack.Manifest.Architecture.IntermediateSize, pack.Manifest.Architecture.VocabSize));
        Assert.Equal(shape.Layers * LlamaTensors.LayerLinears.Length, pack.Manifest.Linears.Count);
        Assert.All(pack.Manifest.Linears, l => Assert.Equal(SageLayout.LayoutName, l.Layout));
        Assert.Equal(PackDataType.Float16, pack.Manifest.FindTensor(LlamaTensors.Embedding)!.DataType);

        var weights = pack.ToLlamaWeights();
        Assert.All(weights.Layers[0].Query, v => Assert.True(float.IsFinite(v)));
        // A forward pass runs on it (its outputs are noise, but finite).
        var model = new ReferenceModel(weights);
        var logits = model.Forward(1, 0).ToArray();
        Assert.Equal(shape.Vocab, logits.Length);
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));

        var tokenizer = Tokenizer.Parse(Encoding.UTF8.GetString(pack.ReadTokenizerJson()), "tokenizer.json");
        Assert.Equal(shape.Vocab, tokenizer.VocabSize);
    }

    [Fact]
    public void SageLinearsAreExactlyWhatTheEncoderWrites()
    {
        foreach (var (rows, cols) in new[] { (64, 64), (176, 64), (64, 176), (96, 512) })
        {
            var (payload, stats) = SyntheticPack.SageLinear(rows, cols, seed: 3, bits: 1.1);
            var encoding = SageLayout.Read(payload);
            var again = SageLayout.Encode(encoding);
            Assert.Equal(payload.Parameters.OrderBy(p => p.Key), again.Parameters.OrderBy(p => p.Key));
            Assert.Equal(payload.Sections.Select(s => s.Name), again.Sections.Select(s => s.Name));
            foreach (var (mine, theirs) in payload.Sections.Zip(again.Sections)) Assert.Equal(theirs.Bytes, mine.Bytes);

            Assert.Equal(SageFlags.TiledSigns, encoding.Flags);
            Assert.Equal((1, SyntheticPack.Groups, SyntheticPack.SalientBits), (encoding.ScaleMode, encoding.GroupCount, encoding.SalientBits));
            Assert.Equal(SyntheticPack.SalientColumns(rows, cols, 1.1), encoding.SalientColumns.Length);
            Assert.Equal((double)encoding.SalientWeights / (rows * cols), stats.SaliencyRatio);

            // --rotate: the same sections, the Rotated flag and a seed, still exactly what the encoder writes.
            var (rotated, _) = SyntheticPack.SageLinear(rows, cols, seed: 3, bits: 1.1, rotate: true);
            var rotatedEncoding = SageLayout.Read(rotated);
            Assert.Equal(SageFlags.TiledSigns | SageFlags.Rotated, rotatedEncoding.Flags);
            Assert.NotEqual(0UL, rotatedEncoding.RotationSeed);
            Assert.Equal(rotated.Parameters.OrderBy(p => p.Key), SageLayout.Encode(rotatedEncoding).Parameters.OrderBy(p => p.Key));
            foreach (var (plain, turned) in payload.Sections.Zip(rotated.Sections)) Assert.Equal(plain.Bytes, turned.Bytes);
        }
    }

    [Fact]
    public void SalientColumnsFillTheBitBudget()
    {
        // LLaMA-2-7B q_proj at the default 1.10 bits: the most columns that fit, ≤ 10 %.
        int count = SyntheticPack.SalientColumns(4096, 4096, 1.10);
        long budget = (long)(1.10 * 4096 * 4096 / 8);
        Assert.True(SageLayout.StoredBytes(4096, 4096, SageFlags.None, 1, 4, count, 4) <= budget);
        Assert.True(SageLayout.StoredBytes(4096, 4096, SageFlags.None, 1, 4, count + 1, 4) > budget);
        Assert.InRange(count, 41, 410);
    }

    [Fact]
    public void UnknownShapeIsABadUsage()
    {
        using var dir = TestAssets.NewTempDir();
        var run = CliRunner.Run("synth", "--shape", "llama9-1t", "--out", dir.File("x"));
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("unknown shape 'llama9-1t'", run.Error);
        Assert.Contains("llama2-7b", run.Error);
        Assert.False(Directory.Exists(dir.File("x")));

        var method = CliRunner.Run("synth", "--shape", "tiny", "--method", "rtn", "--out", dir.File("y"));
        Assert.Equal(2, method.ExitCode);
        Assert.Contains("sage layout only", method.Error);
    }

    [Fact]
    public void TokenizerCoversTheVocabulary()
    {
        var json = Encoding.UTF8.GetString(SyntheticTokenizer.Create(1000));
        var tokenizer = Tokenizer.Parse(json, "synthetic");
        Assert.Equal(1000, tokenizer.VocabSize);
        var ids = tokenizer.Encode("Hello world, ünïcode!", addBos: false);
        Assert.Equal("Hello world, ünïcode!", tokenizer.Decode(ids));
        Assert.Throws<ArgumentOutOfRangeException>(() => SyntheticTokenizer.Create(100));
    }

    [Fact]
    public void CpuLinearsOpenEveryTensorOfASyntheticPack()
    {
        using var dir = TestAssets.NewTempDir();
        var shape = SyntheticShape.Parse("tiny");
        SyntheticPack.Write(dir.Path, shape, seed: 2, bits: 1.1, EmbeddingQuantization.Parse("8"));
        using var pack = PackedModel.Open(dir.Path);
        var weights = pack.ToLlamaWeights();
        var random = new Random(4);
        var x = Enumerable.Range(0, shape.Hidden).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

        // The decoder linears run on the sage kernel, the 8-bit LM head on the uniform kernel (both with int8 inputs).
        using var query = CpuLinears.Open(pack, LlamaTensors.Layer(0, "self_attn.q_proj"), 1);
        Assert.IsType<SageCpuLinear>(query);
        using var head = CpuLinears.Open(pack, LlamaTensors.LmHead, 1);
        Assert.IsType<UniformCpuLinear>(head);
        foreach (var (linear, dense, tolerance) in new[] { (query, weights.Layers[0].Query, 0.02), (head, weights.LmHead, 0.02) })
        {
            var y = new float[linear.Rows];
            linear.MultiplyAll(x, 1, y);
            for (int r = 0; r < linear.Rows; r++)
            {
                double expected = 0, scale = 0;
                for (int c = 0; c < linear.Cols; c++)
                {
                    expected += (double)dense[r * linear.Cols + c] * x[c];
                    scale += Math.Abs((double)dense[r * linear.Cols + c] * x[c]);
                }
                Assert.True(Math.Abs(y[r] - expected) <= tolerance * scale + 1e-6, $"{linear.Name} row {r}: {y[r]} vs {expected}");
            }
        }
    }
}
