using System.Buffers.Binary;

namespace SagePtq.Runtime.Packing.Layouts;

/// <summary>
/// What a BiLLM-quantized linear is, weight by weight, before packing. Within each block of
/// <see cref="BlockSize"/> input columns, every row has three regions: the salient columns of the block
/// (residual binarization: value = s₁α₁ + s₂α₂ + μ), and the non-salient weights split by the
/// break-point into a concentrated and a sparse group (value = sα + μ each).
/// </summary>
/// <param name="SalientColumns">Per input column: whether it is salient in its block (length cols).</param>
/// <param name="Sparse">Per weight (row-major): true for the sparse group; read only at non-salient columns.</param>
/// <param name="Positive">Per weight: the first-order sign, true = +1.</param>
/// <param name="ResidualPositive">Per weight: the second-order sign; read only at salient columns.</param>
/// <param name="Scales">Per block, per row, <see cref="BillmLayout.ScalesPerRowBlock"/> values in the order of
/// <see cref="BillmScale"/>; index ((block · rows) + row) · 7 + scale.</param>
public sealed record BillmCodes(
    int Rows, int Cols, int BlockSize,
    bool[] SalientColumns, bool[] Sparse, bool[] Positive, bool[] ResidualPositive, Half[] Scales);

/// <summary>The seven FP16 numbers BiLLM stores per row of each column block, in stored order.</summary>
public enum BillmScale
{
    /// <summary>Scale of the concentrated (small-magnitude) non-salient group.</summary>
    ConcentratedAlpha,
    /// <summary>Shift of the concentrated group.</summary>
    ConcentratedMean,
    /// <summary>Scale of the sparse (large-magnitude) non-salient group.</summary>
    SparseAlpha,
    /// <summary>Shift of the sparse group.</summary>
    SparseMean,
    /// <summary>First-order scale of the salient columns.</summary>
    SalientAlpha1,
    /// <summary>Second-order (residual) scale of the salient columns.</summary>
    SalientAlpha2,
    /// <summary>The salient columns' two shifts, merged (μ₁ + μ₂).</summary>
    SalientMean,
}

/// <summary>
/// The "billm" layout: a BiLLM-binarized linear, every bit stored (DESIGN.md §3).
/// <list type="bullet">
/// <item>parameter <c>block_size</c>: the column block (128 in the paper).</item>
/// <item><c>salient_columns</c>: one bit per input column, set where the column is salient in its block.</item>
/// <item><c>signs</c>: the first sign plane, one bit per weight, row-major (bit set = +1).</item>
/// <item><c>groups</c>: one bit per non-salient weight, row-major over the non-salient columns, set = sparse group.</item>
/// <item><c>residual_signs</c>: the second sign plane, one bit per salient weight, row-major over the salient columns.</item>
/// <item><c>scales</c>: FP16 little-endian, 7 per row per block (<see cref="BillmScale"/>), block-major.</item>
/// </list>
/// Bits are packed LSB-first into bytes, each section a continuous bit stream. Per weight this is exactly
/// 2 bits (a sign, plus a group bit or a residual sign) + 7·16 / block_size bits of scales + 1/rows bits of
/// column flags: about 2.88 bits at block 128, against the paper's "1 + r_sal" (<see cref="PaperBitsPerWeight"/>).
/// </summary>
public sealed class BillmLayout : ILinearLayout
{
    /// <summary>The layout's name in the pack.</summary>
    public const string LayoutName = "billm";

    /// <summary>FP16 numbers stored per row of each column block.</summary>
    public const int ScalesPerRowBlock = 7;

    /// <inheritdoc />
    public string Name => LayoutName;

    /// <summary>
    /// The paper's count (BiLLM eq. 14): N_param = 2·r_sal + 1·(1 − r_sal) = 1 + r_sal bits per weight, where
    /// r_sal is the fraction of salient weights; scales, the group bitmap and the column flags are left out.
    /// </summary>
    public static double PaperBitsPerWeight(double salientFraction) => 1 + salientFraction;

    /// <summary>A non-salient weight: μ ± α.</summary>
    public static float NonSalientValue(Half alpha, Half mean, bool positive)
    {
        float a = (float)alpha;
        return (float)mean + (positive ? a : -a);
    }

    /// <summary>A salient weight: (±α₁ ± α₂) + μ.</summary>
    public static float SalientValue(Half alpha1, Half alpha2, Half mean, bool positive1, bool positive2)
    {
        float a1 = (float)alpha1, a2 = (float)alpha2;
        return ((positive1 ? a1 : -a1) + (positive2 ? a2 : -a2)) + (float)mean;
    }

