using SagePtq.Quantizer.Methods.Sage;
using Xunit;

namespace SagePtq.Quantizer.Tests.Sage;

public sealed class SageNumericsTests
{
    [Fact]
    public void Brent_FindsParabolaMinimum()
    {
        var r = BrentMinimizer.Minimize(x => (x - 0.3) * (x - 0.3) + 2, 0, 1, 1e-8, 50);
        Assert.Equal(0.3, r.X, 6);
        Assert.Equal(2, r.Value, 10);
    }

    [Fact]
    public void Brent_FindsKnownMinimumOfNonQuadratic()
    {
        // x·e^x on [-3, 1] has its minimum at x = −1, value −1/e.
        var r = BrentMinimizer.Minimize(x => x * Math.Exp(x), -3, 1, 1e-8, 60);
        Assert.Equal(-1, r.X, 5);
        Assert.Equal(-1 / Math.E, r.Value, 9);
    }

    [Fact]
    public void Brent_MinimumOnTheBoundIsFound_AndEvaluationsAreBounded()
    {
        int calls = 0;
        var r = BrentMinimizer.Minimize(x => { calls++; return -x; }, 0, 2, 1e-6, 12);
        Assert.Equal(2, r.X);
        Assert.True(calls <= 12);
    }

    [Fact]
    public void Jacobi_PathLaplacianHasKnownEigenvalues()
    {
        // Path graph on n nodes: Laplacian eigenvalues 2 − 2cos(kπ/n), k = 0..n−1.
        int n = 7;
        var l = new double[n * n];
        for (int i = 0; i < n - 1; i++) { l[i * n + i + 1] = l[(i + 1) * n + i] = -1; l[i * n + i]++; l[(i + 1) * n + i + 1]++; }
        var e = SymmetricEigen.Jacobi(l, n);
        for (int k = 0; k < n; k++) Assert.Equal(2 - 2 * Math.Cos(k * Math.PI / n), e.Values[k], 10);
        for (int k = 0; k < n; k++) AssertEigenvector(l, n, e.Values[k], e.Vectors[k]);
    }

    [Fact]
    public void Lanczos_MatchesDenseJacobiOnRandomSparseSymmetric()
    {
        int n = 120;
        var rng = new Random(5);
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            a[i * n + i] = rng.NextDouble() * 4;
            for (int t = 0; t < 3; t++) { int j = rng.Next(n); double v = rng.NextDouble() - 0.5; a[i * n + j] += v; a[j * n + i] += v; }
        }
        var dense = SymmetricEigen.Jacobi(a, n);
        var lanczos = SymmetricEigen.LanczosSmallest((x, y) =>
        {
            for (int i = 0; i < n; i++) { double s = 0; for (int j = 0; j < n; j++) s += a[i * n + j] * x[j]; y[i] = s; }
        }, n, 4, 42, steps: n);
        for (int k = 0; k < 4; k++)
        {
            Assert.Equal(dense.Values[k], lanczos.Values[k], 8);
            AssertEigenvector(a, n, lanczos.Values[k], lanczos.Vectors[k]);
        }
    }

    [Fact]
    public void Lanczos_FindsRepeatedZeroEigenvalueOfDisconnectedGraph()
    {
        // Two disjoint triangles: Laplacian eigenvalue 0 twice.
        int n = 6;
        var l = new double[n * n];
        void Edge(int i, int j) { l[i * n + j] -= 1; l[j * n + i] -= 1; l[i * n + i] += 1; l[j * n + j] += 1; }
        Edge(0, 1); Edge(1, 2); Edge(0, 2); Edge(3, 4); Edge(4, 5); Edge(3, 5);
        var e = SymmetricEigen.LanczosSmallest((x, y) =>
        {
            for (int i = 0; i < n; i++) { double s = 0; for (int j = 0; j < n; j++) s += l[i * n + j] * x[j]; y[i] = s; }
        }, n, 3, 1);
        Assert.Equal(0, e.Values[0], 9);
        Assert.Equal(0, e.Values[1], 9);
        Assert.Equal(3, e.Values[2], 9);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void SpectralClustering_SeparatesObviousClusters_AndSilhouettePicksTheirCount(int clusters)
    {
        var rng = new Random(clusters);
        var pts = new double[clusters * 60];
        for (int i = 0; i < pts.Length; i++) pts[i] = (i % clusters) * 10 + rng.NextDouble();
        var c = SpectralClustering.Cluster(pts, 1, 4, 8, 0.25, 7);
        Assert.Equal(clusters, c.K);
        // Every true cluster maps to one label.
        for (int t = 0; t < clusters; t++)
            Assert.Single(Enumerable.Range(0, pts.Length).Where(i => i % clusters == t).Select(i => c.Labels[i]).Distinct());
    }

    [Fact]
    public void Silhouette_MatchesHandComputedValue()
    {
        // Points 0, 1 | 10: a(0)=1, b(0)=10 → 0.9; a(1)=1, b(1)=9 → 8/9; singleton → 0.
        double s = SpectralClustering.Silhouette([0, 1, 10], 1, [0, 0, 1], 2);
        Assert.Equal((0.9 + 8.0 / 9 + 0) / 3, s, 12);
    }

    private static void AssertEigenvector(double[] a, int n, double value, double[] v)
    {
        for (int i = 0; i < n; i++)
        {
            double s = 0;
            for (int j = 0; j < n; j++) s += a[i * n + j] * v[j];
            Assert.Equal(value * v[i], s, 7);
        }
    }
}
