using System.Runtime.Intrinsics;
using SagePtq.Runtime.Reference;

namespace SagePtq.Runtime.Tests.Reference;

/// <summary>The blocked SIMD GEMM against <see cref="ReferenceOps.MatVec"/>, row by row.</summary>
public sealed class GemmTests
{
    /// <summary>M × N × K: decode (M = 1), edges that are not multiples of 4 or of any vector width, several tiles.</summary>
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 }, { 1, 4, 16 }, { 1, 7, 33 }, { 3, 5, 7 }, { 4, 4, 64 }, { 5, 9, 17 },
        { 17, 13, 100 }, { 64, 64, 64 }, { 65, 130, 31 }, { 130, 67, 129 }, { 2, 300, 8 }, { 7, 3, 0 },
    };

    [Theory, MemberData(nameof(Shapes))]
    public void Matches_naive_matvec_with_every_supported_vector_width(int m, int n, int k)
    {
        var (a, b) = (Random(m * k, seed: m), Random(n * k, seed: n + 1000));
        var expected = Naive(a, b, m, n, k);

        AssertClose(expected, Run(Gemm.MultiplyTransposedSerial<Lanes128, Vector128<float>>));
        if (Lanes256.IsSupported) AssertClose(expected, Run(Gemm.MultiplyTransposedSerial<Lanes256, Vector256<float>>));
        if (Lanes512.IsSupported) AssertClose(expected, Run(Gemm.MultiplyTransposedSerial<Lanes512, Vector512<float>>));
        AssertClose(expected, Run(Gemm.MultiplyTransposed));

        float[] Run(Action<MatrixView, MatrixView, MatrixView> gemm)
        {
            var c = new float[m * n];
            gemm(MatrixView.Dense(a, m, k), MatrixView.Dense(b, n, k), MatrixView.Dense(c, m, n));
            return c;
        }
    }

    [Fact]
    public void Reads_and_writes_strided_views_without_touching_the_rest() => AssertStridedViews(Gemm.MultiplyTransposed, m: 5, n: 6);

    /// <summary>
    /// An m × 6 window at column 3 of a 9-wide A, rows 2.. of a 10-wide B, C inside a wider matrix: the product
    /// reads only the windows and writes exactly the m × n cells of C (shared by every GEMM's tests).
    /// </summary>
    internal static void AssertStridedViews(Action<MatrixView, MatrixView, MatrixView> gemm, int m, int n)
    {
        const int k = 6;
        int cStride = n + 12;
        var aData = Random((m + 1) * 9, seed: 1);
        var bData = Random((n + 3) * 10, seed: 2);
        var cData = new float[(m + 2) * cStride];
        Array.Fill(cData, 42f);
        var a = new MatrixView(aData, 3, m, k, 9);
        var b = new MatrixView(bData, 2 * 10, n, k, 10);
        var c = new MatrixView(cData, cStride + 2, m, n, cStride);

        gemm(a, b, c);

        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double dot = 0;
            for (int p = 0; p < k; p++) dot += (double)a[i, p] * b[j, p];
            Assert.Equal(dot, c[i, j], 1e-4);
        }
        int written = 0;
        foreach (float v in cData) if (v != 42f) written++;
        Assert.Equal(m * n, written);
    }

    [Fact]
    public void Rejects_shapes_that_do_not_fit()
    {
        var data = new float[64];
        Assert.Throws<ArgumentException>(() => Gemm.MultiplyTransposed(MatrixView.Dense(data, 2, 3), MatrixView.Dense(data, 2, 4), MatrixView.Dense(data, 2, 2)));
        Assert.Throws<ArgumentException>(() => new MatrixView(data, 60, 2, 3, 3));
    }

    private static float[] Naive(float[] a, float[] b, int m, int n, int k)
    {
        var c = new float[m * n];
        for (int i = 0; i < m; i++) ReferenceOps.MatVec(b, a.AsSpan(i * k, k), c.AsSpan(i * n, n));
        return c;
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f * (1 + Math.Abs(expected[i])), $"element {i}: {actual[i]} vs {expected[i]}");
    }

    internal static float[] Random(int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }
}
