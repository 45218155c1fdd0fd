namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>
/// The grouping ablation (docs/ablation.md): seeded k-means++ straight on the features, with no kNN graph and no
/// spectral embedding, K ∈ {1..Kmax} chosen by the same silhouette rule as <see cref="SpectralClustering"/>, so the
/// two differ only in the graph step.
/// </summary>
public static class PlainClustering
{
    private const int Restarts = 4;

    /// <summary>Clusters <paramref name="points"/> (n × <paramref name="dimension"/>) and chooses K by silhouette.</summary>
    public static Clustering Cluster(ReadOnlySpan<double> points, int dimension, int maxGroups, double minSilhouette, ulong seed)
    {
        int n = points.Length / dimension;
        var pts = points.ToArray();
        if (n < 3 || maxGroups < 2) return SpectralClustering.Single(pts, dimension, n);
        int kmax = Math.Min(maxGroups, n - 1);
        Clustering best = SpectralClustering.Single(pts, dimension, n);
        double bestScore = double.NegativeInfinity;
        for (int k = 2; k <= kmax; k++)
        {
            var labels = KMeans.Cluster(pts, dimension, k, Restarts, seed + (ulong)k).Labels;
            int used = labels.Distinct().Count();
            if (used < 2) continue;
            labels = SpectralClustering.Compact(labels);
            double score = SpectralClustering.Silhouette(pts, dimension, labels, used);
            if (score > bestScore + 1e-12)
            {
                bestScore = score;
                best = new Clustering(used, labels, SpectralClustering.Centroids(pts, dimension, labels, used), score);
            }
        }
        return bestScore >= minSilhouette ? best : SpectralClustering.Single(pts, dimension, n);
    }
}
