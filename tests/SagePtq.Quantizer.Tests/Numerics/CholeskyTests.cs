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
