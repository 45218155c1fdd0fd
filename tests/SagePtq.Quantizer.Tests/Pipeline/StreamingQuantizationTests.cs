using SagePtq.Quantizer.Methods;
using SagePtq.Quantizer.Pipeline;
using SagePtq.Quantizer.Synthetic;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Packing;
using SagePtq.Tests;
using Xunit;

namespace SagePtq.Quantizer.Tests.Pipeline;

public sealed class StreamingQuantizationTests
{
    private static readonly Dictionary<string, string> Options = new() { ["seed"] = "7", ["note"] = "test" };

    /// <summary>A synthetic checkpoint of tiny's width with <paramref name="layers"/> layers, in <paramref name="dir"/>/model.</summary>
    private static string TinyModel(TempDir dir, int layers, ulong seed = 1, TensorDType dtype = TensorDType.F16)
    {
        string model = dir.File("model");
        var shape = SyntheticShape.Parse("tiny").WithLayers(layers);
        SyntheticCheckpoint.Write(model, shape, seed, dtype, 100_000, SyntheticTokenizer.Create(shape.Vocab));
        return model;
    }

    /// <summary>The method with its defaults, but sage with 2 bits: at tiny's 64 columns signs and scales alone take 1.3.</summary>
    private static ILinearQuantizer Quantizer(string method) =>
        MethodCatalog.Create(method, MethodOptions.Parse(method == "sage" ? ["bits=2"] : []));

    private static byte[] Tokenizer(string model) => File.ReadAllBytes(Path.Combine(model, Checkpoint.TokenizerFileName));

    private static byte[] Pack(string directory) => File.ReadAllBytes(Path.Combine(directory, PackFormat.PackFileName));

    private static byte[] Manifest(string directory) => File.ReadAllBytes(Path.Combine(directory, PackFormat.ManifestFileName));

    /// <summary>The path that holds everything in memory: ModelQuantizer.Run, then PackWriter.Write.</summary>
    private static void WriteInMemory(Checkpoint checkpoint, ILinearQuantizer quantizer, ulong seed, EmbeddingQuantization embeddings, string outDir, byte[] tokenizer)
    {
        var quantized = ModelQuantizer.Run(checkpoint, quantizer, null, seed, embeddings);
        PackWriter.Write(outDir, new PackContents
        {
            Config = checkpoint.Config,
            TokenizerJson = tokenizer,
            Method = quantizer.Method,
            MethodOptions = Options,
            Tensors = quantized.FloatTensors.ToDictionary(t => t.Name, t => (t.Data, t.Shape.Select(d => (long)d).ToArray())),
            Linears = quantized.Linears.Select(l => (l.Name, l.Quantized))
                .Concat(quantized.QuantizedTensors.Select(t => (t.Name, t.Quantized)))
                .ToDictionary(l => l.Name, l => (l.Quantized.Payload, l.Quantized.Stats)),
        });
    }

    [Theory]
    [InlineData("sage", "fp16", 1, TensorDType.F16)]
    [InlineData("sage", "8", 3, TensorDType.F16)]
    [InlineData("rtn", "4", 7, TensorDType.F16)]
    [InlineData("rtn", "fp16", 2, TensorDType.BF16)]
    public void StreamedPackIsByteIdenticalToTheInMemoryPath(string method, string embeddings, int linearsAtOnce, TensorDType dtype)
    {
        using var dir = TestAssets.NewTempDir();
        string model = TinyModel(dir, 2, dtype: dtype);
        using var checkpoint = Checkpoint.Open(model);
        var quantizer = Quantizer(method);
        var storage = EmbeddingQuantization.Parse(embeddings);

        WriteInMemory(checkpoint, quantizer, 7, storage, dir.File("memory"), Tokenizer(model));
        var manifest = StreamingQuantization.Run(checkpoint, quantizer, 7, storage, new PackTarget(dir.File("streamed"), Tokenizer(model), method, Options), linearsAtOnce);

        Assert.Equal(Pack(dir.File("memory")), Pack(dir.File("streamed")));
        Assert.Equal(Manifest(dir.File("memory")), Manifest(dir.File("streamed")));
        Assert.Equal(2 * LlamaTensors.LayerLinears.Length + (embeddings == "fp16" ? 0 : 2), manifest.Linears.Count);
        Assert.False(Directory.Exists(ResumeStore.PathFor(dir.File("streamed"))), "success deletes the resume folder");
    }

