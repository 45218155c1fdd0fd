namespace SagePtq.Runtime.Reference;

/// <summary>
/// The forward pass's operations written in the most obvious way: plain loops, sums in double,
/// angles computed from scratch. Nothing calls these on the hot path; they are the oracle the
/// fast versions (<see cref="Gemm"/>, <see cref="FastOps"/>, <see cref="RotaryEmbedding"/>) are
/// tested against, and the definition to read when in doubt.
/// </summary>
public static class ReferenceOps
{
    /// <summary>y = W · x for a row-major W of shape [y.Length × x.Length] (<c>F.linear(x, W)</c>).</summary>
    public static void MatVec(ReadOnlySpan<float> weight, ReadOnlySpan<float> x, Span<float> y)
    {
        if (weight.Length != y.Length * x.Length)
            throw new ArgumentException($"weight has {weight.Length} elements, not {y.Length} × {x.Length}", nameof(weight));
        for (int row = 0; row < y.Length; row++)
        {
            double sum = 0;
            for (int col = 0; col < x.Length; col++) sum += (double)weight[row * x.Length + col] * x[col];
            y[row] = (float)sum;
        }
    }

    /// <summary>y = x / sqrt(mean(x²) + eps) * weight (<c>LlamaRMSNorm</c>).</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        double sumOfSquares = 0;
        foreach (float v in x) sumOfSquares += (double)v * v;
        double inverseRms = 1.0 / Math.Sqrt(sumOfSquares / x.Length + eps);
        for (int i = 0; i < x.Length; i++) y[i] = (float)(x[i] * inverseRms * weight[i]);
    }

    /// <summary>
    /// Rotates one head vector in place for position <paramref name="position"/>, in the Hugging Face
    /// "rotate half" layout: element i is paired with element i + d/2 and turned by the angle
    /// position · theta^(−2i/d) (<c>q * cos + rotate_half(q) * sin</c>).
    /// </summary>
    public static void Rope(Span<float> head, int position, double theta)
    {
        int half = head.Length / 2;
        for (int i = 0; i < half; i++)
        {
            double angle = position * Math.Pow(theta, -2.0 * i / head.Length);
            double x1 = head[i], x2 = head[i + half];
            head[i] = (float)(x1 * Math.Cos(angle) - x2 * Math.Sin(angle));
            head[i + half] = (float)(x2 * Math.Cos(angle) + x1 * Math.Sin(angle));
        }
    }

    /// <summary>x = exp(x − max) / Σ exp(x − max), in place (<c>torch.softmax</c>).</summary>
    public static void Softmax(Span<float> x)
    {
        double max = double.NegativeInfinity;
        foreach (float v in x) max = Math.Max(max, v);
        double sum = 0;
        foreach (float v in x) sum += Math.Exp(v - max);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(Math.Exp(x[i] - max) / sum);
    }

    /// <summary>silu(x) = x · sigmoid(x) = x / (1 + e^−x) (<c>F.silu</c>).</summary>
    public static float SiLU(float x) => (float)(x / (1.0 + Math.Exp(-x)));
}
