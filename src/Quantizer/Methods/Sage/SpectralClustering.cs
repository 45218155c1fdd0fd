namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>The chosen clustering of a sample: its K, labels, centroids in feature space and silhouette score (NaN for K = 1).</summary>
public sealed record Clustering(int K, int[] Labels, double[] Centroids, double Silhouette);

/// <summary>
/// Spectral clustering of a point sample (DESIGN.md §5.2): kNN graph, the smallest eigenvectors of the
/// normalised Laplacian I − D^{-1/2} A D^{-1/2} (Lanczos), row-normalised embedding, seeded k-means++
/// with restarts; K ∈ {1..Kmax} chosen by the silhouette score in the original feature space.
/// </summary>
public static class SpectralClustering
{
    private const int Restarts = 4;

    /// <summary>Clusters <paramref name="points"/> (n × <paramref name="dimension"/>) and chooses K by silhouette.</summary>
    public static Clustering Cluster(ReadOnlySpan<double> points, int dimension, int maxGroups, int neighbours, double minSilhouette, ulong seed)
    {
        int n = points.Length / dimension;
        var pts = points.ToArray();
        if (n < 3 || maxGroups < 2) return Single(pts, dimension, n);
        int kmax = Math.Min(maxGroups, n - 1);
        var graph = KnnGraph.Build(pts, dimension, neighbours);
        var degree = graph.Degrees();
        var invSqrt = degree.Select(d => d > 0 ? 1 / Math.Sqrt(d) : 0).ToArray();
        // y = L_sym x = x − D^{-1/2} A D^{-1/2} x
        void Multiply(double[] x, double[] y)
        {
            for (int i = 0; i < n; i++)
            {
                double s = 0;
                for (int e = graph.RowStart[i]; e < graph.RowStart[i + 1]; e++) s += graph.Weight[e] * invSqrt[graph.Neighbour[e]] * x[graph.Neighbour[e]];
                y[i] = x[i] - invSqrt[i] * s;
            }
        }
        var eigen = SymmetricEigen.LanczosSmallest(Multiply, n, kmax, seed ^ 0x5EC7_A1UL);

        Clustering best = Single(pts, dimension, n);
        double bestScore = double.NegativeInfinity;
        for (int k = 2; k <= kmax; k++)
        {
            // Embedding: the k smallest eigenvectors, each row normalised to unit length (Ng–Jordan–Weiss).
            var embed = new double[n * k];
            for (int i = 0; i < n; i++)
            {
                double norm = 0;
                for (int c = 0; c < k; c++) { double v = eigen.Vectors[c][i]; embed[i * k + c] = v; norm += v * v; }
                norm = Math.Sqrt(norm);
                if (norm > 0) for (int c = 0; c < k; c++) embed[i * k + c] /= norm;
            }
            var labels = KMeans.Cluster(embed, k, k, Restarts, seed + (ulong)k).Labels;
            int used = labels.Distinct().Count();
            if (used < 2) continue;
            labels = Compact(labels);
            double score = Silhouette(pts, dimension, labels, used);
            if (score > bestScore + 1e-12)
            {
                bestScore = score;
                best = new Clustering(used, labels, Centroids(pts, dimension, labels, used), score);
            }
        }
        return bestScore >= minSilhouette ? best : Single(pts, dimension, n);
    }

    internal static Clustering Single(double[] pts, int dimension, int n) =>
        new(1, new int[n], Centroids(pts, dimension, new int[n], 1), double.NaN);

    internal static int[] Compact(int[] labels)
    {
        var map = new Dictionary<int, int>();
        return labels.Select(l => map.TryGetValue(l, out int m) ? m : map[l] = map.Count).ToArray();
    }

    /// <summary>Mean of each cluster's points (k × dimension).</summary>
    public static double[] Centroids(double[] pts, int dimension, int[] labels, int k)
    {
        var sum = new double[k * dimension];
        var count = new int[k];
        for (int i = 0; i < labels.Length; i++)
        {
            count[labels[i]]++;
            for (int c = 0; c < dimension; c++) sum[labels[i] * dimension + c] += pts[i * dimension + c];
        }
        for (int g = 0; g < k; g++) for (int c = 0; c < dimension; c++) sum[g * dimension + c] /= Math.Max(count[g], 1);
        return sum;
    }

    /// <summary>Mean silhouette coefficient (Rousseeuw) of a labelling with Euclidean distance; singletons score 0.</summary>
    public static double Silhouette(double[] pts, int dimension, int[] labels, int k)
    {
        int n = labels.Length;
        var count = new int[k];
        foreach (int l in labels) count[l]++;
        var scores = new double[n];
        Parallel.For(0, n, i =>
        {
            var sum = new double[k];
            for (int j = 0; j < n; j++)
            {
                if (j == i) continue;
                double d = 0;
                for (int c = 0; c < dimension; c++) { double t = pts[i * dimension + c] - pts[j * dimension + c]; d += t * t; }
                sum[labels[j]] += Math.Sqrt(d);
            }
            int own = labels[i];
            if (count[own] <= 1) { scores[i] = 0; return; }
            double a = sum[own] / (count[own] - 1);
            double b = double.PositiveInfinity;
            for (int g = 0; g < k; g++) if (g != own && count[g] > 0) b = Math.Min(b, sum[g] / count[g]);
            double m = Math.Max(a, b);
            scores[i] = m > 0 ? (b - a) / m : 0;
        });
        return scores.Average();
    }
}
