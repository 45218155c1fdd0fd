using SagePtq.Runtime.Reference;

namespace SagePtq.Quantizer.Numerics;

/// <summary>
/// The upper triangle of Σ xᵀx over one block of input rows, added into a double accumulator, with
/// the register-blocked AVX2 kernel of <see cref="PackedGemm"/> (a 6 × 16 tile of the result in 12
/// registers; per input row one 16-wide load and six broadcasts for 12 FMAs). The block is first
/// copied into panels of 16 features (panel p holds rows × features [16p, 16p + 16), row after row),
/// so both the loads and the broadcasts walk memory contiguously and features past the last are zero.
/// Each tile's float sums, one FMA chain over the block's rows in order, are then added into the
/// double sum, so the result does not depend on the number of threads.
/// </summary>
internal sealed class PackedRankUpdate
{
    private const int Panel = PackedGemm.PanelWidth;
    private const int MicroRows = PackedGemm.MicroRows;

    /// <summary>Micro-rows of the result per work item (4 × 6 = 24 features).</summary>
    private const int BandMicroRows = 4;

    /// <summary>Panels per work item (4 × 16 = 64 features).</summary>
    private const int PanelsPerItem = 4;

    private readonly int _cols;
    private readonly int _maxRows;
    private readonly int _panels;
    private readonly float[] _packed;
    private readonly (int Band, int PanelGroup)[] _items;

    /// <param name="cols">Features per input row.</param>
    /// <param name="maxRows">The most rows one block holds.</param>
    public PackedRankUpdate(int cols, int maxRows)
    {
        _cols = cols;
        _maxRows = maxRows;
        _panels = (cols + Panel - 1) / Panel;
        _packed = new float[(long)_panels * maxRows * Panel];
        // Work items of the upper triangle: a band of 24 result rows with the panel groups that reach its diagonal or beyond.
        int bandRows = BandMicroRows * MicroRows;
        int bands = (cols + bandRows - 1) / bandRows;
        int groups = (_panels + PanelsPerItem - 1) / PanelsPerItem;
        var items = new List<(int, int)>();
        for (int band = 0; band < bands; band++)
            for (int group = 0; group < groups; group++)
                if ((group + 1) * PanelsPerItem * Panel > band * bandRows) items.Add((band, group));
        _items = [.. items];
    }

    /// <summary>Whether this CPU has what the kernel uses.</summary>
    public static bool IsSupported => PackedGemm.IsSupported;

    /// <summary>sum[i, j] += Σ_r x[r, i]·x[r, j] for j ≥ i (entries below the diagonal may also change and mean nothing).</summary>
    /// <param name="rows"><paramref name="count"/> rows of <c>cols</c> features, row-major.</param>
    public void Add(ReadOnlySpan<float> rows, int count, double[] sum)
    {
        if (count <= 0) return;
        if (count > _maxRows) throw new ArgumentOutOfRangeException(nameof(count), count, $"a block holds at most {_maxRows} rows");
        Pack(rows, count);
        Parallel.For(0, _items.Length, item => AddItem(_items[item].Band, _items[item].PanelGroup, count, sum));
    }

    /// <summary>Where feature <paramref name="feature"/> of row 0 sits in the packed block of <paramref name="count"/> rows.</summary>
    private static long Address(int feature, int count) => (long)(feature / Panel) * count * Panel + feature % Panel;

    private void Pack(ReadOnlySpan<float> rows, int count)
    {
        var packed = _packed.AsSpan(0, _panels * count * Panel);
        if (_cols % Panel != 0) packed.Clear();
        for (int r = 0; r < count; r++)
        {
            var row = rows.Slice(r * _cols, _cols);
            for (int p = 0; p < _panels; p++)
            {
                int first = p * Panel, width = Math.Min(Panel, _cols - first);
                row.Slice(first, width).CopyTo(packed.Slice((p * count + r) * Panel, width));
            }
        }
    }

    private unsafe void AddItem(int band, int panelGroup, int count, double[] sum)
    {
        int bandStart = band * BandMicroRows * MicroRows, bandEnd = Math.Min(_cols, bandStart + BandMicroRows * MicroRows);
        int panelStart = panelGroup * PanelsPerItem, panelEnd = Math.Min(_panels, panelStart + PanelsPerItem);
        float* tile = stackalloc float[MicroRows * Panel];
        fixed (float* packed = _packed)
        {
            for (int p = panelStart; p < panelEnd; p++)
            {
                int j0 = p * Panel, width = Math.Min(Panel, _cols - j0);
                float* b = packed + (long)p * count * Panel;
                for (int i0 = bandStart; i0 < bandEnd; i0 += MicroRows)
                {
                    if (j0 + Panel <= i0) continue;   // wholly below the diagonal
                    int rows = Math.Min(MicroRows, bandEnd - i0);
                    long a0 = Address(i0, count);
                    // Features past the band's end reread its last one; their results are dropped.
                    long Offset(int r) => Address(i0 + Math.Min(r, rows - 1), count) - a0;
                    PackedGemm.Kernel6x16(packed + a0, Panel, Offset(1), Offset(2), Offset(3), Offset(4), Offset(5),
                        b, Panel, count, tile, Panel);
                    for (int r = 0; r < rows; r++)
                    {
                        int i = i0 + r;
                        long target = (long)i * _cols + j0;
                        for (int c = Math.Max(0, i - j0); c < width; c++) sum[target + c] += tile[r * Panel + c];
                    }
                }
            }
        }
    }
}
