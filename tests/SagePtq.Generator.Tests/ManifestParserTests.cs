using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.CodeAnalysis.Text;
using SagePtq.Generator.Model;
using SagePtq.Generator.Parsing;
using SagePtq.Generator.Tests.Infrastructure;

namespace SagePtq.Generator.Tests;

/// <summary>The parser reads every constant the emitters bake in, checked against System.Text.Json's reading of the same file.</summary>
public sealed class ManifestParserTests
{
    public static TheoryData<string> FixtureFiles() => ["tiny.manifest.json", "sagelm-7m-sage.manifest.json"];

    [Theory]
    [MemberData(nameof(FixtureFiles))]
    public void Every_linear_carries_its_manifest_record(string fileName)
    {
        var text = Fixtures.Text(fileName);
        var model = SnapshotTests.Model(new ManifestItem("m/model.manifest.json", text, "x"));
        using var oracle = JsonDocument.Parse(text);
        var root = oracle.RootElement;
        var architecture = root.GetProperty("architecture");
        Assert.Equal(new ArchitectureSpec(
            architecture.GetProperty("hiddenSize").GetInt32(), architecture.GetProperty("intermediateSize").GetInt32(),
            architecture.GetProperty("numLayers").GetInt32(), architecture.GetProperty("numHeads").GetInt32(),
            architecture.GetProperty("numKeyValueHeads").GetInt32(), architecture.GetProperty("headDim").GetInt32(),
            architecture.GetProperty("vocabSize").GetInt32()), model.Architecture);
        Assert.Equal(root.GetProperty("method").GetProperty("name").GetString(), model.MethodName);

        var decoderRecords = root.GetProperty("linears").EnumerateArray().Where(l => l.GetProperty("layer").ValueKind == JsonValueKind.Number).ToList();
        var specs = model.Layers.SelectMany(l => l.Linears).ToDictionary(l => l.Name);
        Assert.Equal(decoderRecords.Count, specs.Count);
        foreach (var record in decoderRecords)
        {
            var spec = specs[record.GetProperty("name").GetString()!];
            var stats = record.GetProperty("stats");
            Assert.Equal(record.GetProperty("layer").GetInt32(), spec.Layer);
            Assert.Equal(record.GetProperty("rows").GetInt32(), spec.Rows);
            Assert.Equal(record.GetProperty("cols").GetInt32(), spec.Cols);
            Assert.Equal(record.GetProperty("layout").GetString(), spec.Layout);
            Assert.Equal(stats.GetProperty("groupCount").GetInt32(), spec.GroupCount);
            Assert.Equal(stats.GetProperty("saliencyRatio").GetDouble(), spec.SaliencyRatio);
            Assert.Equal(stats.GetProperty("salientCount").GetInt64(), spec.SalientCount);
            Assert.Equal(stats.GetProperty("salientBits").GetInt32(), spec.SalientBits);
            Assert.Equal(record.GetProperty("storageBitsPerWeight").GetDouble(), spec.StorageBitsPerWeight);
            var parameters = record.GetProperty("parameters").EnumerateObject()
                .Select(p => new LayoutParameter(p.Name, p.Value.GetInt64())).OrderBy(p => p.Key, StringComparer.Ordinal);
            Assert.Equal(parameters, spec.Parameters);
            Assert.EndsWith("." + spec.Role + ".weight", spec.Name, StringComparison.Ordinal);
        }
        // Layers in index order, each linear in its slot.
        Assert.Equal(Enumerable.Range(0, model.Architecture.NumLayers), model.Layers.Select(l => l.Index));
        foreach (var layer in model.Layers)
        {
            Assert.Equal(["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"],
                layer.Linears.Select(l => l.Role));
            Assert.All(layer.Linears, l => Assert.Equal(layer.Index, l.Layer));
        }
    }

    [Theory]
    [MemberData(nameof(FixtureFiles))]
    public void The_hash_of_the_text_the_compiler_reads_is_the_hash_of_the_file_bytes(string fileName)
    {
        // The compiler reads AdditionalFiles with SourceText.From(stream): hashing that text re-encoded as
        // UTF-8 must give the SHA-256 of the bytes on disk (the quantizer writes UTF-8 without BOM, \n ends).
        var path = Path.Combine(Fixtures.Directory, fileName);
        var bytes = File.ReadAllBytes(path);
        Assert.False(bytes.AsSpan().StartsWith("\xEF\xBB\xBF"u8), "the fixture has a byte order mark");
        Assert.DoesNotContain((byte)'\r', bytes);
        using var stream = File.OpenRead(path);
        var text = SourceText.From(stream).ToString();
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), ManifestParser.Sha256Hex(text));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), SnapshotTests.Model(new ManifestItem(path, text, "x")).ManifestSha256);
    }

    [Fact]
    public void Metadata_overrides_the_derived_names_and_root_namespace_is_the_default()
    {
        var derived = GeneratorHarness.Run([Fixtures.SageLm7m], rootNamespace: "My.App");
        Assert.Contains(derived.GeneratedSources, s => s.HintName == "SageLm7mModel.g.cs" && s.SourceText.ToString().Contains("namespace My.App;", StringComparison.Ordinal));

        var overridden = GeneratorHarness.Run([Fixtures.SageLm7m with { ClassName = "Assistant", Namespace = "My.Models" }], rootNamespace: "My.App");
        var main = overridden.GeneratedSources.Single(s => s.HintName == "Assistant.g.cs").SourceText.ToString();
        Assert.Contains("namespace My.Models;", main, StringComparison.Ordinal);
        Assert.Contains("public sealed partial class Assistant : global::System.IDisposable", main, StringComparison.Ordinal);

        var global = GeneratorHarness.Run([Fixtures.SageLm7m], rootNamespace: null);
        // No namespace declaration (the CUDA header inside the raw strings has its own, indented).
        Assert.DoesNotContain(global.GeneratedSources, s => s.SourceText.ToString().Contains("\nnamespace ", StringComparison.Ordinal));
    }

    [Fact]
    public void Layer_numbers_widen_from_100_layers()
    {
        var model = SnapshotTests.Model(Fixtures.Tiny);
        Assert.Equal("07", model.LayerNumber(7));
        var layers = Enumerable.Repeat(model.Layers[0], 100).ToArray();
        Assert.Equal("07", (model with { Layers = new EquatableArray<LayerSpec>(layers) }).LayerNumber(7));
        layers = Enumerable.Repeat(model.Layers[0], 101).ToArray();
        Assert.Equal("007", (model with { Layers = new EquatableArray<LayerSpec>(layers) }).LayerNumber(7));
    }
}
