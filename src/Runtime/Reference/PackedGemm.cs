using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SagePtq.Runtime.Reference;

/// <summary>
/// C = A · Bᵀ (row-major A [M × K], B [N × K]) for AVX2 machines, written for their 16 vector
/// registers. <see cref="Gemm"/>'s 4 × 4 dot-product kernel needs 21 live vectors, so on AVX2 the
/// JIT spills accumulators to the stack on every step; this one keeps a 6 × 16 block of C in 12
/// registers (6 rows × two 8-float vectors) and, per step of K, loads 16 consecutive values of a
/// packed panel of B and broadcasts one value of each of 6 rows of A: 12 FMAs for 8 loads, no
/// horizontal sums. B is packed once per call into panels of 16 of its rows, transposed
/// (panel[k·16 + c] = B[n0 + c, k], zeros past N), so the kernel reads it contiguously.
/// <para>
/// Each element of C is one FMA chain over k = 0..K−1 in order, whatever the blocking or the
/// number of threads, so results are deterministic. They differ from <see cref="Gemm"/>'s (which
/// adds lane-wise partial sums) in the last bits only; <see cref="ReferenceOps.MatVec"/> is the
/// oracle for both.
/// </para>
/// </summary>
internal static class PackedGemm
{
    /// <summary>Columns of C per panel: two AVX vectors.</summary>
    public const int PanelWidth = 16;

    /// <summary>Rows of C per micro-kernel call.</summary>
    public const int MicroRows = 6;

    /// <summary>Rows of C per work item (a multiple of <see cref="MicroRows"/>); its A rows stay in L2 while the panels pass.</summary>
    private const int RowBlock = 16 * MicroRows;

    /// <summary>Panels per work item.</summary>
    private const int PanelsPerItem = 4;

    /// <summary>Whether this CPU has what the kernel uses (AVX2 and FMA3).</summary>
    public static bool IsSupported => Fma.IsSupported && Avx2.IsSupported;

    /// <summary>C = A · Bᵀ, work items (row block × panel group) spread over all cores.</summary>
    /// <exception cref="ArgumentException">The shapes do not fit.</exception>
    /// <exception cref="PlatformNotSupportedException">No AVX2/FMA (check <see cref="IsSupported"/>).</exception>
    public static void MultiplyTransposed(MatrixView a, MatrixView b, MatrixView c) => Multiply(a, b, c, parallel: true);

    /// <summary>C = A · Bᵀ on the calling thread, for callers that are already parallel (attention heads).</summary>
    public static void MultiplyTransposedSerial(MatrixView a, MatrixView b, MatrixView c) => Multiply(a, b, c, parallel: false);

    private static void Multiply(MatrixView a, MatrixView b, MatrixView c, bool parallel)
    {
        if (a.Columns != b.Columns || c.Rows != a.Rows || c.Columns != b.Rows)
            throw new ArgumentException($"A [{a.Rows}×{a.Columns}] · Bᵀ [{b.Columns}×{b.Rows}] does not fit C [{c.Rows}×{c.Columns}]");
        if (!IsSupported) throw new PlatformNotSupportedException("the packed GEMM needs AVX2 and FMA");
        if (c.Rows == 0 || c.Columns == 0) return;
        int k = a.Columns;
        if (k == 0)
        {
            for (int i = 0; i < c.Rows; i++) c.Row(i).Clear();
            return;
        }
        int panels = (b.Rows + PanelWidth - 1) / PanelWidth;
        int panelLength = k * PanelWidth;
        var packed = ArrayPool<float>.Shared.Rent(Math.Max(1, panels * panelLength));
        try
        {
            int rowBlocks = (a.Rows + RowBlock - 1) / RowBlock;
            int panelGroups = (panels + PanelsPerItem - 1) / PanelsPerItem;
            if (parallel && (long)a.Rows * b.Rows * k >= 1 << 18 && rowBlocks * panelGroups > 1)
            {
                Parallel.For(0, panels, p => PackPanel(b, p, packed.AsSpan(p * panelLength, panelLength)));
                Parallel.For(0, rowBlocks * panelGroups, item => RunItem(a, c, packed, panelLength, item / panelGroups, item % panelGroups, panels));
            }
            else
            {
                for (int p = 0; p < panels; p++) PackPanel(b, p, packed.AsSpan(p * panelLength, panelLength));
                for (int rb = 0; rb < rowBlocks; rb++)
                    for (int pg = 0; pg < panelGroups; pg++) RunItem(a, c, packed, panelLength, rb, pg, panels);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packed);
        }
    }

    /// <summary>
    /// panel[k·16 + c] = B[16·p + c, k], zero for rows past B's end. Full panels move 8 × 8 blocks through
    /// registers (eight row loads, an in-register transpose, eight stores): attention packs a head's keys
    /// and values for every block of queries, and the scalar copy cost a fifth as much as the products.
    /// </summary>
    private static unsafe void PackPanel(MatrixView b, int p, Span<float> panel)
    {
        int n0 = p * PanelWidth, width = Math.Min(PanelWidth, b.Rows - n0), k = b.Columns;
        int vectorEnd = 0;
        if (width < PanelWidth) panel.Clear();
        else
        {
            vectorEnd = k - k % 8;
            fixed (float* source = &b.Data[b.Offset + n0 * b.Stride], target = panel)
            {
                for (int half = 0; half < 2; half++)
                    for (int k0 = 0; k0 < vectorEnd; k0 += 8)
                        Transpose8x8(source + (long)half * 8 * b.Stride + k0, b.Stride, target + k0 * PanelWidth + half * 8, PanelWidth);
            }
        }
        for (int col = 0; col < width; col++)
        {
            var row = b.Row(n0 + col);
            for (int p2 = vectorEnd; p2 < k; p2++) panel[p2 * PanelWidth + col] = row[p2];
        }
    }

