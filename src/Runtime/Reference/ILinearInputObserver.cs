namespace SagePtq.Runtime.Reference;

/// <summary>The four inputs the seven linears of a decoder layer read.</summary>
public enum LinearInputKind
{
    /// <summary><c>input_layernorm(x)</c>, read by q_proj, k_proj and v_proj.</summary>
    AttentionInput,
    /// <summary>The attention heads' output, read by o_proj.</summary>
    AttentionOutput,
    /// <summary><c>post_attention_layernorm(x)</c>, read by gate_proj and up_proj.</summary>
    MlpInput,
    /// <summary><c>silu(gate_proj(h)) * up_proj(h)</c>, read by down_proj.</summary>
    MlpHidden,
}

/// <summary>
/// Sees each linear's input rows as <see cref="ReferenceModel.RunLayer"/> computes them: what
/// calibration accumulates into the Hessian proxy XᵀX of each linear.
/// </summary>
public interface ILinearInputObserver
{
    /// <param name="layer">The decoder layer.</param>
    /// <param name="kind">Which input (and so which linears read it).</param>
    /// <param name="rows"><paramref name="rowCount"/> input rows, row-major; valid only during the call.</param>
    /// <param name="rowCount">How many tokens.</param>
    void Observe(int layer, LinearInputKind kind, ReadOnlySpan<float> rows, int rowCount);
}
