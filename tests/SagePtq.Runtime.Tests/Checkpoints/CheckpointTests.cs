using System.Text.Json.Nodes;
using SagePtq.Runtime;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Checkpoints;

public class CheckpointTests
{
    [Fact]
    public void Opens_the_embedded_model_and_reads_fp16_tensors_as_fp32()
    {
        using var checkpoint = Checkpoint.Open(TestAssets.EmbeddedModel);
        var embed = checkpoint.GetInfo(LlamaTensors.Embedding);
        Assert.Equal(TensorDType.F16, embed.DType);
        Assert.Equal([4096L, 256L], embed.Shape);
        Assert.Equal(3 + 6 * 9, checkpoint.TensorNames.Count());

        float[] all = checkpoint.ReadFloat32(LlamaTensors.Embedding);
        var row = new float[256];
        checkpoint.ReadFloat32(LlamaTensors.Embedding, row, start: 7 * 256L);
        Assert.Equal(all.AsSpan(7 * 256, 256).ToArray(), row);
        Assert.Contains(all, v => v != 0);
    }

    [Theory]
    [InlineData(TensorDType.F16)]
    [InlineData(TensorDType.BF16)]
    [InlineData(TensorDType.F32)]
    public void Each_dtype_round_trips_to_its_precision(TensorDType dtype)
    {
        using var dir = TestAssets.NewTempDir();
        float[] values = [0f, 1f, -2.5f, 0.1f, 65504f, -1e-3f, 3.14159265f, 1e-7f];
        new SafetensorsWriter().Add("t", dtype, [2, 4], values).Write(dir.File("a.safetensors"));

        using var file = SafetensorsFile.Open(dir.File("a.safetensors"));
        var read = new float[8];
        file.ReadFloat32(file.Tensors["t"], read);
        for (int i = 0; i < values.Length; i++)
        {
            // F32 is exact; F16 keeps 11 significant bits, BF16 8 (rounded to nearest).
            float tolerance = dtype switch { TensorDType.F32 => 0, TensorDType.F16 => 1f / 2048, _ => 1f / 256 };
            Assert.True(Math.Abs(read[i] - values[i]) <= Math.Abs(values[i]) * tolerance + 6e-8f, $"{values[i]} read back as {read[i]}");
        }
    }

    [Fact]
    public void A_sharded_checkpoint_reads_the_same_as_a_single_file()
    {
        using var dir = TestAssets.NewTempDir();
        var tiny = new TinyCheckpoint();
        string single = tiny.WriteTo(Path.Combine(dir.Path, "single"));
        string sharded = Path.Combine(dir.Path, "sharded");
        Directory.CreateDirectory(sharded);
        File.Copy(Path.Combine(single, "config.json"), Path.Combine(sharded, "config.json"));

        using (var source = Checkpoint.Open(single))
        {
            var names = source.TensorNames.Order(StringComparer.Ordinal).ToArray();
            var weightMap = new JsonObject();
            var shards = new[] { new SafetensorsWriter(), new SafetensorsWriter() };
            for (int i = 0; i < names.Length; i++)
            {
                var info = source.GetInfo(names[i]);
                shards[i % 2].Add(names[i], info.DType, info.Shape, source.ReadFloat32(names[i]));
                weightMap[names[i]] = $"model-0000{i % 2 + 1}-of-00002.safetensors";
            }
            shards[0].Write(Path.Combine(sharded, "model-00001-of-00002.safetensors"));
            shards[1].Write(Path.Combine(sharded, "model-00002-of-00002.safetensors"));
            File.WriteAllText(Path.Combine(sharded, Checkpoint.IndexFileName), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = weightMap }.ToJsonString());
        }