    /// <summary>Packs <paramref name="codes"/> into a payload.</summary>
    /// <exception cref="ArgumentException">An array of <paramref name="codes"/> has the wrong length.</exception>
    public static LinearPayload Encode(BillmCodes codes)
    {
        ArgumentNullException.ThrowIfNull(codes);
        int rows = codes.Rows, cols = codes.Cols;
        if (rows <= 0 || cols <= 0 || codes.BlockSize <= 0)
            throw new ArgumentException($"billm: bad shape {rows} × {cols}, block {codes.BlockSize}", nameof(codes));
        long weights = (long)rows * cols;
        Expect(codes.SalientColumns.Length, cols, "SalientColumns");
        Expect(codes.Sparse.Length, weights, "Sparse");
        Expect(codes.Positive.Length, weights, "Positive");
        Expect(codes.ResidualPositive.Length, weights, "ResidualPositive");
        int blocks = BlockCount(cols, codes.BlockSize);
        Expect(codes.Scales.Length, (long)blocks * rows * ScalesPerRowBlock, "Scales");

        int salientColumns = codes.SalientColumns.Count(s => s);
        var columnBits = new BitWriter(cols);
        foreach (bool s in codes.SalientColumns) columnBits.Add(s);
        var signs = new BitWriter(weights);
        var groups = new BitWriter((long)rows * (cols - salientColumns));
        var residual = new BitWriter((long)rows * salientColumns);
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                long i = (long)r * cols + c;
                signs.Add(codes.Positive[i]);
                if (codes.SalientColumns[c]) residual.Add(codes.ResidualPositive[i]);
                else groups.Add(codes.Sparse[i]);
            }
        }
        var scales = new byte[codes.Scales.Length * 2];
        for (int i = 0; i < codes.Scales.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(scales.AsSpan(2 * i), codes.Scales[i]);
        return new LinearPayload(LayoutName, rows, cols,
            new Dictionary<string, int> { ["block_size"] = codes.BlockSize },
            [
                new PayloadSection("salient_columns", columnBits.Bytes),
                new PayloadSection("signs", signs.Bytes),
                new PayloadSection("groups", groups.Bytes),
                new PayloadSection("residual_signs", residual.Bytes),
                new PayloadSection("scales", scales),
            ]);
    }

    /// <summary>Unpacks a "billm" payload back into its codes.</summary>
    /// <exception cref="InvalidDataException">The payload is not a well-formed "billm" payload.</exception>
    public static BillmCodes Read(LinearPayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (payload.Layout != LayoutName) throw new InvalidDataException($"billm: payload has layout '{payload.Layout}'");
        int rows = payload.Rows, cols = payload.Cols, blockSize = payload.Parameter("block_size");
        if (rows <= 0 || cols <= 0 || blockSize <= 0) throw new InvalidDataException($"billm: bad shape {rows} × {cols}, block {blockSize}");
        long weights = (long)rows * cols;
        int blocks = BlockCount(cols, blockSize);

        var columnBits = new BitReader(payload.Section("salient_columns"), cols, "billm", "salient_columns");
        var salientColumns = new bool[cols];
        for (int c = 0; c < cols; c++) salientColumns[c] = columnBits.Next();
        int salientCount = salientColumns.Count(s => s);
        var signs = new BitReader(payload.Section("signs"), weights, "billm", "signs");
        var groups = new BitReader(payload.Section("groups"), (long)rows * (cols - salientCount), "billm", "groups");
        var residual = new BitReader(payload.Section("residual_signs"), (long)rows * salientCount, "billm", "residual_signs");
        var scaleBytes = payload.Section("scales");
        long scaleCount = (long)blocks * rows * ScalesPerRowBlock;
        if (scaleBytes.Length != scaleCount * 2)
            throw new InvalidDataException($"billm: section 'scales' has {scaleBytes.Length} bytes, expected {scaleCount * 2}");

        var positive = new bool[weights];
        var sparse = new bool[weights];
        var residualPositive = new bool[weights];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                long i = (long)r * cols + c;
                positive[i] = signs.Next();
                if (salientColumns[c]) residualPositive[i] = residual.Next();
                else sparse[i] = groups.Next();
            }
        }
        var scales = new Half[scaleCount];
        for (int i = 0; i < scales.Length; i++) scales[i] = BinaryPrimitives.ReadHalfLittleEndian(scaleBytes.AsSpan(2 * i));
        return new BillmCodes(rows, cols, blockSize, salientColumns, sparse, positive, residualPositive, scales);
    }

    /// <inheritdoc />
    public void Decode(LinearPayload payload, Span<float> destination) => Dequantize(Read(payload), destination);

    /// <summary>The dense weights <paramref name="codes"/> stand for, rows × cols row-major.</summary>
    public static void Dequantize(BillmCodes codes, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(codes);
        int rows = codes.Rows, cols = codes.Cols;
        if (destination.Length != (long)rows * cols)
            throw new ArgumentException($"billm: destination has {destination.Length} values, expected {(long)rows * cols}", nameof(destination));
        var scales = codes.Scales;
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                long i = (long)r * cols + c;
                int s = ((c / codes.BlockSize) * rows + r) * ScalesPerRowBlock;
                destination[(int)i] = codes.SalientColumns[c]
                    ? SalientValue(scales[s + (int)BillmScale.SalientAlpha1], scales[s + (int)BillmScale.SalientAlpha2],
                        scales[s + (int)BillmScale.SalientMean], codes.Positive[i], codes.ResidualPositive[i])
                    : codes.Sparse[i]
                        ? NonSalientValue(scales[s + (int)BillmScale.SparseAlpha], scales[s + (int)BillmScale.SparseMean], codes.Positive[i])
                        : NonSalientValue(scales[s + (int)BillmScale.ConcentratedAlpha], scales[s + (int)BillmScale.ConcentratedMean], codes.Positive[i]);
            }
        }
    }

    /// <summary>Number of column blocks (the last may be short).</summary>
    public static int BlockCount(int cols, int blockSize) => (cols + blockSize - 1) / blockSize;

    private static void Expect(long actual, long expected, string what)
    {
        if (actual != expected) throw new ArgumentException($"billm: {what} has {actual} entries, expected {expected}");
    }
}
