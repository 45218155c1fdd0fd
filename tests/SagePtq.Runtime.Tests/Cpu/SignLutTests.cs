using SagePtq.Runtime.Cpu;

namespace SagePtq.Runtime.Tests.Cpu;

public sealed unsafe class SignLutTests
{
    /// <summary>
    /// One tile of 16 rows in the tiled order, written here from the layout's definition (byte 32·j + 16·h + r of a
    /// block = plane-order byte 16·h + j of row r), independently of the pack code.
    /// </summary>
    private static byte[] TileOf(byte[] rows, int blocks)
    {
        var tile = new byte[rows.Length];
        for (int b = 0; b < blocks; b++)
            for (int r = 0; r < 16; r++)
                for (int i = 0; i < 32; i++)
                    tile[512 * b + 32 * (i & 15) + 16 * (i >> 4) + r] = rows[r * blocks * 32 + 32 * b + i];
        return tile;
    }

    private static (byte[] Rows, sbyte[] Q) RandomProblem(int blocks, int seed)
    {
        var random = new Random(seed);
        var rows = new byte[16 * blocks * 32];
        var q = new sbyte[blocks * 256];
        random.NextBytes(rows);
        for (int i = 0; i < q.Length; i++) q[i] = (sbyte)random.Next(-128, 128);
        return (rows, q);
    }

    /// <summary>Random block scales d_b in [0, 0.02).</summary>
    private static float[] BlockScales(int blocks, int seed)
    {
        var random = new Random(seed);
        var d = new float[blocks];
        for (int b = 0; b < blocks; b++) d[b] = (float)(random.NextDouble() * 0.02);
        return d;
    }

    [Avx2Fact]
    public void FastTablesEqualTheReferenceTables()
    {
        const int blocks = 3;
        var (_, q) = RandomProblem(blocks, 1);
        q[0] = -128; q[1] = 127; q[200] = -1;
        var fast = new byte[blocks * SignLut.TableBytes];
        var reference = new byte[blocks * SignLut.TableBytes];
        fixed (sbyte* pq = q)
        fixed (byte* pf = fast, pr = reference)
        {
            SignLut.BuildTables(pq, blocks, pf);
            SignLut.BuildTablesReference(pq, blocks, pr);
        }
        Assert.Equal(reference, fast);
    }

    /// <summary>The table kernels this machine runs: AVX2, and AVX-512BW where it has it (<see cref="SignLut.Dot16"/> picks the wider).</summary>
    public static TheoryData<string> Kernels()
    {
        var data = new TheoryData<string> { "Avx2" };
        if (SignLut.HasAvx512) data.Add("Avx512");
        return data;
    }

    public static TheoryData<int, int, string> ProblemsAndKernels()
    {
        var data = new TheoryData<int, int, string>();
        foreach (var (blocks, seed) in new[] { (1, 2), (5, 3), (16, 4) })
            foreach (string kernel in Kernels()) data.Add(blocks, seed, kernel);
        return data;
    }

    private static void Dot16(string kernel, byte* tile, byte* tables, float* d, int blocks, float* result)
    {
        if (kernel == "Avx512") SignLut.Dot16Avx512(tile, tables, d, blocks, result, 0);
        else SignLut.Dot16Avx2(tile, tables, d, blocks, result, 0);
    }

    [Avx2Theory]
    [MemberData(nameof(ProblemsAndKernels))]
    public void TileBlockSumsAreExact(int blocks, int seed, string kernel)
    {
        var (rows, q) = RandomProblem(blocks, seed);
        // Extremes: rows 3 and 4 all set against q = 127 and q = −128 in block 0 (the largest sums a block can have).
        q.AsSpan(0, 256).Fill(blocks > 1 ? (sbyte)-128 : (sbyte)127);
        rows.AsSpan(3 * blocks * 32, blocks * 32).Fill(0xFF);
        rows.AsSpan(4 * blocks * 32, 32).Clear();
        var tile = TileOf(rows, blocks);
        var tables = new byte[blocks * SignLut.TableBytes];
        var d = new float[blocks];
        var result = new float[16];
        fixed (byte* pt = tile, ptab = tables, prow = rows)
        fixed (sbyte* pq = q)
        fixed (float* pd = d, pr = result)
        {
            SignLut.BuildTables(pq, blocks, ptab);
            // d = the b-th unit vector makes the float result block b's integer sum, exactly.
            for (int b = 0; b < blocks; b++)
            {
                Array.Clear(d);
                d[b] = 1;
                Dot16(kernel, pt, ptab, pd, blocks, pr);
                for (int r = 0; r < 16; r++)
                    Assert.Equal(SignDot.BlockDotReference(prow + r * blocks * 32 + 32 * b, pq + 256 * b), (int)result[r]);
            }
        }
    }

