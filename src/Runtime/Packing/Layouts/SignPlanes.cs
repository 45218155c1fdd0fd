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
/// <para>
/// A whole section of rows is stored either row after row (each row in plane order, <see cref="RowBytes"/>
/// bytes) or, with <see cref="SageFlags.TiledSigns"/>, row-tiled: rows are grouped in tiles of
/// <see cref="TileRows"/> = 16 from row 0, and the last rows mod 16 rows form no tile but follow all tiles,
/// each row in plane order as above (from <see cref="RemainderStart"/>). A tile takes 16 · RowBytes bytes
/// (<see cref="TileBytes"/>): for each full block b, 512 bytes at tile offset 512·b whose byte 32·j + 16·h + r
/// (j 0..15, h 0..1, r 0..15) is plane-order byte 16·h + j of block b of the tile's row r, so one 32-byte load
/// at 32·j holds byte j of the block for the 16 rows in its low half and byte 16 + j in its high half (what a
/// lookup-table kernel over 16 rows wants); then the short last block, if any, at tile offset 512·(cols / 256):
/// its B = ⌈(cols mod 256) / 8⌉ bytes of row r at r·B, row after row. The section keeps rows · RowBytes bytes.
/// <see cref="Tile"/>, <see cref="Untile"/> and <see cref="TiledOffset"/> are the definitions in code.
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

    /// <summary>Rows in one tile of the row-tiled order (<see cref="SageFlags.TiledSigns"/>).</summary>
    public const int TileRows = 16;

    /// <summary>Bytes of one tile of <see cref="TileRows"/> rows of <paramref name="cols"/> weights.</summary>
    public static long TileBytes(int cols) => (long)TileRows * RowBytes(cols);

    /// <summary>Section offset of the first row that is in no tile (rows − rows mod 16 of them precede it, tiled).</summary>
    public static long RemainderStart(int rows, int cols) => rows / TileRows * TileBytes(cols);

    /// <summary>
    /// Where plane-order byte <paramref name="byteInRow"/> of <paramref name="row"/> lies in a row-tiled section
    /// of <paramref name="rows"/> rows of <paramref name="cols"/> weights.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The shape is empty or the row or byte is outside it.</exception>
    public static long TiledOffset(int row, int byteInRow, int rows, int cols)
    {
        CheckShape(rows, cols);
        int stride = RowBytes(cols);
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, rows);
        ArgumentOutOfRangeException.ThrowIfNegative(byteInRow);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(byteInRow, stride);
        int tiledRows = rows / TileRows * TileRows;
        if (row >= tiledRows) return RemainderStart(rows, cols) + (long)(row - tiledRows) * stride + byteInRow;
        long tile = row / TileRows * TileBytes(cols);
        int r = row % TileRows, fullBytes = cols / BlockWeights * BlockBytes;
        if (byteInRow < fullBytes)
        {
            int block = byteInRow / BlockBytes, inBlock = byteInRow % BlockBytes;
            return tile + TileRows * BlockBytes * block + 32 * (inBlock % 16) + 16 * (inBlock / 16) + r;
        }
        int tailBytes = stride - fullBytes;
        return tile + TileRows * fullBytes + r * tailBytes + (byteInRow - fullBytes);
    }

    /// <summary>
    /// Reorders a section of <paramref name="rows"/> plane-order rows (row after row) into the row-tiled order.
    /// Both spans hold exactly rows · <see cref="RowBytes"/> bytes.
    /// </summary>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public static void Tile(ReadOnlySpan<byte> planes, Span<byte> tiled, int rows, int cols) => Reorder(planes, tiled, rows, cols, toTiles: true);

    /// <summary>The inverse of <see cref="Tile"/>: a row-tiled section back to plane-order rows, row after row.</summary>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public static void Untile(ReadOnlySpan<byte> tiled, Span<byte> planes, int rows, int cols) => Reorder(tiled, planes, rows, cols, toTiles: false);

    /// <summary><see cref="Tile"/> (or <see cref="Untile"/>) with each block's bytes moved by <see cref="ByteTranspose"/>.</summary>
    private static unsafe void Reorder(ReadOnlySpan<byte> source, Span<byte> destination, int rows, int cols, bool toTiles)
    {
        CheckShape(rows, cols);
        long expected = (long)rows * RowBytes(cols);
        if (source.Length != expected)
            throw new ArgumentException($"{rows} sign rows of {cols} weights take {expected} bytes, the source holds {source.Length}", nameof(source));
        if (destination.Length != expected)
            throw new ArgumentException($"{rows} sign rows of {cols} weights take {expected} bytes, the destination holds {destination.Length}", nameof(destination));
        int stride = RowBytes(cols), fullBlocks = cols / BlockWeights, fullBytes = fullBlocks * BlockBytes, tailBytes = stride - fullBytes;
        int tileBytes = TileRows * stride, tiles = rows / TileRows;
        fixed (byte* from = source, to = destination)
            for (int t = 0; t < tiles; t++)
            {
                // A block of 16 rows is 16 rows of 32 bytes in plane order and 16 runs of 32 bytes (sign bytes j and
                // 16 + j of the 16 rows) in the tiled one: a transpose of each 16-byte half between the two.
                for (int b = 0; b < fullBlocks; b++)
                {
                    nint inRows = (nint)t * tileBytes + b * BlockBytes, inTile = (nint)t * tileBytes + b * TileRows * BlockBytes;
                    if (toTiles) ByteTranspose.Transpose16x2(from + inRows, stride, to + inTile, BlockBytes);
                    else ByteTranspose.Transpose16x2(from + inTile, BlockBytes, to + inRows, stride);
                }
                // The short last block: row r's bytes end its row and sit at r·tailBytes after the tile's full blocks.
                for (int r = 0; r < TileRows && tailBytes > 0; r++)
                {
                    int inRows = t * tileBytes + r * stride + fullBytes, inTile = t * tileBytes + TileRows * fullBytes + r * tailBytes;
                    source.Slice(toTiles ? inRows : inTile, tailBytes).CopyTo(destination.Slice(toTiles ? inTile : inRows, tailBytes));
                }
            }
        int remainder = tiles * tileBytes;
        source[remainder..].CopyTo(destination[remainder..]);
    }

    private static void CheckShape(int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1);
    }
}
