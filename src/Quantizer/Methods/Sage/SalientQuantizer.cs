namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>
/// The multi-bit half of the dual-mode quantizer (DESIGN.md §5.3): a row's salient weights get b-bit
/// symmetric codes c − 2^(b−1) ∈ [−2^(b−1), 2^(b−1) − 1] times one FP16 scale per row, the scale chosen
/// from a grid of shrunk max-abs scales by least (weighted) squared error.
/// </summary>
internal static class SalientQuantizer
{
    private static readonly double[] Shrink = [1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5];

    /// <summary>The FP16-exact scale of one row's salient values <paramref name="values"/> with weights <paramref name="h"/>.</summary>
    public static float FitScale(ReadOnlySpan<float> values, ReadOnlySpan<double> h, int bits)
    {
        int half = 1 << (bits - 1);
        float maxAbs = 0;
        foreach (float v in values) maxAbs = Math.Max(maxAbs, Math.Abs(v));
        if (maxAbs == 0) return 0f;
        float best = 0; double bestErr = double.PositiveInfinity;
        foreach (double f in Shrink)
        {
            float s = (float)(Half)(f * maxAbs / (half - 1));
            if (s <= 0 || float.IsInfinity(s)) continue;
            double err = 0;
            for (int t = 0; t < values.Length; t++)
            {
                double d = values[t] - Value(s, Code(values[t], s, bits), bits);
                err += h[t] * d * d;
            }
            if (err < bestErr) { bestErr = err; best = s; }
        }
        return best;
    }

    /// <summary>Unsigned stored code of <paramref name="w"/> at scale <paramref name="scale"/>.</summary>
    public static byte Code(float w, float scale, int bits)
    {
        int half = 1 << (bits - 1);
        if (scale == 0) return (byte)half;
        int q = (int)Math.Clamp(Math.Round(w / scale, MidpointRounding.ToEven), -half, half - 1);
        return (byte)(q + half);
    }

    /// <summary>The decoded value of a code, exactly as the layout decodes it.</summary>
    public static float Value(float scale, byte code, int bits) => scale * (code - (1 << (bits - 1)));
}
