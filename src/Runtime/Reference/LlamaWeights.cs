using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Runtime.Reference;

/// <summary>
/// The FP32 weights of one decoder layer. Linears are row-major [out × in], as PyTorch stores
/// <c>nn.Linear.weight</c>; norms are [hidden].
/// </summary>
public sealed class LlamaLayerWeights
{
    /// <summary><c>input_layernorm</c>: [hidden].</summary>
    public required float[] AttentionNorm { get; init; }
    /// <summary><c>self_attn.q_proj</c>: [heads × headDim, hidden].</summary>
    public required float[] Query { get; init; }
    /// <summary><c>self_attn.k_proj</c>: [kvHeads × headDim, hidden].</summary>
    public required float[] Key { get; init; }
    /// <summary><c>self_attn.v_proj</c>: [kvHeads × headDim, hidden].</summary>
    public required float[] Value { get; init; }
    /// <summary><c>self_attn.o_proj</c>: [hidden, heads × headDim].</summary>
    public required float[] Output { get; init; }
    /// <summary><c>post_attention_layernorm</c>: [hidden].</summary>
    public required float[] MlpNorm { get; init; }
    /// <summary><c>mlp.gate_proj</c>: [intermediate, hidden].</summary>
    public required float[] Gate { get; init; }
    /// <summary><c>mlp.up_proj</c>: [intermediate, hidden].</summary>
    public required float[] Up { get; init; }
    /// <summary><c>mlp.down_proj</c>: [hidden, intermediate].</summary>
    public required float[] Down { get; init; }

    /// <summary>The weight of one of the seven linears by its part name (<c>self_attn.q_proj</c>...; see <see cref="LlamaTensors.LayerLinears"/>).</summary>
    public float[] Linear(string part) => part switch
    {
        "self_attn.q_proj" => Query, "self_attn.k_proj" => Key, "self_attn.v_proj" => Value, "self_attn.o_proj" => Output,
        "mlp.gate_proj" => Gate, "mlp.up_proj" => Up, "mlp.down_proj" => Down,
        _ => throw new ArgumentException($"'{part}' is not a linear of a decoder layer", nameof(part)),
    };

    /// <summary>Each tensor with its checkpoint part name, in the order of <see cref="LlamaTensors"/>.</summary>
    internal IEnumerable<(string Part, float[] Data)> Tensors =>
    [
        ("input_layernorm", AttentionNorm), ("post_attention_layernorm", MlpNorm),
        ("self_attn.q_proj", Query), ("self_attn.k_proj", Key), ("self_attn.v_proj", Value), ("self_attn.o_proj", Output),
        ("mlp.gate_proj", Gate), ("mlp.up_proj", Up), ("mlp.down_proj", Down),
    ];
}

/// <summary>
/// Every weight of a LLaMA model in FP32, with its config. Built from a checkpoint, or from arrays
/// handed in by a quantizer (dequantized weights), so that one forward pass serves both.
/// </summary>
public sealed class LlamaWeights
{
    /// <exception cref="ArgumentException">An array does not have the length the config implies.</exception>
    public LlamaWeights(ModelConfig config, float[] embedding, IReadOnlyList<LlamaLayerWeights> layers, float[] finalNorm, float[] lmHead)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (layers.Count != config.NumLayers)
            throw new ArgumentException($"{layers.Count} layers given, the config has {config.NumLayers}", nameof(layers));
        CheckLength(LlamaTensors.Embedding, embedding, (long)config.VocabSize * config.HiddenSize);
        CheckLength(LlamaTensors.FinalNorm, finalNorm, config.HiddenSize);
        CheckLength(LlamaTensors.LmHead, lmHead, (long)config.VocabSize * config.HiddenSize);
        for (int i = 0; i < layers.Count; i++)
            foreach (var (part, data) in layers[i].Tensors)
                CheckLength(LlamaTensors.Layer(i, part), data, LlamaTensors.LayerShape(config, part).Aggregate(1L, (a, b) => a * b));

        Config = config;
        Embedding = embedding;
        Layers = layers;
        FinalNorm = finalNorm;
        LmHead = lmHead;
    }

    public ModelConfig Config { get; }

    /// <summary><c>model.embed_tokens</c>: [vocab, hidden].</summary>
    public float[] Embedding { get; }

    public IReadOnlyList<LlamaLayerWeights> Layers { get; }

    /// <summary><c>model.norm</c>: [hidden].</summary>
    public float[] FinalNorm { get; }

    /// <summary><c>lm_head</c>: [vocab, hidden]; the same array as <see cref="Embedding"/> when the two are tied.</summary>
    public float[] LmHead { get; }

    /// <summary>Reads every tensor of an opened checkpoint, converted to FP32.</summary>
    public static LlamaWeights FromCheckpoint(Checkpoint checkpoint)
    {
        var config = checkpoint.Config;
        float[] Read(int layer, string part) => checkpoint.ReadFloat32(LlamaTensors.Layer(layer, part));
        var layers = Enumerable.Range(0, config.NumLayers).Select(i => new LlamaLayerWeights
        {
            AttentionNorm = Read(i, "input_layernorm"),
            Query = Read(i, "self_attn.q_proj"),
            Key = Read(i, "self_attn.k_proj"),
            Value = Read(i, "self_attn.v_proj"),
            Output = Read(i, "self_attn.o_proj"),
            MlpNorm = Read(i, "post_attention_layernorm"),
            Gate = Read(i, "mlp.gate_proj"),
            Up = Read(i, "mlp.up_proj"),
            Down = Read(i, "mlp.down_proj"),
        }).ToArray();
        var embedding = checkpoint.ReadFloat32(LlamaTensors.Embedding);
        var lmHead = config.TieWordEmbeddings ? embedding : checkpoint.ReadFloat32(checkpoint.LmHeadName);
        return new LlamaWeights(config, embedding, layers, checkpoint.ReadFloat32(LlamaTensors.FinalNorm), lmHead);
    }

    private static void CheckLength(string name, float[] data, long expected)
    {
        ArgumentNullException.ThrowIfNull(data, name);
        if (data.Length != expected)
            throw new ArgumentException($"{name} has {data.Length} elements, the config implies {expected}");
    }
}