    /// <summary>target[j · targetStride + i] = source[i · sourceStride + j] for i, j in 0..8.</summary>
    private static unsafe void Transpose8x8(float* source, long sourceStride, float* target, int targetStride)
    {
        var r0 = Avx.LoadVector256(source);
        var r1 = Avx.LoadVector256(source + sourceStride);
        var r2 = Avx.LoadVector256(source + 2 * sourceStride);
        var r3 = Avx.LoadVector256(source + 3 * sourceStride);
        var r4 = Avx.LoadVector256(source + 4 * sourceStride);
        var r5 = Avx.LoadVector256(source + 5 * sourceStride);
        var r6 = Avx.LoadVector256(source + 6 * sourceStride);
        var r7 = Avx.LoadVector256(source + 7 * sourceStride);
        // Interleave pairs of rows, then pairs of pairs, then swap 128-bit halves.
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(target, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(target + targetStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(target + 2 * targetStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(target + 3 * targetStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(target + 4 * targetStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(target + 5 * targetStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(target + 6 * targetStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(target + 7 * targetStride, Avx.Permute2x128(u3, u7, 0x31));
    }

    private static unsafe void RunItem(MatrixView a, MatrixView c, float[] packed, int panelLength, int rowBlock, int panelGroup, int panels)
    {
        int k = a.Columns;
        long stride = a.Stride;
        int rowStart = rowBlock * RowBlock, rowEnd = Math.Min(a.Rows, rowStart + RowBlock);
        int panelStart = panelGroup * PanelsPerItem, panelEnd = Math.Min(panels, panelStart + PanelsPerItem);
        float* edge = stackalloc float[MicroRows * PanelWidth];
        fixed (float* aBase = &a.Data[a.Offset], cBase = &c.Data[c.Offset], packedBase = packed)
        {
            for (int p = panelStart; p < panelEnd; p++)
            {
                float* panel = packedBase + (long)p * panelLength;
                int column = p * PanelWidth, width = Math.Min(PanelWidth, c.Columns - column);
                for (int i = rowStart; i < rowEnd; i += MicroRows)
                {
                    int rows = Math.Min(MicroRows, rowEnd - i);
                    // Past the last row the kernel rereads it; those results land in the edge buffer and are dropped.
                    long last = (rows - 1) * stride;
                    bool direct = rows == MicroRows && width == PanelWidth;
                    float* target = direct ? cBase + (long)i * c.Stride + column : edge;
                    Kernel6x16(aBase + i * stride, 1, Math.Min(stride, last), Math.Min(2 * stride, last), Math.Min(3 * stride, last),
                        Math.Min(4 * stride, last), Math.Min(5 * stride, last), panel, PanelWidth, k, target, direct ? c.Stride : PanelWidth);
                    if (direct) continue;
                    for (int r = 0; r < rows; r++)
                        new ReadOnlySpan<float>(edge + r * PanelWidth, width).CopyTo(new Span<float>(cBase + (long)(i + r) * c.Stride + column, width));
                }
            }
        }
    }

    /// <summary>
    /// output[r, 0..16) = Σ_p a_r[p · aStep] · b[p · bStep + 0..16) for the six rows a_r = a0 + o_r (o_0 = 0),
    /// each sum one FMA chain in order of p. <paramref name="aStep"/> is the distance between consecutive k
    /// of one row of A (1 for a row-major A); <paramref name="bStep"/> that between consecutive k of B's
    /// 16 values (16 for a packed panel, the row stride when B is another matrix's rows).
    /// </summary>
    internal static unsafe void Kernel6x16(float* a0, int aStep, long o1, long o2, long o3, long o4, long o5,
        float* b, int bStep, int k, float* output, int outputStride)
    {
        float* a1 = a0 + o1, a2 = a0 + o2, a3 = a0 + o3, a4 = a0 + o4, a5 = a0 + o5;
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        long aOffset = 0;
        for (int p = 0; p < k; p++, b += bStep, aOffset += aStep)
        {
            var b0 = Avx.LoadVector256(b);
            var b1 = Avx.LoadVector256(b + 8);
            var x = Avx.BroadcastScalarToVector256(a0 + aOffset);
            c00 = Fma.MultiplyAdd(x, b0, c00); c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Avx.BroadcastScalarToVector256(a1 + aOffset);
            c10 = Fma.MultiplyAdd(x, b0, c10); c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Avx.BroadcastScalarToVector256(a2 + aOffset);
            c20 = Fma.MultiplyAdd(x, b0, c20); c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Avx.BroadcastScalarToVector256(a3 + aOffset);
            c30 = Fma.MultiplyAdd(x, b0, c30); c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Avx.BroadcastScalarToVector256(a4 + aOffset);
            c40 = Fma.MultiplyAdd(x, b0, c40); c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Avx.BroadcastScalarToVector256(a5 + aOffset);
            c50 = Fma.MultiplyAdd(x, b0, c50); c51 = Fma.MultiplyAdd(x, b1, c51);
        }
        Avx.Store(output, c00); Avx.Store(output + 8, c01); output += outputStride;
        Avx.Store(output, c10); Avx.Store(output + 8, c11); output += outputStride;
        Avx.Store(output, c20); Avx.Store(output + 8, c21); output += outputStride;
        Avx.Store(output, c30); Avx.Store(output + 8, c31); output += outputStride;
        Avx.Store(output, c40); Avx.Store(output + 8, c41); output += outputStride;
        Avx.Store(output, c50); Avx.Store(output + 8, c51);
    }
}
