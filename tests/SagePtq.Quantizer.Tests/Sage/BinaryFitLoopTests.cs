using SagePtq.Quantizer.Methods.Sage;
using SagePtq.Runtime.Packing.Layouts;
using Xunit;

namespace SagePtq.Quantizer.Tests.Sage;

/// <summary>The fit's hot loops against plain loops over (row, column): the same values to the bit.</summary>
public sealed class BinaryFitLoopTests
{
    private const int Rows = 23, Cols = 300;

    private static (float[] W, bool[] Salient, double[] H, double[] Mu) Problem(int seed)
    {
        var rng = new Random(seed);
        var w = SageQuantizerTests.Weights(Rows, Cols, seed);
        var salientColumns = new[] { 3, 130, 299 };
        var salient = new bool[Rows * Cols];
        for (int i = 0; i < Rows; i++) foreach (int j in salientColumns) salient[i * Cols + j] = true;
        var h = Enumerable.Range(0, Cols).Select(_ => 0.5 + rng.NextDouble()).ToArray();
        var mu = Enumerable.Range(0, Rows).Select(_ => 0.002 * (rng.NextDouble() - 0.5)).ToArray();
        return (w, salient, h, mu);
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(3, false)]
    [InlineData(3, true)]
    public void Accumulate_MatchesPlainLoops(int k, bool perWeight)
    {
        var (w, salient, h, mu) = Problem(11);
        var rng = new Random(5);
        var ids = Enumerable.Range(0, perWeight ? Rows * Cols : Cols).Select(_ => (byte)rng.Next(k)).ToArray();
        var fit = new BinaryFit(w, Rows, Cols, salient, new Grouping(k, ids, perWeight, 0.5), h, GroupScaleMode.RowTimesGroup, true);
        var (sumM, sumH, sumS, sumW, rowH) = (new double[Rows * k], new double[Rows * k], new double[Rows * k], new double[Rows], new double[Rows]);
        fit.Accumulate(mu, sumM, sumH, sumS, sumW, rowH);
        var (eM, eH, eS, eW, eR) = (new double[Rows * k], new double[Rows * k], new double[Rows * k], new double[Rows], new double[Rows]);
        for (int i = 0; i < Rows; i++)
            for (int j = 0; j < Cols; j++)
            {
                int t = i * Cols + j;
                if (salient[t]) continue;
                int g = k == 1 ? 0 : ids[perWeight ? t : j];
                double r = w[t] - mu[i];
                eM[i * k + g] += h[j] * Math.Abs(r); eH[i * k + g] += h[j]; eS[i * k + g] += r >= 0 ? h[j] : -h[j];
                eW[i] += h[j] * w[t]; eR[i] += h[j];
            }
        Assert.Equal(eM, sumM); Assert.Equal(eH, sumH); Assert.Equal(eS, sumS); Assert.Equal(eW, sumW); Assert.Equal(eR, rowH);
    }

    [Fact]
    public void ColumnReassign_MatchesTheColumnAtATimeLoop()
    {
        const int k = 4;
        var (w, salient, h, mu) = Problem(12);
        var rng = new Random(6);
        var ids = Enumerable.Range(0, Cols).Select(_ => (byte)rng.Next(k)).ToArray();
        var fit = new BinaryFit(w, Rows, Cols, salient, new Grouping(k, ids, false, 0.5), h, GroupScaleMode.RowTimesGroup, true);
        var a = Enumerable.Range(0, Rows).Select(_ => 0.01 + 0.02 * rng.NextDouble()).ToArray();
        var c = new[] { 0.3, 0.6, 0.8, 1.0 };
        fit.Reassign(mu, a, c, new double[k]);
        for (int j = 0; j < Cols; j++)
        {
            if (salient[j]) { Assert.Equal(ids[j], fit.Groups[j]); continue; }
            var cost = new double[k];
            for (int i = 0; i < Rows; i++)
            {
                double m = Math.Abs(w[i * Cols + j] - mu[i]);
                for (int g = 0; g < k; g++) { double al = a[i] * c[g]; cost[g] += al * (al - 2 * m); }
            }
            int best = 0;
            for (int g = 1; g < k; g++) if (cost[g] < cost[best]) best = g;
            Assert.Equal(best, fit.Groups[j]);
        }
        Assert.Contains(fit.Groups, g => g != fit.Groups[0]);
    }
}