    [Fact]
    public void StreamedPackOfTheEmbeddedModelIsByteIdenticalToTheInMemoryPath()
    {
        using var dir = TestAssets.NewTempDir();
        using var checkpoint = Checkpoint.Open(TestAssets.EmbeddedModel);
        var quantizer = MethodCatalog.Create("rtn", MethodOptions.Parse(["bits=2"]));
        byte[] tokenizer = Tokenizer(TestAssets.EmbeddedModel);
        WriteInMemory(checkpoint, quantizer, 3, EmbeddingQuantization.Fp16, dir.File("memory"), tokenizer);
        StreamingQuantization.Run(checkpoint, quantizer, 3, null, new PackTarget(dir.File("streamed"), tokenizer, "rtn", Options));
        Assert.Equal(Pack(dir.File("memory")), Pack(dir.File("streamed")));
        Assert.Equal(Manifest(dir.File("memory")), Manifest(dir.File("streamed")));
    }

    [Fact]
    public void ARunCancelledAfterLayerOneResumesThereAndGivesTheSamePack()
    {
        using var dir = TestAssets.NewTempDir();
        string model = TinyModel(dir, 4);
        using var checkpoint = Checkpoint.Open(model);
        var quantizer = Quantizer("sage");
        var target = new PackTarget(dir.File("out"), Tokenizer(model), "sage", Options);
        int perLayer = LlamaTensors.LayerLinears.Length;

        StreamingQuantization.Run(checkpoint, quantizer, 7, null, target with { Directory = dir.File("straight") });

        using var cancel = new CancellationTokenSource();
        var progress = new Inline(p => { if (p.LinearsDone == 2 * perLayer) cancel.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            StreamingQuantization.Run(checkpoint, quantizer, 7, null, target, 1, progress, null, cancel.Token));
        string partial = ResumeStore.PathFor(target.Directory);
        Assert.Equal(["inputs.json", "layer-00000.bin", "layer-00001.bin"], Directory.GetFiles(partial).Select(Path.GetFileName).Order());
        Assert.False(Directory.Exists(target.Directory), "a cancelled run leaves no output folder where there was none");

        var log = new List<string>();
        var stages = new List<string>();
        StreamingQuantization.Run(checkpoint, quantizer, 7, null, target, 1, new Inline(p => stages.Add(p.Stage)), log.Add);
        Assert.Equal(["resuming at layer 2 of 4"], log.Select(l => l[..l.IndexOf(" (", StringComparison.Ordinal)]));
        Assert.Equal(2, stages.Count(s => s == "resumed"));
        Assert.Equal(2 * perLayer, stages.Count(s => s != "resumed"));
        Assert.Equal(Pack(dir.File("straight")), Pack(target.Directory));
        Assert.Equal(Manifest(dir.File("straight")), Manifest(target.Directory));
        Assert.False(Directory.Exists(partial));
    }

    [Fact]
    public void OtherInputsDiscardThePartialStateAndADamagedLayerIsRedone()
    {
        using var dir = TestAssets.NewTempDir();
        string model = TinyModel(dir, 3);
        using var checkpoint = Checkpoint.Open(model);
        var quantizer = MethodCatalog.Create("rtn", MethodOptions.Parse([]));
        var target = new PackTarget(dir.File("out"), Tokenizer(model), "rtn", Options);
        string partial = ResumeStore.PathFor(target.Directory);

        // Leave layers 0 and 1 behind, then damage layer 1: the next run redoes layer 1 onwards.
        LeavePartial(checkpoint, quantizer, target, layers: 2);
        var bytes = File.ReadAllBytes(Path.Combine(partial, "layer-00001.bin"));
        bytes[bytes.Length / 2] ^= 0x10;
        File.WriteAllBytes(Path.Combine(partial, "layer-00001.bin"), bytes);
        var log = new List<string>();
        StreamingQuantization.Run(checkpoint, quantizer, 7, null, target, log: log.Add);
        Assert.StartsWith("resuming at layer 1 of 3", Assert.Single(log));
        StreamingQuantization.Run(checkpoint, quantizer, 7, null, target with { Directory = dir.File("straight") });
        Assert.Equal(Pack(dir.File("straight")), Pack(target.Directory));

        // A partial state of another seed is discarded with a message, and the pack is that of the new inputs.
        LeavePartial(checkpoint, quantizer, target with { Options = new Dictionary<string, string>(Options) { ["seed"] = "8" } }, layers: 1);
        log.Clear();
        StreamingQuantization.Run(checkpoint, quantizer, 7, null, target, log: log.Add);
        Assert.StartsWith("discarding the partial state", Assert.Single(log));
        Assert.Equal(Pack(dir.File("straight")), Pack(target.Directory));
    }

    [Fact]
    public void UnmappedReadsEqualTheMemoryMappedOnes()
    {
        foreach (var dtype in new[] { TensorDType.F16, TensorDType.BF16 })
        {
            using var sub = TestAssets.NewTempDir();
            using var checkpoint = Checkpoint.Open(TinyModel(sub, 1, dtype: dtype));
            using var reader = new UnmappedTensorReader(checkpoint);
            foreach (string name in checkpoint.TensorNames)
                Assert.Equal(checkpoint.ReadFloat32(name), reader.ReadFloat32(name));
            Assert.Throws<ArgumentOutOfRangeException>(() => reader.ReadFloat32(LlamaTensors.FinalNorm, new float[2], 63));
        }
        // A range that straddles the reader's 64 K-value chunks, in the embedded model's embedding.
        using (var embedded = Checkpoint.Open(TestAssets.EmbeddedModel))
        using (var reader = new UnmappedTensorReader(embedded))
        {
            var mapped = new float[70_000];
            var unmapped = new float[70_000];
            embedded.ReadFloat32(LlamaTensors.Embedding, mapped, 65_000);
            reader.ReadFloat32(LlamaTensors.Embedding, unmapped, 65_000);
            Assert.Equal(mapped, unmapped);
        }
    }

    [Fact]
    public void ASecondRunOnTheSameOutputIsRefusedWhileTheFirstHoldsItsLock()
    {
        using var dir = TestAssets.NewTempDir();
        using var checkpoint = Checkpoint.Open(TestAssets.EmbeddedModel);
        var quantizer = Quantizer("rtn");
        var target = new PackTarget(dir.File("out"), Tokenizer(TestAssets.EmbeddedModel), "rtn", Options);
        using (ResumeStore.Open(ResumeStore.PathFor(target.Directory), "{}", 6))
        {
            var e = Assert.Throws<Runtime.ModelFileException>(() => StreamingQuantization.Run(checkpoint, quantizer, 7, null, target));
            Assert.Contains("another quantize run is writing this output", e.Message);
        }
        // Released: the next run proceeds (and discards that state, which belongs to other inputs).
        var log = new List<string>();
        StreamingQuantization.Run(checkpoint, quantizer, 7, null, target, log: log.Add);
        Assert.StartsWith("discarding the partial state", Assert.Single(log));
        Assert.False(File.Exists(ResumeStore.PathFor(target.Directory) + ".lock"));
    }

    [Fact]
    public void LayerFilesRoundTripAndRefuseDamage()
    {
        var payload = new LinearPayload("uniform", 2, 3, new Dictionary<string, int> { ["bits"] = 4, ["group_size"] = 3 },
            [new PayloadSection("codes", [1, 2, 3]), new PayloadSection("scales", [])]);
        var stats = new LinearStats(1, 0.125, 7, 4, 4.000000001);
        var bytes = LayerSpill.Serialize(5, [new SpilledLinear("model.layers.5.mlp.up_proj.weight", payload, stats)]);

        var back = Assert.Single(LayerSpill.Deserialize(bytes, 5));
        Assert.Equal("model.layers.5.mlp.up_proj.weight", back.Name);
        Assert.Equal(stats, back.Stats);
        Assert.Equal((payload.Layout, payload.Rows, payload.Cols), (back.Payload.Layout, back.Payload.Rows, back.Payload.Cols));
        Assert.Equal(payload.Parameters.OrderBy(p => p.Key), back.Payload.Parameters.OrderBy(p => p.Key));
        Assert.Equal(payload.Sections.Select(s => (s.Name, s.Bytes)), back.Payload.Sections.Select(s => (s.Name, s.Bytes)));

        Assert.Contains("layer 5, not 6", Assert.Throws<InvalidDataException>(() => LayerSpill.Deserialize(bytes, 6)).Message);
        Assert.Contains("checksum", Assert.Throws<InvalidDataException>(() => LayerSpill.Deserialize(bytes[..^1].Append((byte)(bytes[^1] ^ 1)).ToArray(), 5)).Message);
        Assert.Throws<InvalidDataException>(() => LayerSpill.Deserialize(bytes[..20], 5));
    }

    [Fact]
    public void AMethodThatNeedsCalibrationIsRefused()
    {
        using var checkpoint = Checkpoint.Open(TestAssets.EmbeddedModel);
        var gptq = MethodCatalog.Create("gptq", MethodOptions.Parse([]));
        var target = new PackTarget("unused", [1], "gptq", Options);
        Assert.Contains("needs calibration", Assert.Throws<ArgumentException>(() => StreamingQuantization.Run(checkpoint, gptq, 0, null, target)).Message);
    }

    /// <summary>Runs until <paramref name="layers"/> layers are done, then cancels: their files stay in the resume folder.</summary>
    private static void LeavePartial(Checkpoint checkpoint, ILinearQuantizer quantizer, PackTarget target, int layers)
    {
        using var cancel = new CancellationTokenSource();
        var progress = new Inline(p => { if (p.LinearsDone == layers * LlamaTensors.LayerLinears.Length) cancel.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => StreamingQuantization.Run(checkpoint, quantizer, 7, null, target, 1, progress, null, cancel.Token));
    }

    private sealed class Inline(Action<QuantizeProgress> report) : IProgress<QuantizeProgress>
    {
        public void Report(QuantizeProgress value) => report(value);
    }
}
