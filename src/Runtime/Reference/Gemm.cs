using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SagePtq.Runtime.Reference;

/// <summary>
/// C = A · Bᵀ for row-major A [M × K] and B [N × K]. This is the shape of every linear layer
/// (PyTorch stores <c>nn.Linear.weight</c> as [out, in] and computes y = x · Wᵀ) and of attention
/// (scores = Q · Kᵀ; output = P · (Vᵀ)ᵀ with V kept transposed in the cache). Most of the forward
/// pass's time is spent here; <see cref="ReferenceOps.MatVec"/> is the oracle it is tested against.
/// <para>
/// Blocking: C is cut into 64 × 64 tiles, which threads take in turn; a tile reads 64 rows of A
/// and 64 rows of B (at most 2 × 64 × K floats, which stays in L2). Inside a tile a 4 × 4
/// micro-kernel keeps 16 vector accumulators in registers and walks K once, so each vector
/// loaded from A or B feeds four FMAs. Edges that are not a multiple of 4 fall back to 1 × 4
/// and 1 × 1 kernels; K that is not a multiple of the vector width ends with a scalar tail.
/// On AVX2 machines without AVX-512 this kernel would spill registers (21 live vectors, 16 registers),
/// so products of <see cref="PackedMinRows"/> rows or more go to <see cref="PackedGemm"/> there.
/// </para>
/// </summary>
internal static class Gemm
{
    private const int TileRows = 64;
    private const int TileColumns = 64;

    /// <summary>
    /// From this many rows of A on, machines with AVX2 and FMA use <see cref="PackedGemm"/> (packing B costs
    /// N × K copies, repaid over the rows); fewer rows (decoding) keep the dot-product kernel. AVX-512 machines
    /// too: they were left out on the expectation that the 512-bit dot-product kernel, with 32 registers, would not
    /// spill, but on the Zen 4 class machine a calibrated sagelm-7m quantization took 60–67 s with it against 47–54 s
    /// with the packed kernel.
    /// </summary>
    internal const int PackedMinRows = 16;

    /// <summary>Whether a product with <paramref name="rows"/> rows of A goes to <see cref="PackedGemm"/>.</summary>
    internal static bool UsesPacked(int rows) => rows >= PackedMinRows && PackedGemm.IsSupported;

    /// <summary>C = A · Bᵀ, tiles spread over all cores.</summary>
    public static void MultiplyTransposed(MatrixView a, MatrixView b, MatrixView c)
    {
        CheckShapes(a, b, c);
        if (UsesPacked(a.Rows))
        {
            PackedGemm.MultiplyTransposed(a, b, c);
            return;
        }
        int rowTiles = (a.Rows + TileRows - 1) / TileRows;
        int columnTiles = (b.Rows + TileColumns - 1) / TileColumns;
        int tiles = rowTiles * columnTiles;
        if (tiles == 1)
        {
            MultiplyTransposedSerial(a, b, c);
            return;
        }
        // Consecutive tile indices share a block of A, so a thread working through a range reuses it.
        Parallel.For(0, tiles, tile =>
        {
            int rowStart = tile / columnTiles * TileRows, columnStart = tile % columnTiles * TileColumns;
            int rows = Math.Min(TileRows, a.Rows - rowStart), columns = Math.Min(TileColumns, b.Rows - columnStart);
            MultiplyTransposedSerial(a.RowRange(rowStart, rows), b.RowRange(columnStart, columns), c.RowRange(rowStart, rows).ColumnRange(columnStart, columns));
        });
    }

    /// <summary>C = A · Bᵀ on the calling thread, for callers that are already parallel (attention heads).</summary>
    public static void MultiplyTransposedSerial(MatrixView a, MatrixView b, MatrixView c)
    {
        if (UsesPacked(a.Rows)) PackedGemm.MultiplyTransposedSerial(a, b, c);
        else if (Lanes512.IsSupported) MultiplyTransposedSerial<Lanes512, Vector512<float>>(a, b, c);
        else if (Lanes256.IsSupported) MultiplyTransposedSerial<Lanes256, Vector256<float>>(a, b, c);
        else MultiplyTransposedSerial<Lanes128, Vector128<float>>(a, b, c);
    }

