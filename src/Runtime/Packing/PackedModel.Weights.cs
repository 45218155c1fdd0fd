using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Reference;

namespace SagePtq.Runtime.Packing;

public sealed partial class PackedModel
{
    /// <summary>
    /// Every weight of the model in FP32: each quantized linear decoded through its layout, every other
    /// tensor converted. This is the plain dequantize-then-reference path: <c>new ReferenceModel(pack.ToLlamaWeights())</c>
    /// evaluates the pack exactly as the quantizer's dequantized weights would. A tensor may be stored
    /// either way (the LM head or embedding as a linear payload is allowed).
    /// </summary>
    /// <exception cref="ModelFileException">A tensor is missing, has the wrong shape, or its payload does not decode.</exception>
    public LlamaWeights ToLlamaWeights()
    {
        var config = Manifest.Architecture;
        var layers = new LlamaLayerWeights[config.NumLayers];
        try
        {
            Parallel.For(0, config.NumLayers, i => layers[i] = ReadLayer(config, i));
        }
        catch (AggregateException e)
        {
            // Report the first bad tensor as itself, not wrapped by the parallel loop.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.Flatten().InnerExceptions[0]).Throw();
        }
        long[] vocabByHidden = [config.VocabSize, config.HiddenSize];
        var embedding = ReadWeight(LlamaTensors.Embedding, vocabByHidden);
        var lmHead = config.TieWordEmbeddings ? embedding : ReadWeight(LlamaTensors.LmHead, vocabByHidden);
        return new LlamaWeights(config, embedding, layers, ReadWeight(LlamaTensors.FinalNorm, [config.HiddenSize]), lmHead);
    }

    private LlamaLayerWeights ReadLayer(ModelConfig config, int i)
    {
        float[] Part(string part) => ReadWeight(LlamaTensors.Layer(i, part), LlamaTensors.LayerShape(config, part));
        return new LlamaLayerWeights
        {
            AttentionNorm = Part("input_layernorm"),
            Query = Part("self_attn.q_proj"),
            Key = Part("self_attn.k_proj"),
            Value = Part("self_attn.v_proj"),
            Output = Part("self_attn.o_proj"),
            MlpNorm = Part("post_attention_layernorm"),
            Gate = Part("mlp.gate_proj"),
            Up = Part("mlp.up_proj"),
            Down = Part("mlp.down_proj"),
        };
    }

    /// <summary>A tensor the forward pass needs, from a linear record (decoded) or a float tensor, with its shape checked.</summary>
    private float[] ReadWeight(string name, long[] shape)
    {
        if (_linears.TryGetValue(name, out var linear))
        {
            if (shape.Length != 2 || linear.Rows != shape[0] || linear.Cols != shape[1])
                throw new ModelFileException(PackPath, $"linear {name} is [{linear.Rows}, {linear.Cols}], the architecture needs [{string.Join(", ", shape)}]");
            try { return LinearLayouts.Decode(GetLinear(name)); }
            catch (InvalidDataException e) { throw new ModelFileException(PackPath, $"linear {name}: {e.Message}", e); }
        }
        if (_tensors.TryGetValue(name, out var tensor) && tensor.DataType != Packing.PackDataType.Bytes)
        {
            if (!tensor.Shape.SequenceEqual(shape))
                throw new ModelFileException(PackPath, $"tensor {name} has shape [{string.Join(", ", tensor.Shape)}], the architecture needs [{string.Join(", ", shape)}]");
            return ReadFloats(name);
        }
        throw new ModelFileException(PackPath, $"has no tensor {name}, which the forward pass needs");
    }
}
