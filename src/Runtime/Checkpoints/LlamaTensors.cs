namespace SagePtq.Runtime.Checkpoints;

/// <summary>
/// The tensor names and shapes of a Hugging Face LlamaForCausalLM checkpoint, derived from its
/// config. Shapes are [out, in] for linears, as PyTorch stores <c>nn.Linear.weight</c>.
/// </summary>
public static class LlamaTensors
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    /// <summary>The seven linears of a decoder layer, in forward order.</summary>
    public static readonly string[] LayerLinears =
    [
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
    ];

    public static string Layer(int layer, string part) => $"model.layers.{layer}.{part}.weight";

    /// <summary>The [out, in] shape of one of a layer's linears or norms.</summary>
    public static long[] LayerShape(ModelConfig c, string part) => part switch
    {
        "self_attn.q_proj" => [c.QueryDim, c.HiddenSize],
        "self_attn.k_proj" or "self_attn.v_proj" => [c.KeyValueDim, c.HiddenSize],
        "self_attn.o_proj" => [c.HiddenSize, c.QueryDim],
        "mlp.gate_proj" or "mlp.up_proj" => [c.IntermediateSize, c.HiddenSize],
        "mlp.down_proj" => [c.HiddenSize, c.IntermediateSize],
        "input_layernorm" or "post_attention_layernorm" => [c.HiddenSize],
        _ => throw new ArgumentException($"unknown layer part '{part}'", nameof(part)),
    };

    /// <summary>Every tensor the forward pass reads, with the shape config.json implies.</summary>
    public static IEnumerable<(string Name, long[] Shape)> Expected(ModelConfig c)
    {
        yield return (Embedding, [c.VocabSize, c.HiddenSize]);
        for (int i = 0; i < c.NumLayers; i++)
        {
            foreach (var part in new[] { "input_layernorm", "post_attention_layernorm" }.Concat(LayerLinears))
                yield return (Layer(i, part), LayerShape(c, part));
        }
        yield return (FinalNorm, [c.HiddenSize]);
        if (!c.TieWordEmbeddings) yield return (LmHead, [c.VocabSize, c.HiddenSize]);
    }
}