    /// <summary>C = A · Bᵀ with a chosen vector width (tests run every width this CPU supports).</summary>
    internal static void MultiplyTransposedSerial<TLanes, TVector>(MatrixView a, MatrixView b, MatrixView c)
        where TLanes : ISimdLanes<TVector> where TVector : struct
    {
        CheckShapes(a, b, c);
        int k = a.Columns;
        if (k == 0)
        {
            for (int i = 0; i < c.Rows; i++) c.Row(i).Clear();
            return;
        }
        int fullRows = a.Rows - a.Rows % 4, fullColumns = b.Rows - b.Rows % 4;
        for (int i = 0; i < fullRows; i += 4)
        {
            for (int j = 0; j < fullColumns; j += 4)
                Tile4x4<TLanes, TVector>(ref a[i, 0], a.Stride, ref b[j, 0], b.Stride, k, ref c[i, j], c.Stride);
            for (int j = fullColumns; j < b.Rows; j++)
                for (int r = i; r < i + 4; r++) c[r, j] = Dot<TLanes, TVector>(ref a[r, 0], ref b[j, 0], k);
        }
        for (int i = fullRows; i < a.Rows; i++)
        {
            for (int j = 0; j < fullColumns; j += 4)
                Tile1x4<TLanes, TVector>(ref a[i, 0], ref b[j, 0], b.Stride, k, ref c[i, j]);
            for (int j = fullColumns; j < b.Rows; j++) c[i, j] = Dot<TLanes, TVector>(ref a[i, 0], ref b[j, 0], k);
        }
    }

    private static void CheckShapes(MatrixView a, MatrixView b, MatrixView c)
    {
        if (a.Columns != b.Columns || c.Rows != a.Rows || c.Columns != b.Rows)
            throw new ArgumentException($"A [{a.Rows}×{a.Columns}] · Bᵀ [{b.Columns}×{b.Rows}] does not fit C [{c.Rows}×{c.Columns}]");
    }

    private static void Tile4x4<TLanes, TVector>(ref float a0, int lda, ref float b0, int ldb, int k, ref float c0, int ldc)
        where TLanes : ISimdLanes<TVector> where TVector : struct
    {
        ref float a1 = ref Unsafe.Add(ref a0, lda), a2 = ref Unsafe.Add(ref a1, lda), a3 = ref Unsafe.Add(ref a2, lda);
        ref float b1 = ref Unsafe.Add(ref b0, ldb), b2 = ref Unsafe.Add(ref b1, ldb), b3 = ref Unsafe.Add(ref b2, ldb);
        TVector s00 = TLanes.Zero, s01 = TLanes.Zero, s02 = TLanes.Zero, s03 = TLanes.Zero;
        TVector s10 = TLanes.Zero, s11 = TLanes.Zero, s12 = TLanes.Zero, s13 = TLanes.Zero;
        TVector s20 = TLanes.Zero, s21 = TLanes.Zero, s22 = TLanes.Zero, s23 = TLanes.Zero;
        TVector s30 = TLanes.Zero, s31 = TLanes.Zero, s32 = TLanes.Zero, s33 = TLanes.Zero;
        int vectorEnd = k - k % TLanes.Count;
        for (int p = 0; p < vectorEnd; p += TLanes.Count)
        {
            TVector x0 = TLanes.Load(ref a0, p), x1 = TLanes.Load(ref a1, p), x2 = TLanes.Load(ref a2, p), x3 = TLanes.Load(ref a3, p);
            TVector w = TLanes.Load(ref b0, p);
            s00 = TLanes.MultiplyAdd(x0, w, s00); s10 = TLanes.MultiplyAdd(x1, w, s10); s20 = TLanes.MultiplyAdd(x2, w, s20); s30 = TLanes.MultiplyAdd(x3, w, s30);
            w = TLanes.Load(ref b1, p);
            s01 = TLanes.MultiplyAdd(x0, w, s01); s11 = TLanes.MultiplyAdd(x1, w, s11); s21 = TLanes.MultiplyAdd(x2, w, s21); s31 = TLanes.MultiplyAdd(x3, w, s31);
            w = TLanes.Load(ref b2, p);
            s02 = TLanes.MultiplyAdd(x0, w, s02); s12 = TLanes.MultiplyAdd(x1, w, s12); s22 = TLanes.MultiplyAdd(x2, w, s22); s32 = TLanes.MultiplyAdd(x3, w, s32);
            w = TLanes.Load(ref b3, p);
            s03 = TLanes.MultiplyAdd(x0, w, s03); s13 = TLanes.MultiplyAdd(x1, w, s13); s23 = TLanes.MultiplyAdd(x2, w, s23); s33 = TLanes.MultiplyAdd(x3, w, s33);
        }
        ref float c1 = ref Unsafe.Add(ref c0, ldc), c2 = ref Unsafe.Add(ref c1, ldc), c3 = ref Unsafe.Add(ref c2, ldc);
        Store4<TLanes, TVector>(ref c0, ref a0, s00, s01, s02, s03, ref b0, ldb, vectorEnd, k);
        Store4<TLanes, TVector>(ref c1, ref a1, s10, s11, s12, s13, ref b0, ldb, vectorEnd, k);
        Store4<TLanes, TVector>(ref c2, ref a2, s20, s21, s22, s23, ref b0, ldb, vectorEnd, k);
        Store4<TLanes, TVector>(ref c3, ref a3, s30, s31, s32, s33, ref b0, ldb, vectorEnd, k);
    }

