namespace SagePtq.Quantizer.Methods.Pbllm;

/// <summary>How PB-LLM ranks weights for the salient (8-bit) set.</summary>
public enum PbllmSaliency
{
    /// <summary>w² / [H⁻¹]_jj, with [H⁻¹]_jj read as U_jj² (the SparseGPT/OBS criterion; PB-LLM's default).</summary>
    Hessian,
    /// <summary>|w|.</summary>
    Magnitude,
}

/// <summary>
/// PB-LLM's settings; the defaults are the PB-GPTQ configuration BiLLM and ARB-LLM compare against
/// ("PB-LLM 1.70": 10 % Hessian-selected salient weights at 8 bits, GPTQ compensation; research/baselines.md §2).
/// </summary>
public sealed record PbllmOptions
{
    /// <summary>Fraction of the weights kept at 8 bits (the code's 1 − low_frac): 0.1.</summary>
    public double SalientFraction { get; init; } = 0.1;

    /// <summary>Criterion ranking weights for the salient set.</summary>
    public PbllmSaliency Saliency { get; init; } = PbllmSaliency.Hessian;

    /// <summary>Run the GPTQ loop (column by column, each error pushed to later columns through U), as PB-GPTQ does.</summary>
    public bool Compensate { get; init; } = true;

    /// <summary>
    /// Compute each row's μ and α over all its columns with zeros at salient positions, as PB-LLM's code does
    /// (it marks this "seems to have problem"); by default they are over the binarized weights only, as the
    /// paper describes (μ the row mean, α = ‖w − μ‖₁ / n).
    /// </summary>
    public bool StatisticsIncludeSalientZeros { get; init; }

    /// <summary>Damping added to diag H, as a fraction of its mean (0.01).</summary>
    public double DampFraction { get; init; } = 0.01;

    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    internal void Validate()
    {
        if (!(SalientFraction is >= 0 and <= 1)) throw new ArgumentException($"pbllm: SalientFraction must be in [0, 1], not {SalientFraction}");
        if (!(DampFraction is >= 0 and < 10)) throw new ArgumentException($"pbllm: DampFraction must be in [0, 10), not {DampFraction}");
        if (!Enum.IsDefined(Saliency)) throw new ArgumentException($"pbllm: unknown saliency criterion {Saliency}");
    }
}
