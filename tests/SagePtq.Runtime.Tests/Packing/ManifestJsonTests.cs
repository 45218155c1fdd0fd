using System.Text;
using System.Text.Json.Nodes;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Packing;
using SagePtq.Tests;
using Xunit;

namespace SagePtq.Runtime.Tests.Packing;

public sealed class ManifestJsonTests
{
    private static byte[] WrittenManifest()
    {
        using var dir = TestAssets.NewTempDir();
        TestPacks.Write(dir.Path);
        return File.ReadAllBytes(TestPacks.ManifestPath(dir.Path));
    }

    private static string ParseFails(JsonNode json) =>
        Assert.Throws<ModelFileException>(() => ManifestJson.Parse(Encoding.UTF8.GetBytes(json.ToJsonString()), "dir/model.manifest.json")).Message;

    [Fact]
    public void ParseThenSerializeGivesTheSameBytes()
    {
        byte[] bytes = WrittenManifest();
        var manifest = ManifestJson.Parse(bytes, PackFormat.ManifestFileName);
        Assert.Equal(bytes, ManifestJson.Serialize(manifest));
    }

    [Fact]
    public void ArchitectureRoundTripsToTheSameModelConfig()
    {
        var config = ModelConfig.Load(Path.Combine(TestAssets.EmbeddedModel, "config.json")) with { EosTokenIds = [2, 5], BosTokenId = 3 };
        var manifest = ManifestJson.Parse(WrittenManifest(), "m") with { Architecture = config };
        var read = ManifestJson.Parse(ManifestJson.Serialize(manifest), "m").Architecture;
        Assert.Equal(config with { EosTokenIds = [] }, read with { EosTokenIds = [] });
        Assert.Equal(config.EosTokenIds, read.EosTokenIds);
    }

    [Fact]
    public void IsCamelCaseIndentedAndSortsOptions()
    {
        string text = Encoding.UTF8.GetString(WrittenManifest());
        Assert.StartsWith("{\n  \"schemaVersion\": 1,\n  \"architecture\": {\n    \"modelType\": \"llama\",", text);
        Assert.True(text.IndexOf("\"alpha\"", StringComparison.Ordinal) < text.IndexOf("\"zeta\"", StringComparison.Ordinal));
        Assert.True(text.IndexOf("\"bits\": 1", StringComparison.Ordinal) < text.IndexOf("\"k\": 2", StringComparison.Ordinal));
        Assert.Contains("\"payloadChecksum\": \"xxh64:", text);
    }

    [Fact]
    public void NewerOrUnknownSchemaVersion()
    {
        var json = JsonNode.Parse(WrittenManifest())!;
        json["schemaVersion"] = 2;
        Assert.Equal("model.manifest.json: schema version 2 is newer than this runtime reads (1); update SagePtq or re-quantize", ParseFails(json));
        json["schemaVersion"] = 0;
        Assert.Contains("schema version 0 is not supported", ParseFails(json));
    }

    [Theory]
    [InlineData("schemaVersion")]
    [InlineData("architecture.hiddenSize")]
    [InlineData("pack.payloadChecksum")]
    [InlineData("linears[0].stats.groupCount")]
    [InlineData("tensors[1].shape")]
    public void MissingFieldIsNamed(string field)
    {
        var json = JsonNode.Parse(WrittenManifest())!;
        var parts = field.Replace("[", ".").Replace("]", "").Split('.');
        JsonNode parent = json;
        foreach (var part in parts[..^1]) parent = int.TryParse(part, out int i) ? parent[i]! : parent[part]!;
        parent.AsObject().Remove(parts[^1]);
        Assert.Equal($"model.manifest.json: required field '{field}' is missing", ParseFails(json));
    }

    [Fact]
    public void WrongTypeIsNamed()
    {
        var json = JsonNode.Parse(WrittenManifest())!;
        json["linears"]![2]!["rows"] = "many";
        Assert.Equal("model.manifest.json: linears[2].rows: must be an integer, not \"many\"", ParseFails(json));
    }

    [Fact]
    public void InconsistentSizes()
    {
        var json = JsonNode.Parse(WrittenManifest())!;
        json["linears"]![0]!["storedBytes"] = 7;
        Assert.Contains("storedBytes is 7 but its sections and parameters add up to", ParseFails(json));

        json = JsonNode.Parse(WrittenManifest())!;
        json["linears"]![0]!["storageBitsPerWeight"] = 1.0;
        Assert.Contains("storageBitsPerWeight is 1 but", ParseFails(json));

        json = JsonNode.Parse(WrittenManifest())!;
        json["tensors"]![1]!["length"] = 6;
        Assert.Contains("length 6 does not match shape", ParseFails(json));

        json = JsonNode.Parse(WrittenManifest())!;
        json["linears"]![0]!["sections"]![0]!["offset"] = 1L << 40;
        Assert.Contains("not an aligned range inside the payload region", ParseFails(json));

        json = JsonNode.Parse(WrittenManifest())!;
        json["linears"]![1]!["name"] = json["linears"]![0]!["name"]!.GetValue<string>();
        Assert.Contains("name is empty or repeated", ParseFails(json));

        json = JsonNode.Parse(WrittenManifest())!;
        json["linears"]![0]!["stats"]!["saliencyRatio"] = 1.5;
        Assert.Contains("stats are out of range", ParseFails(json));
    }

    [Fact]
    public void NotJsonOrNotLlama()
    {
        Assert.Contains("is not valid JSON", Assert.Throws<ModelFileException>(() => ManifestJson.Parse("{"u8, "model.manifest.json")).Message);
        var json = JsonNode.Parse(WrittenManifest())!;
        json["architecture"]!["modelType"] = "gpt2";
        Assert.Contains("architecture.modelType 'gpt2' is not supported", ParseFails(json));
    }
}