    [Avx512Theory]
    [InlineData(3, 11)]
    [InlineData(43, 12)]
    public void TheKernelsGiveTheSameBits(int blocks, int seed)
    {
        // Same integer sums, scaled and added in the same order: a model's outputs must not depend on the machine's kernel.
        var (rows, q) = RandomProblem(blocks, seed);
        var d = BlockScales(blocks, seed);
        var tile = TileOf(rows, blocks);
        var tables = new byte[blocks * SignLut.TableBytes];
        var narrow = new float[16];
        var wide = new float[16];
        fixed (byte* pt = tile, ptab = tables)
        fixed (sbyte* pq = q)
        fixed (float* pd = d, pn = narrow, pw = wide)
        {
            SignLut.BuildTables(pq, blocks, ptab);
            Dot16("Avx2", pt, ptab, pd, blocks, pn);
            Dot16("Avx512", pt, ptab, pd, blocks, pw);
        }
        Assert.Equal(narrow, wide);
    }

    [Avx2Theory]
    [InlineData(1, 21)]
    [InlineData(16, 22)]
    [InlineData(43, 23)]
    public void TwoTilesAtOnceGiveEachTilesBits(int blocks, int seed)
    {
        // Dot32 shares each table load between two tiles on AVX-512: its sums must be Dot16's on each, bit for bit.
        var (rows0, q) = RandomProblem(blocks, seed);
        var (rows1, _) = RandomProblem(blocks, seed + 100);
        byte[] tile0 = TileOf(rows0, blocks), tile1 = TileOf(rows1, blocks);
        int secondTile = tile0.Length + 64; // the caller's offset, not necessarily right after the first
        var both = new byte[secondTile + tile1.Length];
        tile0.CopyTo(both, 0);
        tile1.CopyTo(both, secondTile);
        var d = BlockScales(blocks, seed);
        var tables = new byte[blocks * SignLut.TableBytes];
        var alone = new float[32];
        var pair = new float[32];
        fixed (byte* pb = both, p0 = tile0, p1 = tile1, ptab = tables)
        fixed (sbyte* pq = q)
        fixed (float* pd = d, pa = alone, pp = pair)
        {
            SignLut.BuildTables(pq, blocks, ptab);
            SignLut.Dot16(p0, ptab, pd, blocks, pa);
            SignLut.Dot16(p1, ptab, pd, blocks, pa + 16);
            SignLut.Dot32(pb, secondTile, ptab, pd, blocks, pp);
        }
        Assert.Equal(alone, pair);
    }

    [Avx2Theory]
    [MemberData(nameof(Kernels))]
    public void ScaledSumsMatchThePlaneKernelWithinRounding(string kernel)
    {
        const int blocks = 16;
        var (rows, q) = RandomProblem(blocks, 7);
        var d = BlockScales(blocks, 8);
        var tile = TileOf(rows, blocks);
        var tables = new byte[blocks * SignLut.TableBytes];
        var lut = new float[16];
        var plane = new float[4];
        fixed (byte* pt = tile, ptab = tables, prow = rows)
        fixed (sbyte* pq = q)
        fixed (float* pd = d, pl = lut, pp = plane)
        {
            SignLut.BuildTables(pq, blocks, ptab);
            Dot16(kernel, pt, ptab, pd, blocks, pl);
            for (int r0 = 0; r0 < 16; r0 += 4)
            {
                byte* s = prow + r0 * blocks * 32;
                SignDot.Dot4Reference(s, s + blocks * 32, s + 2 * blocks * 32, s + 3 * blocks * 32, pq, pd, blocks, pp);
                for (int k = 0; k < 4; k++) Assert.Equal(plane[k], lut[r0 + k], 1e-3f);
            }
        }
    }
}

/// <summary>A test of the table kernel, which needs AVX2 (elsewhere tiled packs are untiled and run through <see cref="SignDot"/>).</summary>
public sealed class Avx2FactAttribute : FactAttribute
{
    public Avx2FactAttribute() { if (!SignLut.IsSupported) Skip = "AVX2 is not available on this machine"; }
}

/// <summary>Skips where the machine has no AVX-512 (the runtime's 512-bit paths do not run there).</summary>
public sealed class Avx512FactAttribute : FactAttribute
{
    public Avx512FactAttribute() { if (!SignLut.HasAvx512) Skip = "AVX-512 is not available on this machine"; }
}

/// <summary>As <see cref="Avx2FactAttribute"/>, for theories.</summary>
public sealed class Avx2TheoryAttribute : TheoryAttribute
{
    public Avx2TheoryAttribute() { if (!SignLut.IsSupported) Skip = "AVX2 is not available on this machine"; }
}

/// <summary>A theory comparing the table kernel's AVX-512 form with its AVX2 form: skipped where only one runs.</summary>
public sealed class Avx512TheoryAttribute : TheoryAttribute
{
    public Avx512TheoryAttribute() { if (!SignLut.HasAvx512) Skip = "AVX-512BW is not available on this machine: one table kernel only"; }
}
