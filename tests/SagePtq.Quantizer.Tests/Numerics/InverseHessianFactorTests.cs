using SagePtq.Quantizer.Numerics;
using static SagePtq.Quantizer.Tests.Numerics.NaiveLinearAlgebra;

namespace SagePtq.Quantizer.Tests.Numerics;

public sealed class InverseHessianFactorTests
{
    /// <summary>upper chol((H + λI)⁻¹) by the naive route, λ = percdamp · mean diag.</summary>
    private static double[] NaiveUpper(double[] h, int n, double percentDamp)
    {
        double lambda = percentDamp * Enumerable.Range(0, n).Average(i => h[i * n + i]);
        var damped = (double[])h.Clone();
        for (int i = 0; i < n; i++) damped[i * n + i] += lambda;
        var l = CholeskyLower(Inverse(damped, n), n);
        var u = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) u[i * n + j] = l[j * n + i];
        return u;
    }

    [Theory]
    [InlineData(4)]
    [InlineData(37)]
    [InlineData(140)]
    public void Matches_the_naive_factor_of_the_damped_inverse(int n)
    {
        var h = RandomSpd(n, seed: n);
        var factor = InverseHessianFactor.Compute(h, n);
        AssertClose(NaiveUpper(h, n, 0.01), factor.Upper, 1e-9);
        Assert.Null(factor.Permutation);
        Assert.Empty(factor.DeadColumns);
        Assert.Equal(0.01 * Enumerable.Range(0, n).Average(i => h[i * n + i]), factor.Damping, 12);
    }

    [Fact]
    public void Act_order_sorts_by_descending_diagonal_and_factors_the_permuted_matrix()
    {
        const int n = 12;
        var h = RandomSpd(n, seed: 3);
        var factor = InverseHessianFactor.Compute(h, n, actOrder: true);
        var order = factor.Permutation!;
        Assert.Equal(Enumerable.Range(0, n), order.Order());
        for (int k = 1; k < n; k++) Assert.True(h[order[k - 1] * n + order[k - 1]] >= h[order[k] * n + order[k]]);

        var permuted = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) permuted[i * n + j] = h[order[i] * n + order[j]];
        AssertClose(NaiveUpper(permuted, n, 0.01), factor.Upper, 1e-9);
    }

    [Fact]
    public void Dead_columns_are_reported_and_given_a_unit_diagonal()
    {
        const int n = 6;
        var h = RandomSpd(n, seed: 4);
        foreach (int dead in new[] { 1, 4 })
            for (int k = 0; k < n; k++) h[dead * n + k] = h[k * n + dead] = 0;
        var factor = InverseHessianFactor.Compute(h, n);
        Assert.Equal([1, 4], factor.DeadColumns);

        var fixedH = (double[])h.Clone();
        fixedH[1 * n + 1] = fixedH[4 * n + 4] = 1;
        AssertClose(NaiveUpper(fixedH, n, 0.01), factor.Upper, 1e-9);
    }

    [Fact]
    public void Retries_with_more_damping_before_giving_up()
    {
        // Eigenvalues −2 and 4: 0.01, 0.1 and 1 × mean diagonal are too little, 10 × is enough.
        var factor = InverseHessianFactor.Compute([1, 3, 3, 1], 2);
        Assert.Equal(10.0, factor.Damping, 9);
        // Eigenvalue −99: beyond 10 × mean diagonal.
        var e = Assert.Throws<NotPositiveDefiniteException>(() => InverseHessianFactor.Compute([1, 100, 100, 1], 2));
        Assert.Contains("not positive definite", e.Message);
    }

    [Fact]
    public void Bad_input_is_refused()
    {
        Assert.Throws<ArgumentException>(() => InverseHessianFactor.Compute(new double[5], 2));
        Assert.Throws<ArgumentException>(() => InverseHessianFactor.Compute([1, 0, 0, 1], 2, percentDamp: -0.01));
        Assert.Throws<InvalidDataException>(() => InverseHessianFactor.Compute([1, double.NaN, 0, 1], 2));
        Assert.Throws<InvalidDataException>(() => InverseHessianFactor.Compute([-1, 0, 0, 1], 2));
    }
}
