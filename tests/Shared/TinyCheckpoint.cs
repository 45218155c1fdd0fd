using System.Text.Json.Nodes;
using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Tests;

/// <summary>
/// Builds a small, valid LLaMA checkpoint folder (config.json + model.safetensors with seeded random
/// weights) that a test can then break in one precise way: change a config field, drop or reshape a
/// tensor, truncate the file.
/// </summary>
internal sealed class TinyCheckpoint
{
    public JsonObject Config { get; } = new()
    {
        ["architectures"] = new JsonArray("LlamaForCausalLM"),
        ["model_type"] = "llama",
        ["hidden_size"] = 16,
        ["intermediate_size"] = 24,
        ["num_hidden_layers"] = 2,
        ["num_attention_heads"] = 4,
        ["num_key_value_heads"] = 2,
        ["vocab_size"] = 32,
        ["max_position_embeddings"] = 64,
        ["rms_norm_eps"] = 1e-5,
        ["rope_theta"] = 10000.0,
        ["tie_word_embeddings"] = false,
        ["bos_token_id"] = 1,
        ["eos_token_id"] = 2,
    };

    /// <summary>Every tensor the config implies, name → shape; edit to drop or reshape one.</summary>
    public Dictionary<string, long[]> Tensors { get; }

    public TensorDType DType { get; set; } = TensorDType.F16;

    /// <summary>Called with each tensor's name and seeded random values before they are written, to plant a bad value.</summary>
    public Action<string, float[]>? EditValues { get; set; }

    public TinyCheckpoint()
    {
        var config = ModelConfig.Parse(Config.ToJsonString(), "config.json");
        Tensors = LlamaTensors.Expected(config).ToDictionary(t => t.Name, t => t.Shape);
    }

    /// <summary>Writes the folder and returns its path.</summary>
    public string WriteTo(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, Checkpoint.ConfigFileName), Config.ToJsonString());
        var writer = new SafetensorsWriter();
        var random = new Random(1234);
        foreach (var (name, shape) in Tensors)
        {
            var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() - 0.5) * 0.2f;
            EditValues?.Invoke(name, values);
            writer.Add(name, DType, shape, values);
        }
        writer.Write(Path.Combine(directory, Checkpoint.SingleFileName));
        return directory;
    }
}
