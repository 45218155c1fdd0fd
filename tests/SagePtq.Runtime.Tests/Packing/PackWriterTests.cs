using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using SagePtq.Tests;
using Xunit;

namespace SagePtq.Runtime.Tests.Packing;

public sealed class PackWriterTests
{
    [Fact]
    public void RoundTripsEveryTensorLinearAndTheTokenizer()
    {
        using var dir = TestAssets.NewTempDir();
        var contents = TestPacks.Contents();
        var written = PackWriter.Write(dir.Path, contents);
        using var pack = PackedModel.Open(dir.Path);

        Assert.Equal(ManifestJson.Serialize(written), ManifestJson.Serialize(pack.Manifest));
        Assert.Equal(TestPacks.Tokenizer, pack.ReadTokenizerJson());
        Assert.Equal(TestPacks.Method, pack.Manifest.Method);
        Assert.Equal(["alpha", "zeta"], pack.Manifest.MethodOptions.Keys.Order());

        foreach (var (name, (payload, stats)) in contents.Linears)
        {
            var read = pack.GetLinear(name);
            Assert.Equal(payload.Layout, read.Layout);
            Assert.Equal((payload.Rows, payload.Cols), (read.Rows, read.Cols));
            Assert.Equal(payload.Parameters.OrderBy(p => p.Key), read.Parameters.OrderBy(p => p.Key));
            Assert.Equal(payload.Sections.Select(s => (s.Name, s.Bytes)), read.Sections.Select(s => (s.Name, s.Bytes)));
            var record = pack.Manifest.FindLinear(name)!;
            Assert.Equal(stats, record.Stats);
            Assert.Equal(payload.StoredBytes, record.StoredBytes);
            Assert.Equal(payload.StorageBitsPerWeight, record.StorageBitsPerWeight);
        }
        foreach (var (name, (data, shape)) in contents.Tensors)
        {
            // Stored as FP16: each value is the nearest half.
            var expected = data.Select(v => (float)(Half)v).ToArray();
            Assert.Equal(expected, pack.ReadFloats(name));
            Assert.Equal(shape, pack.Manifest.FindTensor(name)!.Shape);
        }
        Assert.Equal(1, pack.Manifest.FindLinear("model.layers.1.mlp.up_proj.weight")!.Layer);
        Assert.Null(pack.Manifest.FindLinear(TestPacks.ExtraLinear)!.Layer);
    }

