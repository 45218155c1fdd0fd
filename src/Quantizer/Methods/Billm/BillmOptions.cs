namespace SagePtq.Quantizer.Methods.Billm;

/// <summary>
/// BiLLM's settings; the defaults are those of its official code (research/baselines.md §1.3-§1.4).
/// </summary>
public sealed record BillmOptions
{
    /// <summary>Column block β: the unit of saliency search, scales and error compensation (128).</summary>
    public int BlockSize { get; init; } = 128;

    /// <summary>Damping added to diag H, as a fraction of its mean (0.01).</summary>
    public double DampFraction { get; init; } = 0.01;

    /// <summary>
    /// The code's <c>up_lim</c>: the salient column count of a block is searched over 1 … up_lim − 1
    /// among the up_lim columns of largest total saliency (50, so 1 … 49).
    /// </summary>
    public int SalientSearchLimit { get; init; } = 50;

    /// <summary>Break-point candidates: this many quantiles evenly spaced over [0.1, 0.9] (81: steps of 0.01).</summary>
    public int BreakPointCandidates { get; init; } = 81;

    /// <summary>
    /// Compensate later blocks with the exact block error e = (W_b − Ŵ_b)·U_bb⁻¹ instead of BiLLM's diagonal
    /// e_j = (w_j − ŵ_j) / U_jj. Off by default, to reproduce BiLLM; the diagonal form ignores the correlation
    /// of inputs inside a block and can compensate in the wrong direction where that is strong.
    /// </summary>
    public bool ExactBlockCompensation { get; init; }

    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    internal void Validate()
    {
        if (BlockSize is < 2 or > 1024) throw new ArgumentException($"billm: BlockSize must be in [2, 1024], not {BlockSize}");
        if (!(DampFraction is >= 0 and < 10)) throw new ArgumentException($"billm: DampFraction must be in [0, 10), not {DampFraction}");
        if (SalientSearchLimit < 2) throw new ArgumentException($"billm: SalientSearchLimit must be at least 2, not {SalientSearchLimit}");
        if (BreakPointCandidates < 1) throw new ArgumentException($"billm: BreakPointCandidates must be at least 1, not {BreakPointCandidates}");
    }
}
