namespace SagePtq.Quantizer.Methods.Billm;

/// <summary>
/// BiLLM's row-wise binarizer of one region (the values of one row that fall in it), of order 1 or 2:
/// each order fits the residual left by the previous ones with a shift μ = mean(r) and a scale
/// α = mean |r − μ|, and adds α·sgn(r − μ) + μ. Order 2 is the paper's "residual approximation" of
/// salient weights. sgn(0) is +1 (the paper's eq. 2) so that one bit holds every sign; BiLLM's code
/// uses torch.sign (0 for 0), which differs only where a value equals its mean exactly.
/// </summary>
internal static class ResidualBinarizer
{
    /// <summary>The fitted parameters of one region: a sign plane per order, scales, and the merged shift μ₁ + μ₂.</summary>
    public readonly record struct Fit(double Alpha1, double Alpha2, double Mean);

    /// <summary>Σ (v − R_order(v))² over <paramref name="values"/>, unrounded: the error the searches minimise.</summary>
    public static double SquaredError(ReadOnlySpan<float> values, int order)
    {
        if (values.IsEmpty) return 0;
        Span<double> residual = values.Length <= 1024 ? stackalloc double[values.Length] : new double[values.Length];
        for (int i = 0; i < values.Length; i++) residual[i] = values[i];
        for (int o = 0; o < order; o++) SubtractOneOrder(residual);
        double sum = 0;
        foreach (double r in residual) sum += r * r;
        return sum;
    }

    /// <summary>
    /// Fits <paramref name="values"/> with <paramref name="order"/> (1 or 2) orders and writes the sign of each
    /// order (true = +1) to <paramref name="positive1"/> and, for order 2, <paramref name="positive2"/>.
    /// An empty region fits to zeros.
    /// </summary>
    public static Fit FitRegion(ReadOnlySpan<float> values, int order, Span<bool> positive1, Span<bool> positive2)
    {
        if (values.IsEmpty) return default;
        Span<double> residual = values.Length <= 1024 ? stackalloc double[values.Length] : new double[values.Length];
        for (int i = 0; i < values.Length; i++) residual[i] = values[i];
        var (mean1, alpha1) = Statistics(residual);
        for (int i = 0; i < residual.Length; i++)
        {
            bool positive = residual[i] >= mean1;
            positive1[i] = positive;
            residual[i] -= mean1 + (positive ? alpha1 : -alpha1);
        }
        if (order == 1) return new Fit(alpha1, 0, mean1);
        var (mean2, alpha2) = Statistics(residual);
        for (int i = 0; i < residual.Length; i++) positive2[i] = residual[i] >= mean2;
        return new Fit(alpha1, alpha2, mean1 + mean2);
    }

    private static void SubtractOneOrder(Span<double> residual)
    {
        var (mean, alpha) = Statistics(residual);
        for (int i = 0; i < residual.Length; i++)
            residual[i] -= mean + (residual[i] >= mean ? alpha : -alpha);
    }

    private static (double Mean, double Alpha) Statistics(ReadOnlySpan<double> values)
    {
        double sum = 0;
        foreach (double v in values) sum += v;
        double mean = sum / values.Length;
        double deviation = 0;
        foreach (double v in values) deviation += Math.Abs(v - mean);
        return (mean, deviation / values.Length);
    }
}
