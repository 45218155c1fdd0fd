using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Tests.Packing;

/// <summary>The row-tiled order of a sign section (<see cref="SageFlags.TiledSigns"/>): Tile, Untile, TiledOffset.</summary>
public sealed class SignPlanesTilingTests
{
    private static readonly int[] RowCounts = [1, 15, 16, 17, 33, 48];
    private static readonly int[] ColumnCounts = [8, 200, 256, 300, 512, 4096 + 40];

    public static TheoryData<int, int> Shapes()
    {
        var data = new TheoryData<int, int>();
        foreach (int rows in RowCounts)
            foreach (int cols in ColumnCounts) data.Add(rows, cols);
        return data;
    }

    /// <summary>
    /// The order written out from its definition, one byte at a time: tiles of 16 rows, in each the full blocks
    /// (byte 32·j + 16·h + r of block b = byte 16·h + j of the block in row r), then the short block row after
    /// row; the remaining rows untouched at the end.
    /// </summary>
    private static byte[] NaiveTile(byte[] planes, int rows, int cols)
    {
        int stride = (cols + 7) / 8, full = cols / 256, tail = stride - 32 * full;
        var tiled = new byte[planes.Length];
        int at = 0;
        for (int tile = 0; tile + 16 <= rows; tile += 16)
        {
            for (int b = 0; b < full; b++)
                for (int j = 0; j < 16; j++)
                    for (int h = 0; h < 2; h++)
                        for (int r = 0; r < 16; r++) tiled[at++] = planes[(tile + r) * stride + 32 * b + 16 * h + j];
            for (int r = 0; r < 16; r++)
                for (int k = 0; k < tail; k++) tiled[at++] = planes[(tile + r) * stride + 32 * full + k];
        }
        for (int row = rows / 16 * 16; row < rows; row++)
            for (int k = 0; k < stride; k++) tiled[at++] = planes[row * stride + k];
        Assert.Equal(planes.Length, at);
        return tiled;
    }

