namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>
/// Adaptive saliency thresholding (DESIGN.md §5.4): the number of salient units (columns or weights)
/// of one matrix, chosen by Brent's bounded search of the ratio r ∈ [0, r_cap] minimising the
/// quantization error, where r_cap is the largest ratio whose storage still fits the bit budget.
/// The error is a step function of the integer count, so evaluations are cached by count.
/// </summary>
internal static class AdaptiveThreshold
{
    /// <summary>The largest count in [0, <paramref name="maxCount"/>] with <paramref name="bitsPerWeight"/>(count) ≤ <paramref name="budget"/>, or −1 if even 0 does not fit.</summary>
    public static int Cap(Func<int, double> bitsPerWeight, int maxCount, double budget)
    {
        if (bitsPerWeight(0) > budget) return -1;
        int lo = 0, hi = maxCount;
        while (lo < hi)
        {
            int mid = lo + (hi - lo + 1) / 2;
            if (bitsPerWeight(mid) <= budget) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    /// <summary>
    /// The ablation without the search: ⌊<paramref name="ratio"/>·<paramref name="units"/>⌉ salient units whatever
    /// the error, lowered to <paramref name="cap"/> where the budget allows fewer (0 when even none fits).
    /// </summary>
    public static int Fixed(double ratio, int units, int cap) =>
        cap <= 0 ? 0 : (int)Math.Min(cap, Math.Round(ratio * units, MidpointRounding.AwayFromZero));

    /// <summary>The count in [0, <paramref name="cap"/>] of least <paramref name="error"/> that Brent's search finds.</summary>
    public static int Search(Func<int, double> error, int cap, int units, int maxEvaluations)
    {
        if (cap <= 0) return 0;
        var cache = new Dictionary<int, double>();
        double Cached(int count) => cache.TryGetValue(count, out double e) ? e : cache[count] = error(count);
        double upper = (double)cap / units;
        _ = BrentMinimizer.Minimize(r => Cached(Math.Clamp((int)Math.Round(r * units), 0, cap)),
            0, upper, 0.5 / units, maxEvaluations);
        return cache.MinBy(kv => (kv.Value, kv.Key)).Key;
    }
}
