using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>
/// The binarized half of the dual-mode quantizer (DESIGN.md §5.3): unsalient w ≈ μ_i + α_{i,g}·sign(w − μ_i)
/// with α stored per <see cref="GroupScaleMode"/>, fitted by alternating refinement in the ARB-LLM manner:
/// refit the scalars given signs and groups (closed-form least squares), refit μ, re-pick signs and
/// groups given the scalars; the loss never increases. Column weights h_j (diag H, or 1) make every
/// step minimise Σ h_j (w − ŵ)², the diagonal Hessian proxy. Scalars end rounded to FP16, as stored.
/// </summary>
internal sealed class BinaryFit
{
    private readonly float[] _w;
    private readonly int _rows, _cols, _k;
    private readonly bool[] _salient;
    private readonly double[] _h;
    private readonly GroupScaleMode _mode;
    private readonly bool _offset;

    /// <summary>Group of each column (cols) or weight (rows × cols); refined in place.</summary>
    public byte[] Groups { get; }
    public bool PerWeightGroups { get; }
    /// <summary>Per-row offset μ (zeros without offsets).</summary>
    public float[] Offsets { get; }
    /// <summary>Row factor a_i (mode RowTimesGroup), else ones.</summary>
    public float[] RowFactors { get; }
    /// <summary>Group table: K values, or rows × K in mode PerRowGroup.</summary>
    public float[] Table { get; }

    public BinaryFit(float[] weight, int rows, int cols, bool[] salient, Grouping grouping, double[] columnWeights,
        GroupScaleMode mode, bool offset)
    {
        _w = weight; _rows = rows; _cols = cols; _salient = salient; _h = columnWeights; _mode = mode; _offset = offset;
        _k = grouping.K;
        Groups = grouping.Ids.ToArray();
        PerWeightGroups = grouping.PerWeight;
        Offsets = new float[rows];
        RowFactors = Enumerable.Repeat(1f, rows).ToArray();
        Table = new float[mode == GroupScaleMode.PerRowGroup ? rows * _k : _k];
    }

    public int Group(int i, int j) => _k == 1 ? 0 : Groups[PerWeightGroups ? (long)i * _cols + j : j];

    /// <summary>α of weight (i, j), computed exactly as <see cref="SageLayout"/> decodes it.</summary>
    public float Alpha(int i, int g) => _mode switch
    {
        GroupScaleMode.RowTimesGroup => RowFactors[i] * Table[g],
        GroupScaleMode.PerRowGroup => Table[i * _k + g],
        _ => Table[g],
    };

    /// <summary>Runs <paramref name="iterations"/> rounds of alternating refinement, then rounds to FP16.</summary>
    public void Run(int iterations)
    {
        int k = _k;
        var sumM = new double[_rows * k];    // Σ h|w − μ| per (row, group)
        var sumH = new double[_rows * k];    // Σ h
        var sumS = new double[_rows * k];    // Σ h·sign(w − μ)
        var sumW = new double[_rows];        // Σ h·w over the row's unsalient weights
        var rowH = new double[_rows];
        var mu = new double[_rows];
        var a = Enumerable.Repeat(1.0, _rows).ToArray();
        var c = Enumerable.Repeat(1.0, k).ToArray();
        var table = new double[Table.Length];

        for (int it = 0; it < iterations; it++)
        {
            Accumulate(mu, sumM, sumH, sumS, sumW, rowH);
            FitScales(sumM, sumH, a, c, table);
            if (_offset)
                for (int i = 0; i < _rows; i++)
                {
                    if (rowH[i] == 0) continue;
                    double s = sumW[i];
                    for (int g = 0; g < k; g++) s -= AlphaOf(i, g, a, c, table) * sumS[i * k + g];
                    mu[i] = s / rowH[i];
                }
            if (k > 1) Reassign(mu, a, c, table);
        }
        // Final scalar refit on the last groups and offsets, then FP16 rounding of everything stored.
        Accumulate(mu, sumM, sumH, sumS, sumW, rowH);
        FitScales(sumM, sumH, a, c, table);
        for (int i = 0; i < _rows; i++)
        {
            Offsets[i] = _offset ? (float)(Half)mu[i] : 0f;
            RowFactors[i] = _mode == GroupScaleMode.RowTimesGroup ? (float)(Half)a[i] : 1f;
        }
        for (int t = 0; t < table.Length; t++) Table[t] = (float)(Half)(_mode == GroupScaleMode.RowTimesGroup ? c[t] : table[t]);
    }

    private double AlphaOf(int i, int g, double[] a, double[] c, double[] table) => _mode switch
    {
        GroupScaleMode.RowTimesGroup => a[i] * c[g],
        GroupScaleMode.PerRowGroup => table[i * _k + g],
        _ => table[g],
    };

