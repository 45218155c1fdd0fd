namespace SagePtq.Runtime.Packing.Layouts;

/// <summary>
/// The order of sign bits inside one stored row (DESIGN.md §6, research/runtime.md §7.1), the one
/// definition the layout, the CPU kernels and the CUDA kernels share.
/// <para>
/// A row of <c>cols</c> weights is cut into blocks of <see cref="BlockWeights"/> from column 0; the last
/// block holds the remaining <c>n = cols mod 256</c> weights when that is not 0. A block of n weights takes
/// B = ⌈n / 8⌉ bytes (32 for a full block), and its weight t is bit ⌊t / B⌋ of byte t mod B. In a full
/// block, bit j of the 32 bytes ("plane j") is therefore the signs of 32 consecutive weights
/// 32j .. 32j + 31: one 32-byte load, a shift by j and an AND with 1 give 32 bytes of 0/1 lined up with
/// 32 consecutive activations. A row takes ⌈cols / 8⌉ bytes, exactly as a plain bit stream would.
/// </para>
/// </summary>
public static class SignPlanes
{
    /// <summary>Weights in one full block: 8 planes of 32.</summary>
    public const int BlockWeights = 256;

    /// <summary>Bytes of one full block.</summary>
    public const int BlockBytes = BlockWeights / 8;

    /// <summary>Bytes of one row of <paramref name="cols"/> weights.</summary>
    public static int RowBytes(int cols) => (cols + 7) / 8;

    /// <summary>Blocks in a row, the last one possibly short.</summary>
    public static int BlockCount(int cols) => (cols + BlockWeights - 1) / BlockWeights;

    /// <summary>Byte (from the row start) and bit of the sign of column <paramref name="col"/>.</summary>
    public static (int Byte, int Bit) Locate(int col, int cols)
    {
        int blockStart = col / BlockWeights * BlockWeights;
        int bytesInBlock = (Math.Min(BlockWeights, cols - blockStart) + 7) / 8;
        int t = col - blockStart;
        return (blockStart / 8 + t % bytesInBlock, t / bytesInBlock);
    }

    /// <summary>Whether column <paramref name="col"/>'s sign is + in a row stored in plane order.</summary>
    public static bool IsPositive(ReadOnlySpan<byte> row, int col, int cols)
    {
        var (b, bit) = Locate(col, cols);
        return (row[b] >> bit & 1) != 0;
    }

    /// <summary>
    /// Reorders rows of sign bits from plain LSB-first order (bit j of a row = byte j / 8, bit j % 8) into
    /// plane order. Both spans hold whole rows of <see cref="RowBytes"/> bytes.
    /// </summary>
    public static void FromLinear(ReadOnlySpan<byte> linear, Span<byte> planes, int cols)
    {
        int stride = RowBytes(cols);
        planes.Clear();
        for (int row = 0; row * stride < linear.Length; row++)
        {
            var source = linear.Slice(row * stride, stride);
            var target = planes.Slice(row * stride, stride);
            for (int j = 0; j < cols; j++)
            {
                if ((source[j >> 3] >> (j & 7) & 1) == 0) continue;
                var (b, bit) = Locate(j, cols);
                target[b] |= (byte)(1 << bit);
            }
        }
    }

    /// <summary>The inverse of <see cref="FromLinear"/>.</summary>
    public static void ToLinear(ReadOnlySpan<byte> planes, Span<byte> linear, int cols)
    {
        int stride = RowBytes(cols);
        linear.Clear();
        for (int row = 0; row * stride < planes.Length; row++)
        {
            var source = planes.Slice(row * stride, stride);
            var target = linear.Slice(row * stride, stride);
            for (int j = 0; j < cols; j++)
                if (IsPositive(source, j, cols)) target[j >> 3] |= (byte)(1 << (j & 7));
        }
    }
}
