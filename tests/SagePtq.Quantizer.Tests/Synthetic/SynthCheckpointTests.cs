using System.Text.Json;
using SagePtq.Quantizer.Synthetic;
using SagePtq.Quantizer.Tests.Cli;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Tests;
using Xunit;

namespace SagePtq.Quantizer.Tests.Synthetic;

public sealed class SynthCheckpointTests
{
    private static readonly string[] ModelFiles =
        [Checkpoint.ConfigFileName, Checkpoint.IndexFileName, Checkpoint.TokenizerFileName];

    [Fact]
    public void TinyShardedCheckpointOpensWithEveryTensorAndIsDeterministic()
    {
        using var dir = TestAssets.NewTempDir();
        string a = dir.File("a"), b = dir.File("b"), c = dir.File("c");
        // 200 kB shards cut the 316 kB of tiny's weights in two.
        var run = CliRunner.Run("synth-checkpoint", "--shape", "tiny", "--out", a, "--seed", "3", "--shard-bytes", "200000", "--json");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Equal(0, CliRunner.Run("synth-checkpoint", "--shape", "tiny", "--out", b, "--seed", "3", "--shard-bytes", "200000").ExitCode);
        Assert.Equal(0, CliRunner.Run("synth-checkpoint", "--shape", "tiny", "--out", c, "--seed", "4", "--shard-bytes", "200000").ExitCode);

        string[] shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
        Assert.Equal(shards.Concat(ModelFiles).Order(), Directory.GetFiles(a).Select(Path.GetFileName).Order());
        foreach (var file in shards.Concat(ModelFiles))
            Assert.Equal(File.ReadAllBytes(Path.Combine(a, file)), File.ReadAllBytes(Path.Combine(b, file)));
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(a, shards[0])), File.ReadAllBytes(Path.Combine(c, shards[0])));
        Assert.DoesNotContain(Directory.GetDirectories(dir.Path), d => Path.GetFileName(d).StartsWith('.'));   // no temporary left

        using var checkpoint = Checkpoint.Open(a);   // checks every tensor's presence and shape against config.json
        var shape = SyntheticShape.Parse("tiny");
        Assert.Equal((shape.Layers, shape.Hidden, shape.Intermediate, shape.KeyValueHeads), (checkpoint.Config.NumLayers,
            checkpoint.Config.HiddenSize, checkpoint.Config.IntermediateSize, checkpoint.Config.NumKeyValueHeads));
        Assert.Equal(SyntheticCheckpoint.TensorCount(shape), checkpoint.TensorNames.Count());
        Assert.Equal(2, checkpoint.TensorNames.Select(n => checkpoint.GetInfo(n).FilePath).Distinct().Count());
        Assert.All(checkpoint.TensorNames, n => Assert.Equal(TensorDType.F16, checkpoint.GetInfo(n).DType));
        using (var summary = JsonDocument.Parse(run.Output))
            Assert.Equal(2, summary.RootElement.GetProperty("shards").GetArrayLength());
        using (var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(a, Checkpoint.IndexFileName))))
            Assert.Equal(checkpoint.TotalTensorBytes, index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());

        // The values are what SyntheticWeights makes, rounded to FP16.
        string up = LlamaTensors.Layer(1, "mlp.up_proj");
        var expected = new float[shape.Intermediate * shape.Hidden];
        SyntheticWeights.Linear(shape.Intermediate, shape.Hidden, SagePtq.Quantizer.Pipeline.LinearSeeds.For(3, up)).Fill(0, expected);
        var actual = checkpoint.ReadFloat32(up);
        for (int i = 0; i < expected.Length; i++) Assert.Equal((float)(Half)expected[i], actual[i]);
    }

    [Fact]
    public void Bf16CheckpointReadsBackAsTheRoundedValues()
    {
        using var dir = TestAssets.NewTempDir();
        var run = CliRunner.Run("synth-checkpoint", "--shape", "tiny", "--out", dir.File("m"), "--dtype", "bf16", "--layers", "1");
        Assert.True(run.ExitCode == 0, run.Error);
        using var checkpoint = Checkpoint.Open(dir.File("m"));
        Assert.Equal(1, checkpoint.Config.NumLayers);
        Assert.Single(Directory.GetFiles(dir.File("m"), "*.safetensors"));
        Assert.Equal(TensorDType.BF16, checkpoint.GetInfo(LlamaTensors.Embedding).DType);
        Assert.Contains("\"torch_dtype\": \"bfloat16\"", File.ReadAllText(dir.File("m/config.json")));

        var shape = SyntheticShape.Parse("tiny");
        var expected = new float[shape.Vocab * shape.Hidden];
        SyntheticWeights.Vocab(shape.Vocab, shape.Hidden, SagePtq.Quantizer.Pipeline.LinearSeeds.For(0, LlamaTensors.Embedding)).Fill(0, expected);
        var actual = checkpoint.ReadFloat32(LlamaTensors.Embedding);
        // A bfloat16 is a float32 with its low 16 bits zero, within half a unit (2^-8 relative) of the value.
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(0u, BitConverter.SingleToUInt32Bits(actual[i]) & 0xFFFF);
            Assert.True(Math.Abs(actual[i] - expected[i]) <= Math.Abs(expected[i]) / 256, $"{actual[i]} vs {expected[i]}");
        }
    }

    [Fact]
    public void Llama3ShapeHasGroupedQueryAttentionAndItsVocabulary()
    {
        var config = SyntheticShape.Parse("llama3-8b").ToConfig();
        Assert.Equal((32, 4096, 14336, 32, 8, 128256), (config.NumLayers, config.HiddenSize, config.IntermediateSize,
            config.NumHeads, config.NumKeyValueHeads, config.VocabSize));
        Assert.Equal(500000f, config.RopeTheta);
        Assert.Equal(1024, config.KeyValueDim);
    }

    [Fact]
    public void LinearWeightsAreHeavyTailedWithOutlierColumns()
    {
        const int Rows = 512, Cols = 1024;
        var values = new float[Rows * Cols];
        SyntheticWeights.Linear(Rows, Cols, 11).Fill(0, values);
        // Column energies: the outliers stand far above the median column.
        var energy = new double[Cols];
        for (int i = 0; i < Rows; i++) for (int j = 0; j < Cols; j++) energy[j] += (double)values[i * Cols + j] * values[i * Cols + j];
        var sorted = energy.Order().ToArray();
        int outliers = SyntheticWeights.OutlierColumns(Cols);
        Assert.True(sorted[^outliers] > 16 * sorted[Cols / 2], "the outlier columns should carry at least 16x the median column's energy");
        // Excess kurtosis well above a Gaussian's 0 (a Laplace's is 3), measured on the non-outlier bulk of one column.
        int column = Array.IndexOf(energy, sorted[Cols / 2]);
        var bulk = Enumerable.Range(0, Rows).Select(i => (double)values[i * Cols + column]).ToArray();
        double mean = bulk.Average(), variance = bulk.Average(v => (v - mean) * (v - mean));
        double kurtosis = bulk.Average(v => Math.Pow(v - mean, 4)) / (variance * variance) - 3;
        Assert.True(kurtosis > 1, $"excess kurtosis {kurtosis:F2}");
        // Filling in blocks gives the same values as filling at once.
        var blocks = new float[Rows * Cols];
        var weights = SyntheticWeights.Linear(Rows, Cols, 11);
        for (int row = 0; row < Rows; row += 100) weights.Fill(row, blocks.AsSpan(row * Cols, Math.Min(100, Rows - row) * Cols));
        Assert.Equal(values, blocks);
    }

    [Fact]
    public void ANonEmptyOutputFolderIsRefusedAndKept()
    {
        using var dir = TestAssets.NewTempDir();
        File.WriteAllText(dir.File("keep.txt"), "mine");
        var run = CliRunner.Run("synth-checkpoint", "--shape", "tiny", "--out", dir.Path);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("already exists and is not empty", run.Error);
        Assert.Equal(["keep.txt"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("--shape", "llama9", "unknown shape 'llama9'")]
    [InlineData("--dtype", "f32", "--dtype must be f16 or bf16")]
    [InlineData("--layers", "0", "layers")]
    public void BadUsageExits2(string option, string value, string message)
    {
        using var dir = TestAssets.NewTempDir();
        string[] args = option == "--shape"
            ? ["synth-checkpoint", option, value, "--out", dir.File("m")]
            : ["synth-checkpoint", "--shape", "tiny", option, value, "--out", dir.File("m")];
        var run = CliRunner.Run(args);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Error);
        Assert.False(Directory.Exists(dir.File("m")));
    }

    [Fact]
    public void ATokenizerLargerThanTheVocabularyIsRefused()
    {
        using var dir = TestAssets.NewTempDir();
        // sagelm-7m's tokenizer has 4096 tokens; tiny's vocabulary is 512.
        var run = CliRunner.Run("synth-checkpoint", "--shape", "tiny", "--out", dir.File("m"),
            "--tokenizer", Path.Combine(TestAssets.EmbeddedModel, Checkpoint.TokenizerFileName));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("more than the 512 of shape tiny", run.Error);
        Assert.False(Directory.Exists(dir.File("m")));
    }

    [Fact]
    public void ShardsAreCutBetweenTensorsAndAnOversizeTensorGetsItsOwn()
    {
        (string, long[])[] tensors = [("a", [10]), ("b", [100]), ("c", [10]), ("d", [10])];   // 20, 200, 20, 20 bytes
        var shards = SyntheticCheckpoint.PlanShards(tensors, 50);
        Assert.Equal([["a"], ["b"], ["c", "d"]], shards.Select(s => s.Select(t => t.Name).ToArray()).ToArray());
    }
}
