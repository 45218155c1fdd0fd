using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Quantizer.Methods;

/// <summary>How a group's asymmetric range [xmin, xmax] is chosen before it is cut into 2^b levels.</summary>
public enum GridRange
{
    /// <summary>
    /// GPTQ's <c>quant.py</c> (and SEPTQ's with mse off): xmin = min(0, min w), xmax = max(0, max w),
    /// so 0 is always on the grid; an all-zero group uses [−1, 1]. The default.
    /// </summary>
    MinMaxWithZero,

    /// <summary>
    /// The plain range [min w, max w] (AWQ-style pseudo-quantization); the zero point is clamped to
    /// 0..2^b−1. A constant group falls back to <see cref="MinMaxWithZero"/>.
    /// </summary>
    MinMax,

    /// <summary>
    /// GPTQ's mse option as SEPTQ uses it: the <see cref="MinMaxWithZero"/> range shrunk by p = 1.00,
    /// 0.99, …, 0.21 (80 candidates), keeping the one with the least Σ|Q(w) − w|^2.4.
    /// </summary>
    MseClipped,
}

/// <summary>One group's grid: an FP16 scale (as the pack stores it) and an integer zero point.</summary>
public readonly record struct GroupGrid(Half Scale, int Zero)
{
    /// <summary>The stored scale, as the float every quantizer and decoder computes with.</summary>
    public float ScaleValue => (float)Scale;
}

/// <summary>
/// The uniform asymmetric grid of RTN / GPTQ / SEPTQ: code = clamp(round(w / s) + z, 0, 2^b − 1)
/// (round half to even, as torch.round) and value = s·(code − z). The scale is rounded to FP16
/// when the grid is fitted, and the zero point is computed from that rounded scale, so what is
/// quantized here is exactly what the <c>uniform</c> layout decodes.
/// </summary>
public static class QuantizationGrid
{
    private const float MseNorm = 2.4f;
    private const int MseCandidates = 80;

    /// <summary>Fits one group's grid to <paramref name="values"/>.</summary>
    /// <exception cref="ArgumentException">Empty values or bits outside 2..8.</exception>
    /// <exception cref="InvalidDataException">The values are too large for an FP16 scale.</exception>
    public static GroupGrid Fit(ReadOnlySpan<float> values, int bits, GridRange range)
    {
        CheckBits(bits);
        if (values.IsEmpty) throw new ArgumentException("cannot fit a grid to an empty group", nameof(values));
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (float v in values) { min = MathF.Min(min, v); max = MathF.Max(max, v); }
        int maxCode = (1 << bits) - 1;

        if (range == GridRange.MinMax && max > min) return FromRange(min, max, maxCode);
        float xmin = MathF.Min(0, min), xmax = MathF.Max(0, max);
        if (xmin == 0 && xmax == 0) (xmin, xmax) = (-1, 1);
        if (range != GridRange.MseClipped) return FromRange(xmin, xmax, maxCode);

        var best = FromRange(xmin, xmax, maxCode);
        double bestError = double.PositiveInfinity;
        for (int t = 0; t < MseCandidates; t++)
        {
            float p = 1 - t / 100f;
            var candidate = FromRange(p * xmin, p * xmax, maxCode);
            double error = 0;
            foreach (float v in values) error += MathF.Pow(MathF.Abs(Value(Code(v, candidate, maxCode), candidate) - v), MseNorm);
            if (error < bestError) (best, bestError) = (candidate, error);
        }
        return best;
    }

    /// <summary>The grid code of <paramref name="w"/>.</summary>
    public static int Code(float w, GroupGrid grid, int maxCode) =>
        (int)Math.Clamp(MathF.Round(w / grid.ScaleValue) + grid.Zero, 0f, maxCode);

    /// <summary>The value a code stands for (the layout's expression).</summary>
    public static float Value(int code, GroupGrid grid) => UniformLayout.Dequantize(grid.ScaleValue, code, grid.Zero);

    /// <summary>Throws unless 2 ≤ bits ≤ 8.</summary>
    public static void CheckBits(int bits)
    {
        if (bits is < UniformLayout.MinBits or > UniformLayout.MaxBits)
            throw new ArgumentOutOfRangeException(nameof(bits), bits, $"bits must be {UniformLayout.MinBits}..{UniformLayout.MaxBits}");
    }

    private static GroupGrid FromRange(float xmin, float xmax, int maxCode)
    {
        var scale = (Half)((xmax - xmin) / maxCode);
        if (Half.IsInfinity(scale))
            throw new InvalidDataException($"weights span [{xmin}, {xmax}], too wide for an FP16 scale");
        // A range too small for FP16 gets the smallest positive scale: its weights all round to ~0.
        if (scale == Half.Zero) scale = Half.Epsilon;
        float s = (float)scale;
        int zero = Math.Clamp((int)MathF.Round(-xmin / s), 0, maxCode);
        return new GroupGrid(scale, zero);
    }
}
