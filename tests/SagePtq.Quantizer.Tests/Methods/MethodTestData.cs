using SagePtq.Quantizer.Methods;
using SagePtq.Runtime.Packing.Layouts;
using static SagePtq.Quantizer.Tests.Numerics.NaiveLinearAlgebra;

namespace SagePtq.Quantizer.Tests.Methods;

/// <summary>Seeded targets and the output-error measure for the method tests.</summary>
internal static class MethodTestData
{
    public static double[] Identity(int n)
    {
        var h = new double[n * n];
        for (int i = 0; i < n; i++) h[i * n + i] = 1;
        return h;
    }

    /// <summary>A target whose Hessian comes from correlated inputs (the case GPTQ is built for).</summary>
    public static LinearTarget Correlated(int rows, int cols, int seed, string name = "test.weight")
    {
        int samples = 4 * cols;
        var h = Hessian(CorrelatedInputs(samples, cols, seed), samples, cols);
        return new LinearTarget(name, rows, cols, RandomFloats(rows * cols, seed + 7, 0.05f), h, (ulong)seed);
    }

    /// <summary>Output error tr((W − Ŵ) H (W − Ŵ)ᵀ).</summary>
    public static double OutputError(LinearTarget target, float[] dequantized)
    {
        int rows = target.Rows, cols = target.Cols;
        var h = target.Hessian!;
        double total = 0;
        var d = new double[cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++) d[c] = target.Weight[r * cols + c] - dequantized[r * cols + c];
            for (int i = 0; i < cols; i++)
            {
                double sum = 0;
                for (int j = 0; j < cols; j++) sum += h[i * cols + j] * d[j];
                total += d[i] * sum;
            }
        }
        return total;
    }

    /// <summary>The payload decoded by the layout equals the method's dense result, bit for bit.</summary>
    public static void AssertDecodesExactly(QuantizedLinear result)
    {
        var decoded = new float[result.Dequantized.Length];
        new UniformLayout().Decode(result.Payload, decoded);
        for (int k = 0; k < decoded.Length; k++)
            Assert.True(BitConverter.SingleToInt32Bits(decoded[k]) == BitConverter.SingleToInt32Bits(result.Dequantized[k]),
                $"[{k}]: decoded {decoded[k]}, quantizer {result.Dequantized[k]}");
    }
}
