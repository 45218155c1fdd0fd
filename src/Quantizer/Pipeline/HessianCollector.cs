using SagePtq.Quantizer.Numerics;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Reference;

namespace SagePtq.Quantizer.Pipeline;

/// <summary>
/// Accumulates, for one decoder layer, the Hessian proxy XᵀX of each of its four linear inputs as
/// the calibration windows run through it. Linears that read the same input share its Hessian
/// (q/k/v, gate/up), so a layer needs four accumulators, not seven.
/// </summary>
internal sealed class HessianCollector(ModelConfig config, int layer) : ILinearInputObserver
{
    private readonly HessianAccumulator[] _accumulators =
    [
        new(config.HiddenSize), new(config.QueryDim), new(config.HiddenSize), new(config.IntermediateSize),
    ];

    public void Observe(int observedLayer, LinearInputKind kind, ReadOnlySpan<float> rows, int rowCount)
    {
        if (observedLayer != layer) throw new InvalidOperationException($"collecting layer {layer}, saw layer {observedLayer}");
        _accumulators[(int)kind].Add(rows, rowCount);
    }

    /// <summary>The finished Hessian of every input kind.</summary>
    public IReadOnlyDictionary<LinearInputKind, double[]> Finish() =>
        Enum.GetValues<LinearInputKind>().ToDictionary(kind => kind, kind => _accumulators[(int)kind].Finish());

    /// <summary>Which input a linear of the layer reads.</summary>
    public static LinearInputKind InputOf(string part) => part switch
    {
        "self_attn.q_proj" or "self_attn.k_proj" or "self_attn.v_proj" => LinearInputKind.AttentionInput,
        "self_attn.o_proj" => LinearInputKind.AttentionOutput,
        "mlp.gate_proj" or "mlp.up_proj" => LinearInputKind.MlpInput,
        "mlp.down_proj" => LinearInputKind.MlpHidden,
        _ => throw new ArgumentException($"'{part}' is not a linear of a decoder layer", nameof(part)),
    };
}
