using System.Buffers.Binary;
using System.Text;
using SagePtq.Runtime.Packing;
using SagePtq.Tests;
using Xunit;

namespace SagePtq.Runtime.Tests.Packing;

/// <summary>Each way a pack can be damaged is reported as a ModelFileException naming the file and the problem.</summary>
public sealed class PackReaderTests
{
    private static ModelFileException OpenFails(string directory, PackReadOptions? options = null) =>
        Assert.Throws<ModelFileException>(() => PackedModel.Open(directory, options).Dispose());

    private static void Patch(string path, long offset, Func<byte, byte> change)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[offset] = change(bytes[offset]);
        File.WriteAllBytes(path, bytes);
    }

    [Fact]
    public void TruncatedPack()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        var bytes = File.ReadAllBytes(TestPacks.PackPath(dir.Path));
        File.WriteAllBytes(TestPacks.PackPath(dir.Path), bytes[..^1]);
        var e = OpenFails(dir.Path);
        Assert.StartsWith("model.sagepack: is truncated", e.Message);

        File.WriteAllBytes(TestPacks.PackPath(dir.Path), bytes[..100]);
        Assert.Contains("shorter than the 128-byte header", OpenFails(dir.Path).Message);
    }

    [Fact]
    public void ExtraBytesAfterThePack()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        File.AppendAllText(TestPacks.PackPath(dir.Path), "junk");
        Assert.Contains("4 unexpected bytes", OpenFails(dir.Path).Message);
    }

    [Fact]
    public void FlippedPayloadByteFailsTheChecksumUnlessChecksumsAreSkipped()
    {
        using var dir = TestAssets.NewTempDir();
        var manifest = TestPacks.Write(dir.Path);
        long offset = manifest.FindLinear(TestPacks.ExtraLinear)!.Sections[0].Offset + 2;
        Patch(TestPacks.PackPath(dir.Path), offset, b => (byte)(b ^ 0x10));
        var e = OpenFails(dir.Path);
        Assert.Equal("model.sagepack: payload checksum does not match: the tensor data is corrupted", e.Message);

        using var unchecked_ = PackedModel.Open(dir.Path, new PackReadOptions { VerifyPayloadChecksum = false });
        Assert.Equal(3 ^ 0x10, unchecked_.GetLinear(TestPacks.ExtraLinear).Section("signs")[2]);
    }

    [Fact]
    public void FlippedTableByte()
    {
        using var dir = TestAssets.NewTempDir();
        var manifest = TestPacks.Write(dir.Path);
        long tableOffset = PackFormat.HeaderBytes + manifest.Pack.PayloadBytes;
        Patch(TestPacks.PackPath(dir.Path), tableOffset + 6, b => (byte)(b ^ 1));
        Assert.Contains("tensor table checksum does not match", OpenFails(dir.Path).Message);
    }

    [Fact]
    public void FlippedHeaderByte()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        Patch(TestPacks.PackPath(dir.Path), 20, b => (byte)(b ^ 1));   // inside the manifest hash
        Assert.Contains("header checksum does not match", OpenFails(dir.Path).Message);
    }

    [Fact]
    public void AlteredManifestNoLongerMatchesThePack()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        string path = TestPacks.ManifestPath(dir.Path);
        string text = File.ReadAllText(path);
        File.WriteAllText(path, text.Replace("\"test-method\"", "\"test-methoe\""));   // still valid JSON, same sizes
        var e = OpenFails(dir.Path);
        Assert.StartsWith("model.manifest.json: does not belong to model.sagepack", e.Message);
        Assert.EndsWith(PackFormat.ManifestFileName, e.FilePath);
    }

    [Fact]
    public void ManifestOfAnotherPack()
    {
        using var a = TestAssets.NewTempDir();
        using var b = TestAssets.NewTempDir();
        TestPacks.Write(a.Path, seed: 1);
        TestPacks.Write(b.Path, seed: 2);
        File.Copy(TestPacks.ManifestPath(b.Path), TestPacks.ManifestPath(a.Path), overwrite: true);
        Assert.Contains("does not belong to model.sagepack", OpenFails(a.Path).Message);
    }

    [Fact]
    public void WrongMagic()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        Patch(TestPacks.PackPath(dir.Path), 0, _ => (byte)'X');
        Assert.Equal("model.sagepack: is not a SagePtq pack (wrong magic bytes)", OpenFails(dir.Path).Message);
    }

    [Theory]
    [InlineData(1, "is newer than this runtime reads")]
    [InlineData(-1, "is older than this runtime reads (2); re-quantize the model with this SagePtq")]
    public void OtherFormatVersion(int delta, string expected)
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        var bytes = File.ReadAllBytes(TestPacks.PackPath(dir.Path));
        uint version = (uint)(PackFormat.FormatVersion + delta);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), version);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(120), Xxh64.Hash(bytes.AsSpan(0, 120)));
        File.WriteAllBytes(TestPacks.PackPath(dir.Path), bytes);
        Assert.Contains($"pack format version {version} {expected}", OpenFails(dir.Path).Message);
    }

    [Fact]
    public void MissingFiles()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        File.Delete(TestPacks.PackPath(dir.Path));
        Assert.Equal("model.sagepack: file not found", OpenFails(dir.Path).Message);
        File.Delete(TestPacks.ManifestPath(dir.Path));
        Assert.Equal("model.manifest.json: file not found", OpenFails(dir.Path).Message);
        Assert.Contains("pack folder not found", OpenFails(Path.Combine(dir.Path, "nope")).Message);
    }

    [Fact]
    public void ManifestThatDisagreesWithTheTableIsCaughtEvenWithAMatchingHash()
    {
        // Rewrite the header's manifest hash to fit an edited manifest: the cross-check against the table still fails.
        using var dir = TestAssets.NewTempDir();
        var manifest = TestPacks.Write(dir.Path);
        var moved = manifest with
        {
            Tensors = manifest.Tensors.Select(t => t.Name == PackFormat.TokenizerTensorName ? t with { Offset = t.Offset + 64 } : t).ToList(),
        };
        byte[] manifestBytes = ManifestJson.Serialize(moved);
        File.WriteAllBytes(TestPacks.ManifestPath(dir.Path), manifestBytes);
        var pack = File.ReadAllBytes(TestPacks.PackPath(dir.Path));
        System.Security.Cryptography.SHA256.HashData(manifestBytes).CopyTo(pack.AsSpan(16));
        BinaryPrimitives.WriteUInt64LittleEndian(pack.AsSpan(120), Xxh64.Hash(pack.AsSpan(0, 120)));
        File.WriteAllBytes(TestPacks.PackPath(dir.Path), pack);
        Assert.Contains("tensor 'tokenizer.json' is bytes at", OpenFails(dir.Path).Message);
    }

    [Fact]
    public void UnknownNamesAreKeyNotFound()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        using var pack = PackedModel.Open(dir.Path);
        Assert.Throws<KeyNotFoundException>(() => pack.GetLinear("nope"));
        Assert.Throws<KeyNotFoundException>(() => pack.ReadFloats(PackFormat.TokenizerTensorName));
        Assert.Throws<KeyNotFoundException>(() => pack.GetTensorBytes("nope").Length);
        Assert.Equal(Encoding.UTF8.GetString(TestPacks.Tokenizer), Encoding.UTF8.GetString(pack.ReadTokenizerJson()));
    }
}
