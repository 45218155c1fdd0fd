namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>
/// The matrix the adaptive-threshold search evaluates its objective on (DESIGN.md §5.4): the whole matrix,
/// or, data-free, a seeded stratified sample of its rows. Without a Hessian every row's error is an
/// independent term of the weight MSE, so a few hundred rows rank the candidate salient counts about as
/// well as thousands do, at a fraction of the cost; the chosen count is then fitted on all rows.
/// </summary>
internal sealed class SearchSample
{
    private readonly int _fullRows, _cols;
    private readonly int[] _rowSlot;    // full row → its row in the sample, or −1

    /// <summary>Rows of the full matrix in the sample, ascending (all rows when not sampled).</summary>
    public int[] RowIndices { get; }
    /// <summary>The sampled rows, row-major (the full weight itself when not sampled).</summary>
    public float[] Weight { get; }
    /// <summary>Rows in the sample.</summary>
    public int Rows => RowIndices.Length;
    /// <summary>The grouping restricted to the sampled rows (per-weight ids are gathered; column ids are shared).</summary>
    public Grouping Grouping { get; }
    /// <summary>Whether this is a strict subset of the rows.</summary>
    public bool IsSampled => RowIndices.Length < _fullRows;

    private SearchSample(int fullRows, int cols, int[] rowIndices, float[] weight, Grouping grouping)
    {
        _fullRows = fullRows; _cols = cols; RowIndices = rowIndices; Weight = weight; Grouping = grouping;
        _rowSlot = Enumerable.Repeat(-1, fullRows).ToArray();
        for (int s = 0; s < rowIndices.Length; s++) _rowSlot[rowIndices[s]] = s;
    }

    /// <summary>
    /// <paramref name="count"/> distinct rows of [0, <paramref name="rows"/>), ascending, one drawn uniformly from each
    /// of <paramref name="count"/> equal strata (so every part of the matrix, e.g. every attention head, is represented);
    /// all rows when <paramref name="count"/> is 0 or at least <paramref name="rows"/>.
    /// </summary>
    public static int[] StratifiedRows(int rows, int count, ulong seed)
    {
        if (rows <= 0) throw new ArgumentException($"rows must be positive, got {rows}", nameof(rows));
        if (count < 0) throw new ArgumentException($"sample size must not be negative, got {count}", nameof(count));
        if (count == 0 || count >= rows) return Enumerable.Range(0, rows).ToArray();
        var rng = new SeededRandom(seed);
        var chosen = new int[count];
        for (int s = 0; s < count; s++)
        {
            int start = (int)((long)s * rows / count), end = (int)((long)(s + 1) * rows / count);
            chosen[s] = start + rng.Next(end - start);
        }
        return chosen;
    }

    /// <summary>
    /// The search matrix of <paramref name="weight"/> ([<paramref name="rows"/>, <paramref name="cols"/>]):
    /// <paramref name="sampleRows"/> stratified rows (seeded by <paramref name="seed"/>), or the whole matrix
    /// (the same arrays, no copy) when <paramref name="sampleRows"/> is 0 or not below <paramref name="rows"/>.
    /// </summary>
    public static SearchSample Create(float[] weight, int rows, int cols, Grouping grouping, int sampleRows, ulong seed)
    {
        var indices = StratifiedRows(rows, sampleRows, seed);
        if (indices.Length == rows) return new SearchSample(rows, cols, indices, weight, grouping);
        var sub = new float[(long)indices.Length * cols];
        for (int s = 0; s < indices.Length; s++)
            Array.Copy(weight, (long)indices[s] * cols, sub, (long)s * cols, cols);
        var subGrouping = grouping;
        if (grouping.PerWeight)
        {
            var ids = new byte[(long)indices.Length * cols];
            for (int s = 0; s < indices.Length; s++)
                Array.Copy(grouping.Ids, (long)indices[s] * cols, ids, (long)s * cols, cols);
            subGrouping = grouping with { Ids = ids };
        }
        return new SearchSample(rows, cols, indices, sub, subGrouping);
    }

    /// <summary>The salient mask of the first <paramref name="count"/> ranked units, restricted to the sampled rows.</summary>
    public bool[] Mask(int[] ranking, int count, SalientGranularity granularity)
    {
        if (!IsSampled || granularity == SalientGranularity.Column)
            return SaliencyFilter.Mask(ranking, count, Rows, _cols, granularity);
        // Per-weight ranks index the full matrix: keep those that fall in a sampled row.
        var mask = new bool[(long)Rows * _cols];
        for (int r = 0; r < count; r++)
        {
            int row = ranking[r] / _cols, slot = _rowSlot[row];
            if (slot >= 0) mask[(long)slot * _cols + ranking[r] % _cols] = true;
        }
        return mask;
    }
}
