namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>
/// A sparse symmetric kNN affinity graph in CSR form: each point joined to its k nearest neighbours
/// with a Gaussian affinity exp(−d²/(2s²)), s the median kNN distance, then symmetrised by max(A, Aᵀ).
/// </summary>
public sealed class KnnGraph
{
    /// <summary>Number of nodes.</summary>
    public int Count { get; }
    internal int[] RowStart { get; }
    internal int[] Neighbour { get; }
    internal double[] Weight { get; }

    private KnnGraph(int count, int[] rowStart, int[] neighbour, double[] weight)
    {
        Count = count; RowStart = rowStart; Neighbour = neighbour; Weight = weight;
    }

    /// <summary>Builds the graph of <paramref name="points"/> (n × <paramref name="dimension"/>, row-major) by brute force (n is a subsample).</summary>
    public static KnnGraph Build(ReadOnlySpan<double> points, int dimension, int neighbours)
    {
        if (dimension < 1 || points.Length % dimension != 0) throw new ArgumentException("points must be n × dimension", nameof(points));
        int n = points.Length / dimension;
        int k = Math.Min(neighbours, n - 1);
        var pts = points.ToArray();
        var nearest = new int[n * Math.Max(k, 0)];
        var nearestDist = new double[n * Math.Max(k, 0)];
        Parallel.For(0, n, i =>
        {
            var dist = new double[n];
            var idx = new int[n];
            for (int j = 0; j < n; j++)
            {
                double d = 0;
                for (int c = 0; c < dimension; c++) { double t = pts[i * dimension + c] - pts[j * dimension + c]; d += t * t; }
                dist[j] = j == i ? double.PositiveInfinity : d;
                idx[j] = j;
            }
            // Ties broken by index so the graph is deterministic.
            Array.Sort(dist, idx);
            for (int r = 0; r < k; r++) { nearest[i * k + r] = idx[r]; nearestDist[i * k + r] = dist[r]; }
        });
        double bandwidth2 = 1;
        if (k > 0)
        {
            var sorted = nearestDist.Select(Math.Sqrt).Order().ToArray();
            double median = sorted[sorted.Length / 2];
            if (median <= 0) median = sorted.FirstOrDefault(d => d > 0, 1.0);
            bandwidth2 = median * median;
        }
        var edges = new Dictionary<long, double>();
        for (int i = 0; i < n; i++)
            for (int r = 0; r < k; r++)
            {
                int j = nearest[i * k + r];
                double a = Math.Exp(-nearestDist[i * k + r] / (2 * bandwidth2));
                long key1 = (long)i * n + j, key2 = (long)j * n + i;
                edges[key1] = Math.Max(edges.GetValueOrDefault(key1), a);
                edges[key2] = Math.Max(edges.GetValueOrDefault(key2), a);
            }
        LinkComponents(pts, dimension, n, edges, bandwidth2);
        var keys = edges.Keys.Order().ToArray();
        var rowStart = new int[n + 1];
        var neighbour = new int[keys.Length];
        var weight = new double[keys.Length];
        for (int e = 0; e < keys.Length; e++)
        {
            int i = (int)(keys[e] / n);
            rowStart[i + 1]++;
            neighbour[e] = (int)(keys[e] % n);
            weight[e] = edges[keys[e]];
        }
        for (int i = 0; i < n; i++) rowStart[i + 1] += rowStart[i];
        return new KnnGraph(n, rowStart, neighbour, weight);
    }

    /// <summary>
    /// A kNN graph can fall apart inside one true cluster (a run of points whose neighbours are all
    /// among themselves), which adds spurious zero eigenvalues. Borůvka rounds join every component to
    /// its nearest outside point; far-apart true clusters still get an affinity of (numerically) zero.
    /// </summary>
    private static void LinkComponents(double[] pts, int dimension, int n, Dictionary<long, double> edges, double bandwidth2)
    {
        var parent = Enumerable.Range(0, n).ToArray();
        int Find(int x) { while (parent[x] != x) x = parent[x] = parent[parent[x]]; return x; }
        foreach (long key in edges.Keys) parent[Find((int)(key / n))] = Find((int)(key % n));
        while (true)
        {
            var best = new Dictionary<int, (double D, int I, int J)>();
            for (int i = 0; i < n; i++)
            {
                int ci = Find(i);
                for (int j = 0; j < n; j++)
                {
                    if (Find(j) == ci) continue;
                    double d = 0;
                    for (int c = 0; c < dimension; c++) { double t = pts[i * dimension + c] - pts[j * dimension + c]; d += t * t; }
                    if (!best.TryGetValue(ci, out var b) || d < b.D) best[ci] = (d, i, j);
                }
            }
            if (best.Count == 0) return;
            foreach (var (d, i, j) in best.Values.OrderBy(b => b.I).ThenBy(b => b.J))
            {
                double a = Math.Exp(-d / (2 * bandwidth2));
                edges[(long)i * n + j] = Math.Max(edges.GetValueOrDefault((long)i * n + j), a);
                edges[(long)j * n + i] = Math.Max(edges.GetValueOrDefault((long)j * n + i), a);
                parent[Find(i)] = Find(j);
            }
        }
    }

    /// <summary>The weighted degree of every node.</summary>
    public double[] Degrees()
    {
        var d = new double[Count];
        for (int i = 0; i < Count; i++)
            for (int e = RowStart[i]; e < RowStart[i + 1]; e++) d[i] += Weight[e];
        return d;
    }

    /// <summary>The affinity between nodes i and j (0 when not joined).</summary>
    public double Affinity(int i, int j)
    {
        for (int e = RowStart[i]; e < RowStart[i + 1]; e++) if (Neighbour[e] == j) return Weight[e];
        return 0;
    }
}
