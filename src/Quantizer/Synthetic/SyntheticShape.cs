using System.Globalization;
using System.Text.Json.Nodes;
using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Quantizer.Synthetic;

/// <summary>
/// A named LLaMA architecture for <c>sageptq synth</c> and <c>sageptq synth-checkpoint</c>: the sizes a
/// pack or checkpoint needs, no weights. The large shapes are the published LLaMA-2 and LLaMA-3
/// configurations (llama3-8b: grouped-query attention with 8 KV heads, a 128256-token vocabulary,
/// rope_theta 500000); the small ones keep tests and smoke runs fast.
/// </summary>
public sealed record SyntheticShape(
    string Name, int Layers, int Hidden, int Intermediate, int Heads, int KeyValueHeads, int Vocab, int MaxPositions,
    double RopeTheta = 10000.0, int BosTokenId = 1, int EosTokenId = 2)
{
    /// <summary>Every shape <see cref="Parse"/> knows.</summary>
    public static IReadOnlyList<SyntheticShape> Known { get; } =
    [
        new("tiny", 2, 64, 176, 4, 2, 512, 128),
        new("sagelm-7m", 6, 256, 704, 4, 2, 4096, 512),
        new("llama2-7b", 32, 4096, 11008, 32, 32, 32000, 4096),
        new("llama2-13b", 40, 5120, 13824, 40, 40, 32000, 4096),
        // BOS/EOS stay 1 and 2: the checkpoint ships a tokenizer with those ids (LLaMA-3's own is not on hand).
        new("llama3-8b", 32, 4096, 14336, 32, 8, 128256, 8192, RopeTheta: 500000.0),
    ];

    /// <summary>This shape with <paramref name="layers"/> decoder layers (full width, for quick profiling).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layers"/> is below 1.</exception>
    public SyntheticShape WithLayers(int layers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layers, 1);
        return this with { Layers = layers };
    }

    /// <summary>The shape called <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No shape has that name (the message lists the known ones).</exception>
    public static SyntheticShape Parse(string name) =>
        Known.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"unknown shape '{name}': expected one of {string.Join(", ", Known.Select(s => s.Name))}", nameof(name));

    /// <summary>The config.json this shape stands for (untied embeddings, LLaMA-2 defaults for the rest).</summary>
    public ModelConfig ToConfig() =>
        ModelConfig.Parse(ToConfigJson(), string.Create(CultureInfo.InvariantCulture, $"synthetic shape {Name}"));

    /// <summary>The Hugging Face config.json text of this shape, as <c>synth-checkpoint</c> writes it (indented, fixed key order).</summary>
    public string ToConfigJson(string torchDtype = "float16")
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
            ["rope_theta"] = RopeTheta,
            ["tie_word_embeddings"] = false,
            ["bos_token_id"] = BosTokenId,
            ["eos_token_id"] = EosTokenId,
            ["hidden_act"] = "silu",
            ["torch_dtype"] = torchDtype,
        };
        return json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }
}
