using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SagePtq.Runtime.Packing.Layouts;

/// <summary>
/// Two 16 × 16 byte transposes side by side, the one reordering both the row-tiled sign order
/// (<see cref="SignPlanes.Tile"/>, <see cref="SignPlanes.Untile"/>) and the CPU kernel's lookup tables need.
/// </summary>
[SkipLocalsInit]
internal static unsafe class ByteTranspose
{
    /// <summary>
    /// Reads 16 rows of 32 bytes (<paramref name="sourceStride"/> apart) and writes 16 rows of 32 bytes
    /// (<paramref name="destinationStride"/> apart) such that, for r, c in 0..15 and h in 0..1,
    /// destination[c][16·h + r] = source[r][16·h + c]: the low and the high 16 bytes of the rows are transposed
    /// separately. With AVX2: four rounds of byte interleaves within each 128-bit lane, each pairing rows k and
    /// k + 8, so that every round moves one bit of the row index into the byte index; else one byte at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose16x2(byte* source, nint sourceStride, byte* destination, nint destinationStride)
    {
        if (!Avx2.IsSupported)
        {
            Transpose16x2Reference(source, sourceStride, destination, destinationStride);
            return;
        }
        // The 16 rows stay in registers (named, so the JIT can keep them there; in stack arrays this took 5 times
        // as long, which showed in the lookup tables' share of a decode token).
        byte* s = source;
        nint ss = sourceStride;
        Vector256<byte> x0 = Avx.LoadVector256(s), x1 = Avx.LoadVector256(s + ss), x2 = Avx.LoadVector256(s + 2 * ss), x3 = Avx.LoadVector256(s + 3 * ss),
            x4 = Avx.LoadVector256(s + 4 * ss), x5 = Avx.LoadVector256(s + 5 * ss), x6 = Avx.LoadVector256(s + 6 * ss), x7 = Avx.LoadVector256(s + 7 * ss),
            x8 = Avx.LoadVector256(s + 8 * ss), x9 = Avx.LoadVector256(s + 9 * ss), x10 = Avx.LoadVector256(s + 10 * ss), x11 = Avx.LoadVector256(s + 11 * ss),
            x12 = Avx.LoadVector256(s + 12 * ss), x13 = Avx.LoadVector256(s + 13 * ss), x14 = Avx.LoadVector256(s + 14 * ss), x15 = Avx.LoadVector256(s + 15 * ss);
        for (int round = 0; round < 4; round++)
            Interleave(ref x0, ref x1, ref x2, ref x3, ref x4, ref x5, ref x6, ref x7, ref x8, ref x9, ref x10, ref x11, ref x12, ref x13, ref x14, ref x15);
        byte* d = destination;
        nint ds = destinationStride;
        Avx.Store(d, x0); Avx.Store(d + ds, x1); Avx.Store(d + 2 * ds, x2); Avx.Store(d + 3 * ds, x3);
        Avx.Store(d + 4 * ds, x4); Avx.Store(d + 5 * ds, x5); Avx.Store(d + 6 * ds, x6); Avx.Store(d + 7 * ds, x7);
        Avx.Store(d + 8 * ds, x8); Avx.Store(d + 9 * ds, x9); Avx.Store(d + 10 * ds, x10); Avx.Store(d + 11 * ds, x11);
        Avx.Store(d + 12 * ds, x12); Avx.Store(d + 13 * ds, x13); Avx.Store(d + 14 * ds, x14); Avx.Store(d + 15 * ds, x15);
    }

    /// <summary>One round: rows k and k + 8 interleaved byte by byte, the low halves to row 2k, the high halves to row 2k + 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Interleave(
        ref Vector256<byte> r0, ref Vector256<byte> r1, ref Vector256<byte> r2, ref Vector256<byte> r3,
        ref Vector256<byte> r4, ref Vector256<byte> r5, ref Vector256<byte> r6, ref Vector256<byte> r7,
        ref Vector256<byte> r8, ref Vector256<byte> r9, ref Vector256<byte> r10, ref Vector256<byte> r11,
        ref Vector256<byte> r12, ref Vector256<byte> r13, ref Vector256<byte> r14, ref Vector256<byte> r15) =>
        (r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15) = (
            Avx2.UnpackLow(r0, r8), Avx2.UnpackHigh(r0, r8), Avx2.UnpackLow(r1, r9), Avx2.UnpackHigh(r1, r9),
            Avx2.UnpackLow(r2, r10), Avx2.UnpackHigh(r2, r10), Avx2.UnpackLow(r3, r11), Avx2.UnpackHigh(r3, r11),
            Avx2.UnpackLow(r4, r12), Avx2.UnpackHigh(r4, r12), Avx2.UnpackLow(r5, r13), Avx2.UnpackHigh(r5, r13),
            Avx2.UnpackLow(r6, r14), Avx2.UnpackHigh(r6, r14), Avx2.UnpackLow(r7, r15), Avx2.UnpackHigh(r7, r15));

    /// <summary>The definition of <see cref="Transpose16x2"/>, one byte at a time: its oracle, and the path without AVX2.</summary>
    internal static void Transpose16x2Reference(byte* source, nint sourceStride, byte* destination, nint destinationStride)
    {
        for (int h = 0; h < 32; h += 16)
            for (int r = 0; r < 16; r++)
                for (int c = 0; c < 16; c++) destination[c * destinationStride + h + r] = source[r * sourceStride + h + c];
    }
}
