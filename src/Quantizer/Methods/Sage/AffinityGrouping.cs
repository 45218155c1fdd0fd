namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>Group ids of every column (cols entries) or weight (rows × cols entries), and the chosen clustering.</summary>
public sealed record Grouping(int K, byte[] Ids, bool PerWeight, double Silhouette);

/// <summary>
/// Affinity-based grouping (DESIGN.md §5.2). Feature of a weight: its magnitude relative to its row's
/// mean magnitude, |w_ij| / mean_j |w_ij| (what a shared scalar has to match once rows are scaled);
/// feature of a column: the mean of that over the column. A seeded subsample of at most
/// <see cref="SageOptions.GraphSamples"/> unsalient units is spectrally clustered (or, as an ablation, plainly
/// k-means clustered: <see cref="SageOptions.Grouping"/>), K chosen by silhouette,
/// and every unit gets the nearest centroid's group (1-D, so groups are magnitude intervals, ids ascending).
/// </summary>
public static class AffinityGrouping
{
    /// <summary>Groups the units of <paramref name="weight"/> that <paramref name="salient"/> leaves out.</summary>
    public static Grouping Group(ReadOnlySpan<float> weight, int rows, int cols, bool[] salient, GroupGranularity granularity,
        int maxGroups, SageOptions options, ulong seed)
    {
        var rowMean = new double[rows];
        for (int i = 0; i < rows; i++)
        {
            double s = 0;
            var row = weight.Slice(i * cols, cols);
            foreach (float w in row) s += Math.Abs(w);
            rowMean[i] = s / cols;
        }
        double Feature(int i, int j, ReadOnlySpan<float> w) => rowMean[i] > 0 ? Math.Abs(w[i * cols + j]) / rowMean[i] : 0;

        bool perWeight = granularity == GroupGranularity.Weight;
        double[] features;
        if (perWeight)
        {
            features = new double[(long)rows * cols];
            for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) features[(long)i * cols + j] = Feature(i, j, weight);
        }
        else
        {
            features = new double[cols];
            for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) features[j] += Feature(i, j, weight) / rows;
        }
        var candidates = Enumerable.Range(0, features.Length)
            .Where(u => perWeight ? !salient[u] : !salient[u]) // column u of row 0 is salient iff the column is
            .ToArray();
        if (candidates.Length == 0 || maxGroups <= 1)
            return new Grouping(1, new byte[features.Length], perWeight, double.NaN);
        var rng = new SeededRandom(seed);
        var picks = rng.Sample(candidates.Length, Math.Min(options.GraphSamples, candidates.Length));
        var sample = picks.Select(p => features[candidates[p]]).ToArray();
        var clustering = options.Grouping == GroupingAlgorithm.KMeans
            ? PlainClustering.Cluster(sample, 1, maxGroups, options.MinSilhouette, seed ^ 0xC1u)
            : SpectralClustering.Cluster(sample, 1, maxGroups, options.Neighbours, options.MinSilhouette, seed ^ 0xC1u);
        var centroids = clustering.Centroids.Order().ToArray();
        var ids = new byte[features.Length];
        for (int u = 0; u < features.Length; u++) ids[u] = (byte)Nearest(centroids, features[u]);
        return new Grouping(centroids.Length, ids, perWeight, clustering.Silhouette);
    }

    private static int Nearest(double[] centroids, double x)
    {
        int best = 0;
        for (int g = 1; g < centroids.Length; g++) if (Math.Abs(x - centroids[g]) < Math.Abs(x - centroids[best])) best = g;
        return best;
    }
}