        using var a = Checkpoint.Open(single);
        using var b = Checkpoint.Open(sharded);
        Assert.Equal(a.TensorNames.Order(), b.TensorNames.Order());
        foreach (var name in a.TensorNames) Assert.Equal(a.ReadFloat32(name), b.ReadFloat32(name));
        Assert.NotEqual(b.GetInfo(LlamaTensors.Embedding).FilePath, b.GetInfo(LlamaTensors.FinalNorm).FilePath);
    }

    [Fact]
    public void Tied_embeddings_need_no_lm_head()
    {
        using var dir = TestAssets.NewTempDir();
        var tiny = new TinyCheckpoint();
        tiny.Config["tie_word_embeddings"] = true;
        tiny.Tensors.Remove(LlamaTensors.LmHead);
        using var checkpoint = Checkpoint.Open(tiny.WriteTo(dir.Path));
        Assert.Equal(LlamaTensors.Embedding, checkpoint.LmHeadName);
    }

    [Fact]
    public void A_tensor_whose_shape_disagrees_with_config_is_named()
    {
        using var dir = TestAssets.NewTempDir();
        var tiny = new TinyCheckpoint();
        tiny.Tensors["model.layers.1.mlp.up_proj.weight"] = [24, 15];
        var e = Assert.Throws<ModelFileException>(() => Checkpoint.Open(tiny.WriteTo(dir.Path)));
        Assert.Equal("model.safetensors: tensor model.layers.1.mlp.up_proj.weight has shape [24, 15], config.json says [24, 16]", e.Message);
    }

    [Fact]
    public void A_missing_tensor_is_named()
    {
        using var dir = TestAssets.NewTempDir();
        var tiny = new TinyCheckpoint();
        tiny.Tensors.Remove("model.layers.0.self_attn.v_proj.weight");
        var e = Assert.Throws<ModelFileException>(() => Checkpoint.Open(tiny.WriteTo(dir.Path)));
        Assert.Contains("tensor model.layers.0.self_attn.v_proj.weight is missing from the checkpoint", e.Message);
    }

    [Fact]
    public void An_unknown_architecture_is_refused()
    {
        using var dir = TestAssets.NewTempDir();
        var tiny = new TinyCheckpoint();
        tiny.Config["model_type"] = "qwen2";
        var e = Assert.Throws<ModelFileException>(() => Checkpoint.Open(tiny.WriteTo(dir.Path)));
        Assert.Contains("config.json: architecture 'qwen2' is not supported", e.Message);
    }

    [Fact]
    public void A_folder_without_weights_or_config_is_reported()
    {
        using var dir = TestAssets.NewTempDir();
        Assert.Contains("model folder not found", Assert.Throws<ModelFileException>(() => Checkpoint.Open(dir.File("nope"))).Message);
        Assert.Equal("config.json: file not found", Assert.Throws<ModelFileException>(() => Checkpoint.Open(dir.Path)).Message);
        File.Copy(Path.Combine(TestAssets.EmbeddedModel, "config.json"), dir.File("config.json"));
        Assert.Contains("holds neither model.safetensors nor model.safetensors.index.json", Assert.Throws<ModelFileException>(() => Checkpoint.Open(dir.Path)).Message);
    }

    [Fact]
    public void A_truncated_file_is_reported_not_read()
    {
        using var dir = TestAssets.NewTempDir();
        var tiny = new TinyCheckpoint();
        tiny.WriteTo(dir.Path);
        string weights = dir.File("model.safetensors");
        byte[] bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..^100]);
        var e = Assert.Throws<ModelFileException>(() => Checkpoint.Open(dir.Path));
        Assert.StartsWith("model.safetensors: tensor ", e.Message);
        Assert.Contains("run past the end of the data", e.Message);

        File.WriteAllBytes(weights, bytes[..5]);
        Assert.Contains("is truncated", Assert.Throws<ModelFileException>(() => Checkpoint.Open(dir.Path)).Message);
        File.WriteAllBytes(weights, bytes[..200]);
        Assert.Contains("header claims", Assert.Throws<ModelFileException>(() => Checkpoint.Open(dir.Path)).Message);
    }

    [Fact]
    public void A_header_that_lies_about_dtype_or_size_is_reported()
    {
        using var dir = TestAssets.NewTempDir();
        string path = dir.File("x.safetensors");

        new SafetensorsWriter().AddRaw("w", TensorDType.F16, [4, 4], new byte[30]).Write(path);
        Assert.Equal("x.safetensors: tensor w: shape [4, 4] of F16 needs 32 bytes but data_offsets give 30",
            Assert.Throws<ModelFileException>(() => SafetensorsFile.Open(path)).Message);

        WriteWithHeader(path, """{"w":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}}""", 2);
        Assert.Contains("dtype I8 is not supported", Assert.Throws<ModelFileException>(() => SafetensorsFile.Open(path)).Message);

        WriteWithHeader(path, """{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", 8);
        Assert.Contains("end before they begin", Assert.Throws<ModelFileException>(() => SafetensorsFile.Open(path)).Message);

        WriteWithHeader(path, """{"w": not json""", 8);
        Assert.Contains("header is not valid JSON", Assert.Throws<ModelFileException>(() => SafetensorsFile.Open(path)).Message);

        WriteWithHeader(path, """{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", 8);
        Assert.Contains("shape must be a list of non-negative integers", Assert.Throws<ModelFileException>(() => SafetensorsFile.Open(path)).Message);
    }

    [Fact]
    public void A_shard_index_that_names_a_missing_file_is_reported()
    {
        using var dir = TestAssets.NewTempDir();
        File.Copy(Path.Combine(TestAssets.EmbeddedModel, "config.json"), dir.File("config.json"));
        File.WriteAllText(dir.File(Checkpoint.IndexFileName), """{"weight_map":{"model.embed_tokens.weight":"model-00001-of-00002.safetensors"}}""");
        Assert.Equal("model-00001-of-00002.safetensors: file not found", Assert.Throws<ModelFileException>(() => Checkpoint.Open(dir.Path)).Message);
        File.WriteAllText(dir.File(Checkpoint.IndexFileName), """{"weight_map":{"a":"../../etc/passwd"}}""");
        Assert.Contains("not a file in the model folder", Assert.Throws<ModelFileException>(() => Checkpoint.Open(dir.Path)).Message);
    }

    private static void WriteWithHeader(string path, string header, int dataBytes)
    {
        byte[] json = System.Text.Encoding.UTF8.GetBytes(header);
        using var s = File.Create(path);
        s.Write(BitConverter.GetBytes((ulong)json.Length));
        s.Write(json);
        s.Write(new byte[dataBytes]);
    }
}
