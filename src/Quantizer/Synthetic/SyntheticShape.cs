using System.Globalization;
using System.Text.Json.Nodes;
using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Quantizer.Synthetic;

/// <summary>
/// A named LLaMA architecture for <c>sageptq synth</c>: the sizes a pack needs, no weights. The large
/// shapes are the published LLaMA-2 configurations; the small ones keep tests and smoke runs fast.
/// </summary>
public sealed record SyntheticShape(
    string Name, int Layers, int Hidden, int Intermediate, int Heads, int KeyValueHeads, int Vocab, int MaxPositions)
{
    /// <summary>Every shape <see cref="Parse"/> knows.</summary>
    public static IReadOnlyList<SyntheticShape> Known { get; } =
    [
        new("tiny", 2, 64, 176, 4, 2, 512, 128),
        new("sagelm-7m", 6, 256, 704, 4, 2, 4096, 512),
        new("llama2-7b", 32, 4096, 11008, 32, 32, 32000, 4096),
        new("llama2-13b", 40, 5120, 13824, 40, 40, 32000, 4096),
    ];

    /// <summary>The shape called <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No shape has that name (the message lists the known ones).</exception>
    public static SyntheticShape Parse(string name) =>
        Known.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"unknown shape '{name}': expected one of {string.Join(", ", Known.Select(s => s.Name))}", nameof(name));

    /// <summary>The config.json this shape stands for (untied embeddings, LLaMA-2 defaults for the rest).</summary>
    public ModelConfig ToConfig()
    {
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_size"] = Hidden,
            ["intermediate_size"] = Intermediate,
            ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = Heads,
            ["num_key_value_heads"] = KeyValueHeads,
            ["vocab_size"] = Vocab,
            ["max_position_embeddings"] = MaxPositions,
            ["rms_norm_eps"] = 1e-5,
            ["rope_theta"] = 10000.0,
            ["tie_word_embeddings"] = false,
            ["bos_token_id"] = 1,
            ["eos_token_id"] = 2,
        };
        return ModelConfig.Parse(json.ToJsonString(), string.Create(CultureInfo.InvariantCulture, $"synthetic shape {Name}"));
    }
}
