using System.Numerics.Tensors;

namespace SagePtq.Runtime.Reference;

/// <summary>
/// The element-wise operations of the forward pass, vectorised with <see cref="TensorPrimitives"/>.
/// Each computes what the <see cref="ReferenceOps"/> method of the same name defines, in FP32.
/// </summary>
internal static class FastOps
{
    /// <summary>y = x / sqrt(mean(x²) + eps) * weight; <paramref name="y"/> may be <paramref name="x"/>.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        float inverseRms = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(x) / x.Length + eps);
        TensorPrimitives.Multiply(x, inverseRms, y);
        TensorPrimitives.Multiply(y, weight, y);
    }

    /// <summary>Softmax in place, shifted by the maximum so that exp cannot overflow.</summary>
    public static void Softmax(Span<float> x)
    {
        TensorPrimitives.Subtract(x, TensorPrimitives.Max(x), x);
        TensorPrimitives.Exp(x, x);
        TensorPrimitives.Divide(x, TensorPrimitives.Sum(x), x);
    }

    /// <summary>gate = silu(gate) · up, in place: the SwiGLU activation.</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        const int Chunk = 256;
        Span<float> sigmoid = stackalloc float[Chunk];
        for (int start = 0; start < gate.Length; start += Chunk)
        {
            var g = gate.Slice(start, Math.Min(Chunk, gate.Length - start));
            var s = sigmoid[..g.Length];
            TensorPrimitives.Sigmoid(g, s);
            TensorPrimitives.Multiply(g, s, g);
            TensorPrimitives.Multiply(g, up.Slice(start, g.Length), g);
        }
    }
}