    private static byte[] RandomBytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void TileMatchesTheDefinitionAndUntileInvertsIt(int rows, int cols)
    {
        var planes = RandomBytes(rows * SignPlanes.RowBytes(cols), rows * 10007 + cols);
        var tiled = new byte[planes.Length];
        SignPlanes.Tile(planes, tiled, rows, cols);
        Assert.Equal(NaiveTile(planes, rows, cols), tiled);
        var back = new byte[planes.Length];
        SignPlanes.Untile(tiled, back, rows, cols);
        Assert.Equal(planes, back);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void TiledOffsetIsWhereTilePutsEveryByte(int rows, int cols)
    {
        int stride = SignPlanes.RowBytes(cols);
        var planes = RandomBytes(rows * stride, cols * 31 + rows);
        var tiled = new byte[planes.Length];
        SignPlanes.Tile(planes, tiled, rows, cols);
        var used = new bool[planes.Length];
        for (int row = 0; row < rows; row++)
            for (int k = 0; k < stride; k++)
            {
                long at = SignPlanes.TiledOffset(row, k, rows, cols);
                Assert.Equal(planes[row * stride + k], tiled[at]);
                Assert.False(used[at], $"row {row} byte {k} lands on offset {at} twice");
                used[at] = true;
            }
        Assert.Equal(SignPlanes.RemainderStart(rows, cols), rows / 16 * 16L * stride);
        if (rows % 16 != 0) Assert.Equal(SignPlanes.RemainderStart(rows, cols), SignPlanes.TiledOffset(rows / 16 * 16, 0, rows, cols));
    }

    [Fact]
    public void AHandBuilt16By256TilePutsBytesWhereTheFormatSays()
    {
        // 16 × 32 bytes cannot each hold a distinct byte value, so one byte at a time is marked and looked for.
        const int rows = 16, cols = 256;
        Assert.Equal(512, SignPlanes.TileBytes(cols));
        (int Row, int Byte, int Expected)[] cases =
        [
            (0, 0, 0),            // byte 0 of row 0: j 0, h 0, r 0
            (5, 0, 5),            // byte 0 of row 5: the 16 rows side by side
            (0, 1, 32),           // byte 1 (j 1) of row 0: the next 32-byte load
            (3, 16, 16 + 3),      // byte 16 (j 0, h 1) of row 3: the high half of the first load
            (15, 31, 32 * 15 + 16 + 15), // the last byte of the last row: the last byte of the tile
            (9, 20, 32 * 4 + 16 + 9),    // byte 20 = 16 + 4 of row 9
        ];
        foreach (var (row, k, expected) in cases)
        {
            var planes = new byte[rows * 32];
            planes[row * 32 + k] = 0xA5;
            var tiled = new byte[planes.Length];
            SignPlanes.Tile(planes, tiled, rows, cols);
            Assert.Equal(expected, Array.IndexOf(tiled, (byte)0xA5));
            Assert.Equal(1, tiled.Count(b => b != 0));
            Assert.Equal(expected, SignPlanes.TiledOffset(row, k, rows, cols));
        }
    }

    [Fact]
    public void TheShortBlockOfATileIsRowAfterRow()
    {
        // 300 columns: one full block (32 bytes) and a 44-weight block of B = 6 bytes; a tile is 16 · 38 bytes.
        const int rows = 17, cols = 300;
        Assert.Equal(16 * 38, SignPlanes.TileBytes(cols));
        Assert.Equal(512 + 2 * 6 + 4, SignPlanes.TiledOffset(2, 32 + 4, rows, cols));
        Assert.Equal(512 + 15 * 6 + 5, SignPlanes.TiledOffset(15, 37, rows, cols));
        // Row 16 is the one left over: plane order after the tile.
        Assert.Equal(16 * 38, SignPlanes.TiledOffset(16, 0, rows, cols));
        Assert.Equal(16 * 38 + 37, SignPlanes.TiledOffset(16, 37, rows, cols));
    }

    [Fact]
    public unsafe void TheRegisterTransposeEqualsItsDefinition()
    {
        // Strided on both sides, as Tile and Untile call it: 16 rows of 32 bytes 40 apart, into runs 48 apart.
        var source = RandomBytes(15 * 40 + 32, 99);
        var fast = new byte[15 * 48 + 32];
        var reference = new byte[fast.Length];
        fixed (byte* s = source, f = fast, r = reference)
        {
            ByteTranspose.Transpose16x2(s, 40, f, 48);
            ByteTranspose.Transpose16x2Reference(s, 40, r, 48);
        }
        Assert.Equal(reference, fast);
        for (int c = 0; c < 16; c++)
            for (int row = 0; row < 16; row++)
            {
                Assert.Equal(source[row * 40 + c], reference[c * 48 + row]);
                Assert.Equal(source[row * 40 + 16 + c], reference[c * 48 + 16 + row]);
            }
    }

    [Fact]
    public void MisuseIsRefused()
    {
        var ok = new byte[17 * 38];
        Assert.Contains("source", Assert.Throws<ArgumentException>(() => SignPlanes.Tile(new byte[17 * 38 - 1], ok, 17, 300)).Message);
        Assert.Contains("destination", Assert.Throws<ArgumentException>(() => SignPlanes.Untile(ok, new byte[17 * 38 + 1], 17, 300)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => SignPlanes.Tile(ok, ok.ToArray(), -1, 300));
        Assert.Throws<ArgumentOutOfRangeException>(() => SignPlanes.Tile([], [], 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => SignPlanes.TiledOffset(17, 0, 17, 300));
        Assert.Throws<ArgumentOutOfRangeException>(() => SignPlanes.TiledOffset(-1, 0, 17, 300));
        Assert.Throws<ArgumentOutOfRangeException>(() => SignPlanes.TiledOffset(0, 38, 17, 300));
        Assert.Throws<ArgumentOutOfRangeException>(() => SignPlanes.TiledOffset(0, -1, 17, 300));
        // No rows: nothing to reorder.
        SignPlanes.Tile([], [], 0, 300);
    }
}
