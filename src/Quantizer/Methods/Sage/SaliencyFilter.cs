namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>
/// Saliency-aware filtering (DESIGN.md §5.1): ranks columns or single weights by how much their
/// binarization would cost. Data-free scores come from weight statistics (column energy Σ_i w²; per
/// weight the squared z-score ((w−μ)/σ)²); with a Hessian, each is weighted by diag(H)_j (w²·H_jj).
/// </summary>
public static class SaliencyFilter
{
    /// <summary>Column indices, most salient first (ties by index).</summary>
    public static int[] RankColumns(ReadOnlySpan<float> weight, int rows, int cols, double[]? hessian)
    {
        var score = new double[cols];
        for (int i = 0; i < rows; i++)
        {
            var row = weight.Slice(i * cols, cols);
            for (int j = 0; j < cols; j++) score[j] += (double)row[j] * row[j];
        }
        if (hessian is not null) for (int j = 0; j < cols; j++) score[j] *= hessian[(long)j * cols + j];
        return Enumerable.Range(0, cols).OrderByDescending(j => score[j]).ThenBy(j => j).ToArray();
    }

    /// <summary>Flat weight indices (i·cols + j), most salient first: global z-score, or (w−μ)²·H_jj with a Hessian.</summary>
    public static int[] RankWeights(ReadOnlySpan<float> weight, int rows, int cols, double[]? hessian)
    {
        long n = (long)rows * cols;
        double mean = 0;
        foreach (float w in weight) mean += w;
        mean /= n;
        var score = new double[n];
        for (long k = 0; k < n; k++)
        {
            double d = weight[(int)k] - mean;
            score[k] = d * d;
            if (hessian is not null) score[k] *= hessian[(k % cols) * cols + k % cols];
        }
        var order = new int[n];
        for (int k = 0; k < n; k++) order[k] = k;
        // Descending score, ties by index: sort by negated score (the index order is kept by a stable key).
        var keys = new double[n];
        for (long k = 0; k < n; k++) keys[k] = -score[k];
        Array.Sort(keys, order);
        FixTies(keys, order);
        return order;
    }

    private static void FixTies(double[] keys, int[] order)
    {
        // Array.Sort is unstable: re-sort each run of equal keys by index so the ranking is deterministic.
        int start = 0;
        for (int k = 1; k <= keys.Length; k++)
            if (k == keys.Length || keys[k] != keys[start])
            {
                if (k - start > 1) Array.Sort(order, start, k - start);
                start = k;
            }
    }

    /// <summary>The salient mask (rows × cols) of the first <paramref name="count"/> ranked units.</summary>
    public static bool[] Mask(int[] ranking, int count, int rows, int cols, SalientGranularity granularity)
    {
        var mask = new bool[(long)rows * cols];
        for (int r = 0; r < count; r++)
        {
            if (granularity == SalientGranularity.Weight) mask[ranking[r]] = true;
            else for (int i = 0; i < rows; i++) mask[(long)i * cols + ranking[r]] = true;
        }
        return mask;
    }
}
