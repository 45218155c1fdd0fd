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
        var a = stackalloc Vector256<byte>[16];
        var b = stackalloc Vector256<byte>[16];
        for (int r = 0; r < 16; r++) a[r] = Avx.LoadVector256(source + r * sourceStride);
        for (int round = 0; round < 4; round++)
        {
            for (int k = 0; k < 8; k++)
            {
                b[2 * k] = Avx2.UnpackLow(a[k], a[k + 8]);
                b[2 * k + 1] = Avx2.UnpackHigh(a[k], a[k + 8]);
            }
            var swap = a;
            a = b;
            b = swap;
        }
        for (int c = 0; c < 16; c++) Avx.Store(destination + c * destinationStride, a[c]);
    }

    /// <summary>The definition of <see cref="Transpose16x2"/>, one byte at a time: its oracle, and the path without AVX2.</summary>
    internal static void Transpose16x2Reference(byte* source, nint sourceStride, byte* destination, nint destinationStride)
    {
        for (int h = 0; h < 32; h += 16)
            for (int r = 0; r < 16; r++)
                for (int c = 0; c < 16; c++) destination[c * destinationStride + h + r] = source[r * sourceStride + h + c];
    }
}
