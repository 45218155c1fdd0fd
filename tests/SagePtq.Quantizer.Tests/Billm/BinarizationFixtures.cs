using System.Numerics.Tensors;
using SagePtq.Quantizer.Methods;

namespace SagePtq.Quantizer.Tests.Billm;

/// <summary>Seeded random weights and correlated calibration Hessians for the binarization baselines' tests.</summary>
internal static class BinarizationFixtures
{
    /// <summary>Gaussian weights, rows × cols, with a few heavy columns as real LLM weights have.</summary>
    public static float[] Weights(int rows, int cols, int seed)
    {
        var random = new Random(seed);
        var heavy = new HashSet<int>(Enumerable.Range(0, Math.Max(1, cols / 40)).Select(_ => random.Next(cols)));
        var w = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                w[r * cols + c] = (float)(Gaussian(random) * 0.05 * (heavy.Contains(c) ? 6 : 1));
        return w;
    }

    /// <summary>
    /// H = (2 / n) Σ x xᵀ over n samples x = A z with A a random mixing (so inputs are correlated) and
    /// per-channel scales spread over two orders of magnitude.
    /// </summary>
    public static double[] Hessian(int cols, int seed, int samples = 0, double correlation = 1, double scaleSpread = 4)
    {
        var random = new Random(seed);
        samples = samples > 0 ? samples : 2 * cols + 16;
        var scale = Enumerable.Range(0, cols).Select(_ => Math.Exp((random.NextDouble() - 0.5) * scaleSpread)).ToArray();
        // Stored input-major (x[c] is input c over all samples) so each H entry is one contiguous dot product.
        var x = new double[cols * samples];
        var z = new double[cols];
        for (int s = 0; s < samples; s++)
        {
            for (int c = 0; c < cols; c++) z[c] = Gaussian(random);
            for (int c = 0; c < cols; c++)
            {
                // Each input mixes itself with a few neighbours: banded correlation.
                double v = z[c] + correlation * (0.6 * z[(c + 1) % cols] + 0.3 * z[(c + 7) % cols]);
                x[c * samples + s] = v * scale[c];
            }
        }
        var h = new double[cols * cols];
        Parallel.For(0, cols, i =>
        {
            for (int j = 0; j <= i; j++)
            {
                double v = 2 * TensorPrimitives.Dot<double>(x.AsSpan(i * samples, samples), x.AsSpan(j * samples, samples)) / samples;
                h[i * cols + j] = v;
                h[j * cols + i] = v;
            }
        });
        return h;
    }

    public static LinearTarget Target(int rows, int cols, int seed, bool withHessian = true) =>
        new($"test.{rows}x{cols}", rows, cols, Weights(rows, cols, seed), withHessian ? Hessian(cols, seed + 1000) : null, (ulong)seed);

    /// <summary>The output error tr((W − Ŵ) H (W − Ŵ)ᵀ).</summary>
    public static double OutputError(float[] w, float[] q, double[] h, int rows, int cols)
    {
        double total = 0;
        var d = new double[cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++) d[c] = (double)w[r * cols + c] - q[r * cols + c];
            for (int i = 0; i < cols; i++)
            {
                if (d[i] == 0) continue;
                double row = 0;
                for (int j = 0; j < cols; j++) row += h[i * cols + j] * d[j];
                total += d[i] * row;
            }
        }
        return total;
    }

    /// <summary>Plain sign binarization with one scale per row, α = mean |w|: the naive baseline.</summary>
    public static float[] SignBinarized(float[] w, int rows, int cols)
    {
        var q = new float[w.Length];
        for (int r = 0; r < rows; r++)
        {
            double alpha = 0;
            for (int c = 0; c < cols; c++) alpha += Math.Abs(w[r * cols + c]);
            alpha /= cols;
            for (int c = 0; c < cols; c++) q[r * cols + c] = w[r * cols + c] >= 0 ? (float)alpha : -(float)alpha;
        }
        return q;
    }

    public static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    public static void AssertSameBits(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"value {i}: expected {expected[i]:R}, got {actual[i]:R}");
        }
    }
}
