using SagePtq.Runtime.Reference;

namespace SagePtq.Runtime.Tests.Reference;

/// <summary>The packed AVX2 GEMM against <see cref="ReferenceOps.MatVec"/>, row by row (skipped on CPUs without AVX2/FMA).</summary>
public sealed class PackedGemmTests
{
    /// <summary>M × N × K: edges that are not multiples of 6 rows or 16 columns, several work items, K = 1 and K = 0.</summary>
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 }, { 6, 16, 8 }, { 5, 15, 3 }, { 7, 17, 33 }, { 12, 32, 64 }, { 95, 63, 1 },
        { 97, 65, 100 }, { 193, 130, 70 }, { 200, 257, 31 }, { 7, 3, 0 },
    };

    [Theory, MemberData(nameof(Shapes))]
    public void Matches_naive_matvec_serial_and_parallel(int m, int n, int k)
    {
        if (!PackedGemm.IsSupported) return;
        var (a, b) = (GemmTests.Random(m * k, seed: m), GemmTests.Random(n * k, seed: n + 1000));
        var expected = new float[m * n];
        for (int i = 0; i < m; i++) ReferenceOps.MatVec(b, a.AsSpan(i * k, k), expected.AsSpan(i * n, n));

        foreach (var gemm in new Action<MatrixView, MatrixView, MatrixView>[] { PackedGemm.MultiplyTransposed, PackedGemm.MultiplyTransposedSerial })
        {
            var c = new float[m * n];
            Array.Fill(c, float.NaN);   // every element must be written
            gemm(MatrixView.Dense(a, m, k), MatrixView.Dense(b, n, k), MatrixView.Dense(c, m, n));
            for (int i = 0; i < c.Length; i++)
                Assert.True(Math.Abs(expected[i] - c[i]) <= 1e-5f * (1 + Math.Abs(expected[i])), $"element {i}: {c[i]} vs {expected[i]}");
        }
    }

    [Fact]
    public void Serial_and_parallel_give_the_same_bits()
    {
        if (!PackedGemm.IsSupported) return;
        const int m = 301, n = 190, k = 77;
        var (a, b) = (GemmTests.Random(m * k, seed: 5), GemmTests.Random(n * k, seed: 6));
        var serial = new float[m * n];
        var parallel = new float[m * n];
        PackedGemm.MultiplyTransposedSerial(MatrixView.Dense(a, m, k), MatrixView.Dense(b, n, k), MatrixView.Dense(serial, m, n));
        PackedGemm.MultiplyTransposed(MatrixView.Dense(a, m, k), MatrixView.Dense(b, n, k), MatrixView.Dense(parallel, m, n));
        Assert.Equal(serial, parallel);
    }

    [Fact]
    public void Reads_and_writes_strided_views_without_touching_the_rest()
    {
        if (!PackedGemm.IsSupported) return;
        GemmTests.AssertStridedViews(PackedGemm.MultiplyTransposed, m: 20, n: 18);
    }

    [Fact]
    public void Rejects_shapes_that_do_not_fit()
    {
        var data = new float[64];
        Assert.Throws<ArgumentException>(() => PackedGemm.MultiplyTransposed(MatrixView.Dense(data, 2, 3), MatrixView.Dense(data, 2, 4), MatrixView.Dense(data, 2, 2)));
    }
}
