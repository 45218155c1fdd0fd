using SagePtq.Quantizer.Numerics;
using static SagePtq.Quantizer.Tests.Numerics.NaiveLinearAlgebra;

namespace SagePtq.Quantizer.Tests.Numerics;

public sealed class CholeskyTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(33)]
    [InlineData(150)]   // large enough for the parallel path
    public void Factor_matches_the_naive_factor(int n)
    {
        var a = RandomSpd(n, seed: n);
        var l = (double[])a.Clone();
        Assert.True(Cholesky.TryFactorLower(l, n));
        AssertClose(CholeskyLower(a, n), l, 1e-12);
    }

    /// <summary>The column-blocked schedule computes every entry with the same operations as column-at-a-time: same bits.</summary>
    [Theory]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(200)]   // several blocks, parallel passes below them
    public void Factor_has_the_bits_of_the_column_at_a_time_order(int n)
    {
        var a = RandomSpd(n, seed: 3 * n);
        var expected = (double[])a.Clone();
        for (int j = 0; j < n; j++)
        {
            var rowJ = expected.AsSpan(j * n, j);
            expected[j * n + j] = Math.Sqrt(expected[j * n + j] - System.Numerics.Tensors.TensorPrimitives.Dot<double>(rowJ, rowJ));
            for (int i = j + 1; i < n; i++)
                expected[i * n + j] = (expected[i * n + j] - System.Numerics.Tensors.TensorPrimitives.Dot<double>(expected.AsSpan(i * n, j), expected.AsSpan(j * n, j)))
                                      / expected[j * n + j];
        }
        for (int i = 0; i < n; i++) expected.AsSpan(i * n + i + 1, n - i - 1).Clear();

        var l = (double[])a.Clone();
        Assert.True(Cholesky.TryFactorLower(l, n));
        Assert.Equal(expected, l);
    }

    [Fact]
    public void A_matrix_that_fails_past_the_first_block_is_refused()
    {
        const int n = 100;
        var a = RandomSpd(n, seed: 4);
        a[80 * n + 80] = -1;   // the pivot of column 80 goes negative
        Assert.False(Cholesky.TryFactorLower(a, n));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(6)]
    [InlineData(150)]
    public void Inverse_matches_gauss_jordan(int n)
    {
        var a = RandomSpd(n, seed: 10 + n);
        var l = (double[])a.Clone();
        Assert.True(Cholesky.TryFactorLower(l, n));
        AssertClose(Inverse(a, n), Cholesky.InverseFromLower(l, n), 1e-10);
    }

    [Fact]
    public void Indefinite_and_malformed_matrices_are_refused()
    {
        Assert.False(Cholesky.TryFactorLower([1, 2, 2, 1], 2));
        Assert.False(Cholesky.TryFactorLower([0, 0, 0, 1], 2));
        Assert.Throws<ArgumentException>(() => Cholesky.TryFactorLower(new double[5], 2));
        Assert.Throws<ArgumentException>(() => Cholesky.InverseFromLower(new double[3], 2));
    }
}