    internal void Accumulate(double[] mu, double[] sumM, double[] sumH, double[] sumS, double[] sumW, double[] rowH)
    {
        int k = _k;
        Parallel.For(0, _rows, i =>
        {
            // Sums kept in locals (registers when K = 1) and added in column order, as a plain loop over
            // sumM[i·k + g] would: the same roundings, without a store and reload per weight.
            long rowStart = (long)i * _cols;
            double rowMu = mu[i], sw = 0, sh = 0;
            if (k == 1)
            {
                double m0 = 0, h0 = 0, s0 = 0;
                for (int j = 0; j < _cols; j++)
                {
                    long idx = rowStart + j;
                    if (_salient[idx]) continue;
                    double h = _h[j], r = _w[idx] - rowMu;
                    m0 += h * Math.Abs(r);
                    h0 += h;
                    s0 += r >= 0 ? h : -h;
                    sw += h * _w[idx]; sh += h;
                }
                sumM[i] = m0; sumH[i] = h0; sumS[i] = s0;
            }
            else
            {
                Span<double> m = stackalloc double[k], hs = stackalloc double[k], sg = stackalloc double[k];
                m.Clear(); hs.Clear(); sg.Clear();
                for (int j = 0; j < _cols; j++)
                {
                    long idx = rowStart + j;
                    if (_salient[idx]) continue;
                    double h = _h[j], r = _w[idx] - rowMu;
                    int g = PerWeightGroups ? Groups[idx] : Groups[j];
                    m[g] += h * Math.Abs(r);
                    hs[g] += h;
                    sg[g] += r >= 0 ? h : -h;
                    sw += h * _w[idx]; sh += h;
                }
                m.CopyTo(sumM.AsSpan(i * k, k)); hs.CopyTo(sumH.AsSpan(i * k, k)); sg.CopyTo(sumS.AsSpan(i * k, k));
            }
            sumW[i] = sw; rowH[i] = sh;
        });
    }

    private void FitScales(double[] sumM, double[] sumH, double[] a, double[] c, double[] table)
    {
        int k = _k;
        switch (_mode)
        {
            case GroupScaleMode.PerGroup:
                for (int g = 0; g < k; g++)
                {
                    double m = 0, h = 0;
                    for (int i = 0; i < _rows; i++) { m += sumM[i * k + g]; h += sumH[i * k + g]; }
                    table[g] = h > 0 ? m / h : 0;
                }
                break;
            case GroupScaleMode.PerRowGroup:
                for (int t = 0; t < table.Length; t++) table[t] = sumH[t] > 0 ? sumM[t] / sumH[t] : 0;
                break;
            default:
                // Rank-one α_ig = a_i·c_g: alternating least squares on the (row, group) sums.
                for (int round = 0; round < 4; round++)
                {
                    for (int i = 0; i < _rows; i++)
                    {
                        double num = 0, den = 0;
                        for (int g = 0; g < k; g++) { num += c[g] * sumM[i * k + g]; den += c[g] * c[g] * sumH[i * k + g]; }
                        a[i] = den > 0 ? num / den : 0;
                    }
                    double cmax = 0;
                    for (int g = 0; g < k; g++)
                    {
                        double num = 0, den = 0;
                        for (int i = 0; i < _rows; i++) { num += a[i] * sumM[i * k + g]; den += a[i] * a[i] * sumH[i * k + g]; }
                        if (den > 0) c[g] = num / den;
                        cmax = Math.Max(cmax, c[g]);
                    }
                    // Normalise max c to 1 (scale moved into a) so FP16 keeps precision in both.
                    if (cmax > 0)
                    {
                        for (int g = 0; g < k; g++) c[g] /= cmax;
                        for (int i = 0; i < _rows; i++) a[i] *= cmax;
                    }
                }
                break;
        }
    }

    internal void Reassign(double[] mu, double[] a, double[] c, double[] table)
    {
        int k = _k;
        if (PerWeightGroups)
        {
            Parallel.For(0, _rows, i =>
            {
                for (int j = 0; j < _cols; j++)
                {
                    long idx = (long)i * _cols + j;
                    if (_salient[idx]) continue;
                    double m = Math.Abs(_w[idx] - mu[i]);
                    int best = 0; double bestD = double.PositiveInfinity;
                    for (int g = 0; g < k; g++)
                    {
                        double d = Math.Abs(m - AlphaOf(i, g, a, c, table));
                        if (d < bestD) { bestD = d; best = g; }
                    }
                    Groups[idx] = (byte)best;
                }
            });
            return;
        }
        // Column groups: cost_j(g) = Σ_i h_j (α_ig² − 2 α_ig |w_ij − μ_i|), the column's error up to a constant.
        // Blocks of adjacent columns walk the rows in memory order (a column-at-a-time walk misses the cache on
        // every weight); each cost still sums over i ascending, so the result is the same to the bit.
        const int block = 128;
        int blocks = (_cols + block - 1) / block;
        Parallel.For(0, blocks, b =>
        {
            int j0 = b * block, width = Math.Min(block, _cols - j0);
            var cost = new double[width * k];
            Span<double> alpha = stackalloc double[k];
            for (int i = 0; i < _rows; i++)
            {
                for (int g = 0; g < k; g++) alpha[g] = AlphaOf(i, g, a, c, table);
                long rowStart = (long)i * _cols + j0;
                double rowMu = mu[i];
                for (int t = 0; t < width; t++)
                {
                    if (_salient[j0 + t]) continue;
                    double m = Math.Abs(_w[rowStart + t] - rowMu);
                    for (int g = 0; g < k; g++) { double al = alpha[g]; cost[t * k + g] += al * (al - 2 * m); }
                }
            }
            for (int t = 0; t < width; t++)
            {
                if (_salient[j0 + t]) continue;
                int best = 0;
                for (int g = 1; g < k; g++) if (cost[t * k + g] < cost[t * k + best]) best = g;
                Groups[j0 + t] = (byte)best;
            }
        });
    }

    /// <summary>The stored value of unsalient weight (i, j) for input value <paramref name="w"/>: μ ± α.</summary>
    public float Reconstruct(int i, int j, float w, out bool positive)
    {
        float mu = Offsets[i];
        float alpha = Alpha(i, Group(i, j));
        positive = w - mu >= 0;
        return mu + (positive ? alpha : -alpha);
    }
}
