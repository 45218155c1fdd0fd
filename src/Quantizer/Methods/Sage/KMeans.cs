namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>Seeded k-means++ with Lloyd iterations and restarts; the lowest within-cluster sum of squares wins.</summary>
public static class KMeans
{
    /// <summary>Labels and centroids (k × dimension) of the best restart, and its sum of squared distances.</summary>
    public sealed record Result(int[] Labels, double[] Centroids, double Inertia);

    /// <summary>Clusters <paramref name="points"/> (n × <paramref name="dimension"/>) into <paramref name="k"/> clusters.</summary>
    public static Result Cluster(double[] points, int dimension, int k, int restarts, ulong seed, int maxIterations = 100)
    {
        int n = points.Length / dimension;
        if (k < 1 || k > n) throw new ArgumentException($"k must be 1..{n}, got {k}", nameof(k));
        var rng = new SeededRandom(seed);
        Result? best = null;
        for (int r = 0; r < restarts; r++)
        {
            var centroids = PlusPlus(points, dimension, n, k, rng);
            var labels = new int[n];
            double inertia = 0;
            for (int it = 0; it < maxIterations; it++)
            {
                bool changed = false;
                inertia = 0;
                for (int i = 0; i < n; i++)
                {
                    int arg = 0; double bestD = double.PositiveInfinity;
                    for (int g = 0; g < k; g++)
                    {
                        double d = Distance2(points, i, centroids, g, dimension);
                        if (d < bestD) { bestD = d; arg = g; }
                    }
                    inertia += bestD;
                    if (labels[i] != arg || it == 0) { changed |= labels[i] != arg; labels[i] = arg; }
                }
                var sum = new double[k * dimension];
                var count = new int[k];
                for (int i = 0; i < n; i++)
                {
                    count[labels[i]]++;
                    for (int c = 0; c < dimension; c++) sum[labels[i] * dimension + c] += points[i * dimension + c];
                }
                for (int g = 0; g < k; g++)
                    if (count[g] > 0) for (int c = 0; c < dimension; c++) centroids[g * dimension + c] = sum[g * dimension + c] / count[g];
                if (!changed && it > 0) break;
            }
            if (best is null || inertia < best.Inertia) best = new Result(labels, centroids, inertia);
        }
        return best!;
    }

    private static double[] PlusPlus(double[] points, int dimension, int n, int k, SeededRandom rng)
    {
        var centroids = new double[k * dimension];
        int first = rng.Next(n);
        Array.Copy(points, first * dimension, centroids, 0, dimension);
        var d2 = new double[n];
        for (int g = 1; g < k; g++)
        {
            double total = 0;
            for (int i = 0; i < n; i++)
            {
                double m = double.PositiveInfinity;
                for (int h = 0; h < g; h++) m = Math.Min(m, Distance2(points, i, centroids, h, dimension));
                d2[i] = m; total += m;
            }
            int pick = 0;
            if (total > 0)
            {
                double u = rng.NextDouble() * total;
                for (pick = 0; pick < n - 1 && (u -= d2[pick]) > 0; pick++) { }
            }
            else pick = rng.Next(n);
            Array.Copy(points, pick * dimension, centroids, g * dimension, dimension);
        }
        return centroids;
    }

    private static double Distance2(double[] points, int i, double[] centroids, int g, int dimension)
    {
        double d = 0;
        for (int c = 0; c < dimension; c++) { double t = points[i * dimension + c] - centroids[g * dimension + c]; d += t * t; }
        return d;
    }
}
