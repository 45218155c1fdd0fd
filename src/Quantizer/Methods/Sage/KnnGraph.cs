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
        Parallel.For(0, n, () => (new double[Math.Max(k + 1, 0)], new int[Math.Max(k + 1, 0)]), (i, _, best) =>
        {
            if (k > 0 && !Nearest(pts, dimension, n, i, k, best.Item1, best.Item2))
                SortedNeighbours(pts, dimension, n, i, k, best.Item1, best.Item2);
            if (k > 0)
            {
                Array.Copy(best.Item2, 0, nearest, i * k, k);
                Array.Copy(best.Item1, 0, nearestDist, i * k, k);
            }
            return best;
        }, _ => { });
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
    /// The k nearest neighbours of point i by one pass that keeps the k + 1 smallest distances in order (O(n·k)).
    /// Returns false, leaving the answer to <see cref="SortedNeighbours"/>, when two of those distances are equal:
    /// then the full sort's tie order decides, and only the full sort reproduces it.
    /// </summary>
    internal static bool Nearest(double[] pts, int dimension, int n, int i, int k, double[] bestDist, int[] bestIndex)
    {
        int kept = 0, capacity = Math.Min(k + 1, n);
        for (int j = 0; j < n; j++)
        {
            double d = Distance2(pts, dimension, i, j);
            if (kept == capacity && d >= bestDist[kept - 1]) continue;
            int at = kept < capacity ? kept++ : kept - 1;
            while (at > 0 && bestDist[at - 1] > d) { bestDist[at] = bestDist[at - 1]; bestIndex[at] = bestIndex[at - 1]; at--; }
            bestDist[at] = d; bestIndex[at] = j;
        }
        for (int r = 1; r < kept; r++) if (bestDist[r] == bestDist[r - 1]) return false;
        return true;
    }

    /// <summary>The k nearest neighbours of point i by sorting all n distances (the reference, and the tie-breaker).</summary>
    internal static void SortedNeighbours(double[] pts, int dimension, int n, int i, int k, double[] bestDist, int[] bestIndex)
    {
        var dist = new double[n];
        var idx = new int[n];
        for (int j = 0; j < n; j++) { dist[j] = Distance2(pts, dimension, i, j); idx[j] = j; }
        Array.Sort(dist, idx);
        Array.Copy(dist, bestDist, k);
        Array.Copy(idx, bestIndex, k);
    }

    /// <summary>Squared distance of points i and j; +∞ from a point to itself, so it is never its own neighbour.</summary>
    private static double Distance2(double[] pts, int dimension, int i, int j)
    {
        if (i == j) return double.PositiveInfinity;
        double d = 0;
        for (int c = 0; c < dimension; c++) { double t = pts[i * dimension + c] - pts[j * dimension + c]; d += t * t; }
        return d;
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