    [Fact]
    public void TensorBytesAreAlignedAndExposedWithoutCopy()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        using var pack = PackedModel.Open(dir.Path);
        Assert.All(pack.Table, e => Assert.Equal(0, e.Offset % PackFormat.Alignment));
        var signs = pack.GetTensorBytes(PackFormat.SectionTensorName(TestPacks.ExtraLinear, "signs"));
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, signs.ToArray());
        // The span points into the mapping: two calls see the same memory.
        Assert.True(System.Runtime.CompilerServices.Unsafe.AreSame(
            ref System.Runtime.InteropServices.MemoryMarshal.GetReference(signs),
            ref System.Runtime.InteropServices.MemoryMarshal.GetReference(pack.GetTensorBytes(PackFormat.SectionTensorName(TestPacks.ExtraLinear, "signs")))));
    }

    [Fact]
    public void Float32StorageKeepsValuesExactly()
    {
        using var dir = TestAssets.NewTempDir();
        var contents = TestPacks.Contents() with { FloatTensorType = PackDataType.Float32 };
        PackWriter.Write(dir.Path, contents);
        using var pack = PackedModel.Open(dir.Path);
        foreach (var (name, (data, _)) in contents.Tensors)
        {
            Assert.Equal(PackDataType.Float32, pack.Manifest.FindTensor(name)!.DataType);
            Assert.Equal(data, pack.ReadFloats(name));
        }
    }

    [Fact]
    public void IdenticalInputsGiveIdenticalBytes()
    {
        using var a = TestAssets.NewTempDir();
        using var b = TestAssets.NewTempDir();
        TestPacks.Write(a.Path);
        TestPacks.Write(b.Path);
        Assert.Equal(File.ReadAllBytes(TestPacks.PackPath(a.Path)), File.ReadAllBytes(TestPacks.PackPath(b.Path)));
        Assert.Equal(File.ReadAllBytes(TestPacks.ManifestPath(a.Path)), File.ReadAllBytes(TestPacks.ManifestPath(b.Path)));
        // And the inputs matter: another seed, other bytes.
        using var c = TestAssets.NewTempDir();
        TestPacks.Write(c.Path, seed: 8);
        Assert.NotEqual(File.ReadAllBytes(TestPacks.PackPath(a.Path)), File.ReadAllBytes(TestPacks.PackPath(c.Path)));
    }

    [Fact]
    public void CreatesTheFolderAndLeavesOnlyTheTwoFiles()
    {
        using var dir = TestAssets.NewTempDir();
        string output = Path.Combine(dir.Path, "nested", "out");
        TestPacks.Write(output);
        Assert.Equal([PackFormat.ManifestFileName, PackFormat.PackFileName],
            Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void DisposingWithoutCommitLeavesNothingBehind()
    {
        using var dir = TestAssets.NewTempDir();
        using (var writer = PackWriter.Create(dir.Path, TestPacks.Config, TestPacks.Tokenizer, "m"))
        {
            var (payload, _) = F16Layout.Encode(new float[32], 4, 8);
            writer.AddLinear("a", payload, F16Layout.Stats);
            Assert.Single(Directory.GetFiles(dir.Path));   // the temporary pack, while writing
        }
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void CancellationLeavesThePreviousPackIntact()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path, seed: 1);
        byte[] before = File.ReadAllBytes(TestPacks.PackPath(dir.Path));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => PackWriter.Write(dir.Path, TestPacks.Contents(seed: 2), cancelled.Token));
        Assert.Equal(2, Directory.GetFiles(dir.Path).Length);
        Assert.Equal(before, File.ReadAllBytes(TestPacks.PackPath(dir.Path)));
        using var pack = PackedModel.Open(dir.Path);
    }

    [Fact]
    public void ReplacesAnExistingPack()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path, seed: 1);
        var second = TestPacks.Write(dir.Path, seed: 2);
        using var pack = PackedModel.Open(dir.Path);
        Assert.Equal(second.Pack.PayloadChecksum, pack.Manifest.Pack.PayloadChecksum);
        Assert.Equal(2, Directory.GetFiles(dir.Path).Length);
    }

    [Fact]
    public void UnwritableFolderIsAClearError()
    {
        using var dir = TestAssets.NewTempDir();
        string file = dir.File("not-a-folder");
        File.WriteAllText(file, "x");
        var e = Assert.Throws<ModelFileException>(() => TestPacks.Write(Path.Combine(file, "out")));
        Assert.Contains("output folder cannot be written", e.Message);
    }

    [Fact]
    public void BadInputIsRefusedByName()
    {
        using var dir = TestAssets.NewTempDir();
        using var writer = PackWriter.Create(dir.Path, TestPacks.Config, TestPacks.Tokenizer, "m");
        var (payload, _) = F16Layout.Encode(new float[32], 4, 8);
        writer.AddLinear("a", payload, F16Layout.Stats);
        Assert.Contains("'a' is already", Assert.Throws<ArgumentException>(() => writer.AddLinear("a", payload, F16Layout.Stats)).Message);
        Assert.Contains("'tokenizer.json' is already", Assert.Throws<ArgumentException>(() => writer.AddTensor("tokenizer.json", [1f], [1])).Message);
        Assert.Contains("shape [2, 2]", Assert.Throws<ArgumentException>(() => writer.AddTensor("t", new float[3], [2, 2])).Message);
        var repeated = payload with { Sections = [new PayloadSection("s", []), new PayloadSection("s", [])] };
        Assert.Contains("repeated section", Assert.Throws<ArgumentException>(() => writer.AddLinear("b", repeated, F16Layout.Stats)).Message);
        Assert.Contains("not finite", Assert.Throws<ArgumentException>(() => writer.AddLinear("c", payload, new LinearStats(1, double.NaN, 0, 0, 1))).Message);
    }
}
