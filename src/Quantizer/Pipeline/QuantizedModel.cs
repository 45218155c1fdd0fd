using SagePtq.Quantizer.Methods;
using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Quantizer.Pipeline;

/// <summary>A tensor kept in floating point (embedding, norms, LM head), with its checkpoint name and shape.</summary>
public sealed record FloatTensor(string Name, int[] Shape, float[] Data);

/// <summary>One quantized linear of the model, by its checkpoint name (<c>model.layers.3.mlp.up_proj.weight</c>).</summary>
public sealed record ModelLinear(string Name, int Layer, string Part, QuantizedLinear Quantized);

/// <summary>The embedding or LM head stored as a quantized linear (<see cref="EmbeddingQuantization"/>), by its checkpoint name.</summary>
public sealed record QuantizedTensor(string Name, QuantizedLinear Quantized);

/// <summary>What <see cref="ModelQuantizer"/> produces: everything the pack writer needs.</summary>
/// <param name="FloatTensors">Tensors kept in floating point: the norms, and the embedding and LM head unless quantized.</param>
/// <param name="Linears">The decoder layers' linears, in layer order.</param>
/// <param name="QuantizedTensors">The embedding and LM head when <see cref="EmbeddingQuantization"/> quantizes them; empty otherwise.</param>
public sealed record QuantizedModel(
    ModelConfig Config, string Method, IReadOnlyList<FloatTensor> FloatTensors, IReadOnlyList<ModelLinear> Linears,
    IReadOnlyList<QuantizedTensor> QuantizedTensors);

/// <summary>Where a quantization run is, reported after each linear.</summary>
/// <param name="Layer">The decoder layer being worked on (0-based).</param>
/// <param name="Stage">What is happening: "calibrating" or the linear's part name.</param>
/// <param name="LinearsDone">Linears finished so far, out of <paramref name="LinearsTotal"/>.</param>
public sealed record QuantizeProgress(int Layer, int Layers, string Stage, int LinearsDone, int LinearsTotal);