    /// <summary>One row of A against four rows of B: the decode-time (M = 1) kernel.</summary>
    private static void Tile1x4<TLanes, TVector>(ref float a0, ref float b0, int ldb, int k, ref float c0)
        where TLanes : ISimdLanes<TVector> where TVector : struct
    {
        ref float b1 = ref Unsafe.Add(ref b0, ldb), b2 = ref Unsafe.Add(ref b1, ldb), b3 = ref Unsafe.Add(ref b2, ldb);
        TVector s0 = TLanes.Zero, s1 = TLanes.Zero, s2 = TLanes.Zero, s3 = TLanes.Zero;
        int vectorEnd = k - k % TLanes.Count;
        for (int p = 0; p < vectorEnd; p += TLanes.Count)
        {
            TVector x = TLanes.Load(ref a0, p);
            s0 = TLanes.MultiplyAdd(x, TLanes.Load(ref b0, p), s0);
            s1 = TLanes.MultiplyAdd(x, TLanes.Load(ref b1, p), s1);
            s2 = TLanes.MultiplyAdd(x, TLanes.Load(ref b2, p), s2);
            s3 = TLanes.MultiplyAdd(x, TLanes.Load(ref b3, p), s3);
        }
        Store4<TLanes, TVector>(ref c0, ref a0, s0, s1, s2, s3, ref b0, ldb, vectorEnd, k);
    }

    private static float Dot<TLanes, TVector>(ref float a, ref float b, int k)
        where TLanes : ISimdLanes<TVector> where TVector : struct
    {
        TVector sum = TLanes.Zero;
        int vectorEnd = k - k % TLanes.Count;
        for (int p = 0; p < vectorEnd; p += TLanes.Count)
            sum = TLanes.MultiplyAdd(TLanes.Load(ref a, p), TLanes.Load(ref b, p), sum);
        return TLanes.Sum(sum) + ScalarDot(ref a, ref b, vectorEnd, k);
    }

    /// <summary>Writes four dot products of one A row: the vector sums plus the scalar tail past <paramref name="vectorEnd"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4<TLanes, TVector>(ref float c, ref float a, TVector s0, TVector s1, TVector s2, TVector s3,
        ref float b0, int ldb, int vectorEnd, int k)
        where TLanes : ISimdLanes<TVector> where TVector : struct
    {
        c = TLanes.Sum(s0) + ScalarDot(ref a, ref b0, vectorEnd, k);
        Unsafe.Add(ref c, 1) = TLanes.Sum(s1) + ScalarDot(ref a, ref Unsafe.Add(ref b0, ldb), vectorEnd, k);
        Unsafe.Add(ref c, 2) = TLanes.Sum(s2) + ScalarDot(ref a, ref Unsafe.Add(ref b0, 2 * ldb), vectorEnd, k);
        Unsafe.Add(ref c, 3) = TLanes.Sum(s3) + ScalarDot(ref a, ref Unsafe.Add(ref b0, 3 * ldb), vectorEnd, k);
    }

    private static float ScalarDot(ref float a, ref float b, int from, int to)
    {
        float sum = 0;
        for (int p = from; p < to; p++) sum += Unsafe.Add(ref a, p) * Unsafe.Add(ref b, p);
        return sum;
    }
}
