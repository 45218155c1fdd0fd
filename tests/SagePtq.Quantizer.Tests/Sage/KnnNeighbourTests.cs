using SagePtq.Quantizer.Methods.Sage;
using Xunit;

namespace SagePtq.Quantizer.Tests.Sage;

public sealed class KnnNeighbourTests
{
    [Theory]
    [InlineData(1, 200, 10)]
    [InlineData(3, 120, 7)]
    [InlineData(1, 6, 5)]
    public void OnePassSelection_MatchesTheFullSort_OnDistinctDistances(int dimension, int n, int k)
    {
        var rng = new Random(n + dimension);
        var pts = Enumerable.Range(0, n * dimension).Select(_ => rng.NextDouble()).ToArray();
        for (int i = 0; i < n; i++)
        {
            var (fastD, fastJ) = (new double[k + 1], new int[k + 1]);
            var (sortD, sortJ) = (new double[k + 1], new int[k + 1]);
            Assert.True(KnnGraph.Nearest(pts, dimension, n, i, k, fastD, fastJ));
            KnnGraph.SortedNeighbours(pts, dimension, n, i, k, sortD, sortJ);
            Assert.Equal(sortJ[..k], fastJ[..k]);
            Assert.Equal(sortD[..k], fastD[..k]);
            // Oracle: the k smallest distances by a plain LINQ ordering.
            var oracle = Enumerable.Range(0, n).Where(j => j != i)
                .OrderBy(j => Enumerable.Range(0, dimension).Sum(c => Math.Pow(pts[i * dimension + c] - pts[j * dimension + c], 2)))
                .Take(k).ToArray();
            Assert.Equal(oracle, fastJ[..k]);
        }
    }

    [Fact]
    public void OnePassSelection_DefersTiesToTheFullSort()
    {
        // Integer points on a line: every inner point has two neighbours at each distance.
        int n = 30, k = 4;
        var pts = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        Assert.False(KnnGraph.Nearest(pts, 1, n, 10, k, new double[k + 1], new int[k + 1]));
        // A graph of such points still builds, through the fallback, and joins each point to its neighbours.
        var graph = KnnGraph.Build(pts, 1, k);
        for (int i = 1; i < n - 1; i++) Assert.True(graph.Affinity(i, i - 1) > 0 && graph.Affinity(i, i + 1) > 0);
    }
}
