using SagePtq.Quantizer.Methods.Billm;

namespace SagePtq.Quantizer.Tests.Billm;

public sealed class HessianFactorTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(130)]
    public void Upper_inverse_factor_matches_the_naive_route(int n)
    {
        var h = BinarizationFixtures.Hessian(n, seed: n);
        for (int i = 0; i < n; i++) h[i * n + i] += 0.01;
        var fast = HessianFactor.PrepareUpperInverseFactor(h, n, new float[n], 1, 0, "t");

        // Naive oracle: chol(H) → H⁻¹ by Gauss–Jordan → the upper factor of H⁻¹ by a plain Cholesky–Banachiewicz.
        var inverse = NaiveInverse(h, n);
        var upper = NaiveUpperCholesky(inverse, n);
        double largest = upper.Max(Math.Abs);
        for (int i = 0; i < n * n; i++) Assert.True(Math.Abs(upper[i] - fast[i]) <= 1e-5 * largest, $"entry {i}: {upper[i]} vs {fast[i]}");
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++) Assert.Equal(0f, fast[i * n + j]);
    }

    [Fact]
    public void Not_positive_definite_is_reported()
    {
        double[] a = [1, 100, 100, 1];
        var e = Assert.Throws<ArgumentException>(() => HessianFactor.PrepareUpperInverseFactor(a, 2, new float[2], 1, 0.01, "t"));
        Assert.StartsWith("t: ", e.Message);
    }

    [Fact]
    public void Dead_inputs_zero_their_weights()
    {
        double[] h = [2, 0.5, 0, 0.5, 1, 0, 0, 0, 0];
        float[] w = [1, 2, 3, 4, 5, 6];
        var u = HessianFactor.PrepareUpperInverseFactor(h, 3, w, 2, 0.01, "t");
        Assert.Equal(new float[] { 1, 2, 0, 4, 5, 0 }, w);
        Assert.True(u[8] > 0);
    }

    private static double[] NaiveInverse(double[] a, int n)
    {
        var m = new double[n, 2 * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++) m[i, j] = a[i * n + j];
            m[i, n + i] = 1;
        }
        for (int c = 0; c < n; c++)
        {
            int pivot = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(m[r, c]) > Math.Abs(m[pivot, c])) pivot = r;
            for (int j = 0; j < 2 * n; j++) (m[c, j], m[pivot, j]) = (m[pivot, j], m[c, j]);
            double p = m[c, c];
            for (int j = 0; j < 2 * n; j++) m[c, j] /= p;
            for (int r = 0; r < n; r++)
            {
                if (r == c) continue;
                double f = m[r, c];
                for (int j = 0; j < 2 * n; j++) m[r, j] -= f * m[c, j];
            }
        }
        var inverse = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) inverse[i * n + j] = m[i, n + j];
        return inverse;
    }

    /// <summary>U upper with UᵀU = A, row by row: U_ii = sqrt(A_ii − Σ_k&lt;i U_ki²), U_ij = (A_ij − Σ_k&lt;i U_ki U_kj) / U_ii.</summary>
    private static double[] NaiveUpperCholesky(double[] a, int n)
    {
        var u = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            double s = a[i * n + i];
            for (int k = 0; k < i; k++) s -= u[k * n + i] * u[k * n + i];
            u[i * n + i] = Math.Sqrt(s);
            for (int j = i + 1; j < n; j++)
            {
                double t = a[i * n + j];
                for (int k = 0; k < i; k++) t -= u[k * n + i] * u[k * n + j];
                u[i * n + j] = t / u[i * n + i];
            }
        }
        return u;
    }
}
