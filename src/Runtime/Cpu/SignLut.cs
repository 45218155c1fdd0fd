using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// The lookup-table sign kernel (research/runtime.md §2) for sign planes in the row-tiled order of
/// <see cref="Packing.Layouts.SignPlanes"/>: it computes the same integer block sums as <see cref="SignDot"/>,
/// Σ_{t &lt; 256} bit(r, b, t) · q[256·b + t], for 16 rows at a time, with about 2.3 times fewer vector operations.
/// <para>
/// Why a table: in a full block, the low nibble of sign byte i holds the signs of columns i, 32 + i, 64 + i,
/// 96 + i (planes 0–3) and the high nibble those of columns 128 + i … 224 + i (planes 4–7). So the sum of q over
/// the set bits of a nibble is entry <c>nibble</c> of a 16-entry table of the subset sums of those four
/// activations. The tables depend on the input only, so they are built once per token (<see cref="BuildTables"/>);
/// a tile stores sign byte i of 16 rows side by side, so one <c>vpshufb</c> looks up 16 rows (32 with the second
/// lane, which holds sign byte 16 + i) where the plane kernel spends a shift, a mask, a multiply and an add on 32
/// weights of 4 rows.
/// </para>
/// <para>
/// Why exact: an entry is a sum of four int8 values, up to ±508, wider than the byte <c>vpshufb</c> returns. Each
/// activation is split as q = 16·h + l with l = q AND 15 ∈ [0, 15] and h = q >> 4 ∈ [−8, 7] (arithmetic shift), and
/// each nibble gets two tables, L = Σ l ∈ [0, 60] and H′ = 32 + Σ h ∈ [0, 60]. Four lookups summed in bytes stay
/// ≤ 240; they are then added into 16-bit counters, even and odd rows apart (AND 0x00FF, shift right 8). Over a
/// block's 64 lookups a row collects L ≤ 3,840 and H′ = 2,048 + Σ h ≤ 3,840, and
/// Σ_{set bits} q = 16·H′ + L − 32,768, where 16·H′ + L ≤ 65,280 still fits the 16-bit lane.
/// </para>
/// </summary>
/// <para>
/// The kernels are compiled fully optimized at once (<see cref="MethodImplOptions.AggressiveOptimization"/>): each call
/// loops long, so tiered compilation would otherwise run many of the first calls in its unoptimized code.
/// </para>
[SkipLocalsInit]
internal static unsafe partial class SignLut
{
    /// <summary>Rows a tile holds side by side (defined by <see cref="SignPlanes"/>).</summary>
    public const int TileRows = SignPlanes.TileRows;

    /// <summary>Sign bytes of one full block of one tile: 32 bytes × 16 rows.</summary>
    public const int TileBlockBytes = TileRows * SignDot.BlockBytes;

    /// <summary>
    /// Table bytes per block and token: four kinds of 512 bytes, in this order: L of the low nibble, L of the high
    /// nibble, H′ of the low nibble, H′ of the high nibble. In a kind, the 32 bytes at 32·j are the tables of sign
    /// byte j (bytes 0–15, its 16 entries) and of sign byte 16 + j (bytes 16–31): the lanes of the tile load at
    /// 32·j. So a kind's tables lie in the tile's order, and a 512-bit load at 64·p matches the tile's at 64·p.
    /// </summary>
    public const int TableBytes = 4 * KindBytes;

    /// <summary>Bytes of one kind of table in a block: 16 × 32.</summary>
    private const int KindBytes = 16 * 32;

    /// <summary>The H′ tables' bias per lookup, and its total over a block's 64 lookups (64 · 32 · 16).</summary>
    private const int HighBias = 32, BlockBias = 32768;

    /// <summary>Whether this machine runs the table kernel (else callers untile and use <see cref="SignDot"/>).</summary>
    public static bool IsSupported => Avx2.IsSupported;

    /// <summary>Builds the tables of <paramref name="blocks"/> full blocks of <paramref name="q"/> (<see cref="TableBytes"/> each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BuildTables(sbyte* q, int blocks, byte* tables)
    {
        if (!Avx2.IsSupported) { BuildTablesReference(q, blocks, tables); return; }
        var entries = stackalloc Vector256<byte>[16];
        var nibble = Vector256.Create((byte)15);
        for (int b = 0; b < blocks; b++, q += SignDot.BlockWeights, tables += TableBytes)
        {
            for (int half = 0; half < 2; half++)
            {
                // Column vectors: byte i of plane p is q[32·p + i]; the four planes of this nibble.
                sbyte* planes = q + 128 * half;
                var x0 = Avx.LoadVector256((byte*)planes);
                var x1 = Avx.LoadVector256((byte*)planes + 32);
                var x2 = Avx.LoadVector256((byte*)planes + 64);
                var x3 = Avx.LoadVector256((byte*)planes + 96);

                // entries[m] byte i = entry m of sign byte i's table; transposed, row j holds sign byte j's entries
                // (low lane) and sign byte 16 + j's (high lane): the tile load's order.
                SubsetSums(entries, Vector256<byte>.Zero, x0 & nibble, x1 & nibble, x2 & nibble, x3 & nibble);
                ByteTranspose.Transpose16x2((byte*)entries, 32, tables + KindBytes * half, 32);

                SubsetSums(entries, Vector256.Create((byte)HighBias), High(x0), High(x1), High(x2), High(x3));
                ByteTranspose.Transpose16x2((byte*)entries, 32, tables + KindBytes * (2 + half), 32);
            }
        }
    }

    /// <summary>q >> 4 as bytes, arithmetic: ((q >>> 4) XOR 8) − 8 on the low four bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> High(Vector256<byte> x) =>
        Avx2.Subtract(Avx2.Xor(Avx2.And(Avx2.ShiftRightLogical(x.AsUInt16(), 4).AsByte(), Vector256.Create((byte)15)), Vector256.Create((byte)8)),
            Vector256.Create((byte)8));

    /// <summary>entries[m] = start + Σ_{k: bit k of m} x_k, byte-wise (the sums stay within a byte: no carries matter).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SubsetSums(Vector256<byte>* entries, Vector256<byte> start, Vector256<byte> x0, Vector256<byte> x1, Vector256<byte> x2, Vector256<byte> x3)
    {
        entries[0] = start;
        entries[1] = start + x0;
        entries[2] = start + x1;
        entries[3] = entries[1] + x1;
        for (int m = 4; m < 8; m++) entries[m] = entries[m - 4] + x2;
        for (int m = 8; m < 16; m++) entries[m] = entries[m - 8] + x3;
    }

    /// <summary>The oracle of <see cref="BuildTables"/>: every entry summed one activation at a time.</summary>
    public static void BuildTablesReference(sbyte* q, int blocks, byte* tables)
    {
        for (int b = 0; b < blocks; b++, q += SignDot.BlockWeights, tables += TableBytes)
            for (int i = 0; i < 32; i++)
                for (int half = 0; half < 2; half++)
                    for (int m = 0; m < 16; m++)
                    {
                        int low = 0, high = HighBias;
                        for (int k = 0; k < 4; k++)
                        {
                            if ((m >> k & 1) == 0) continue;
                            int x = q[32 * (4 * half + k) + i];
                            low += x & 15;
                            high += x >> 4;
                        }
                        byte* table = tables + 32 * (i & 15) + 16 * (i >> 4) + m;
                        table[KindBytes * half] = (byte)low;
                        table[KindBytes * (2 + half)] = (byte)high;
                    }
    }

    /// <summary>
    /// The 16 rows of one tile against one token: result[r] = Σ_b d[b] · Σ_{t &lt; 256} bit(r, b, t) · q[256·b + t]
    /// over <paramref name="blocks"/> full blocks, <paramref name="tile"/> at the tile's first block
    /// (<see cref="TileBlockBytes"/> a block), <paramref name="tables"/> from <see cref="BuildTables"/>. AVX2 or
    /// AVX-512BW (<see cref="Dot16Avx512"/>, where the machine has it), the same sums either way.
    /// With <paramref name="prefetchAhead"/> ≠ 0, each block also prefetches the 512 bytes that far past it (the
    /// next tile, streamed in while this one is multiplied) into L2 only: the tables (32 KB a token at 4,096 columns,
    /// 86 KB at 11,008) fill L1 already, and signs prefetched into L1 evicted them (docs/runtime.md).
    /// </summary>
    public static void Dot16(byte* tile, byte* tables, float* d, int blocks, float* result, nint prefetchAhead = 0)
    {
        if (HasAvx512) Dot16Avx512(tile, tables, d, blocks, result, prefetchAhead);
        else Dot16Avx2(tile, tables, d, blocks, result, prefetchAhead);
    }

    /// <summary>
    /// <see cref="Dot16"/> for two tiles, the second <paramref name="secondTile"/> bytes after the first, into
    /// result[0..31]: on AVX-512 in one pass that loads each table once (<see cref="Dot32Avx512"/>); on AVX2, whose
    /// sixteen registers cannot hold the tables and both tiles' counters, as two calls (the runtime pairs tiles
    /// only on AVX-512; the two calls serve the profile and the tests).
    /// </summary>
    public static void Dot32(byte* tile, nint secondTile, byte* tables, float* d, int blocks, float* result, nint prefetchAhead = 0)
    {
        if (HasAvx512) Dot32Avx512(tile, secondTile, tables, d, blocks, result, prefetchAhead);
        else
        {
            Dot16Avx2(tile, tables, d, blocks, result, prefetchAhead);
            Dot16Avx2(tile + secondTile, tables, d, blocks, result + TileRows, prefetchAhead);
        }
    }

    /// <summary>Whether <see cref="Dot16"/> runs <see cref="Dot16Avx512"/>.</summary>
    public static bool HasAvx512 => Avx512BW.IsSupported && Vector512.IsHardwareAccelerated;

    /// <summary><see cref="Dot16"/> on AVX2: one <see cref="Pair"/> of sign bytes at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot16Avx2(byte* tile, byte* tables, float* d, int blocks, float* result, nint prefetchAhead)
    {
        var bias = Vector256.Create(BlockBias);
        Vector256<float> even = default, odd = default;
        for (int b = 0; b < blocks; b++, tile += TileBlockBytes, tables += TableBytes)
        {
            if (prefetchAhead != 0) PrefetchBlock(tile + prefetchAhead);
            // 16-bit counters of 16·H′ + L per row, even rows and odd rows apart, both lanes.
            Vector256<short> evenRows = default, oddRows = default;
            Pair(ref evenRows, ref oddRows, tile, tables, 0);
            Pair(ref evenRows, ref oddRows, tile, tables, 2);
            Pair(ref evenRows, ref oddRows, tile, tables, 4);
            Pair(ref evenRows, ref oddRows, tile, tables, 6);
            Pair(ref evenRows, ref oddRows, tile, tables, 8);
            Pair(ref evenRows, ref oddRows, tile, tables, 10);
            Pair(ref evenRows, ref oddRows, tile, tables, 12);
            Pair(ref evenRows, ref oddRows, tile, tables, 14);
            var scale = Vector256.Create(d[b]);
            even = Accumulate(evenRows, bias, scale, even);
            odd = Accumulate(oddRows, bias, scale, odd);
        }
        StoreRows(even, odd, result);
    }

    /// <summary>Prefetches one block of a tile into L2: its eight cache lines written out (as a loop they cost five instructions each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchBlock(byte* block)
    {
        Sse.Prefetch1(block); Sse.Prefetch1(block + 64); Sse.Prefetch1(block + 128); Sse.Prefetch1(block + 192);
        Sse.Prefetch1(block + 256); Sse.Prefetch1(block + 320); Sse.Prefetch1(block + 384); Sse.Prefetch1(block + 448);
    }

    /// <summary>Stores the 16 rows' results: <paramref name="even"/> holds rows 0, 2, …, 14 and <paramref name="odd"/> rows 1, 3, …, 15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRows(Vector256<float> even, Vector256<float> odd, float* result)
    {
        var a = Avx.UnpackLow(even, odd);    // rows 0 1 2 3 | 8 9 10 11
        var c = Avx.UnpackHigh(even, odd);   // rows 4 5 6 7 | 12 13 14 15
        Avx.Store(result, Avx.Permute2x128(a, c, 0x20));
        Avx.Store(result + 8, Avx.Permute2x128(a, c, 0x31));
    }

    /// <summary>
    /// Sign bytes j and j + 1 (and 16 + j, 17 + j in the high lane) of the 16 rows: eight lookups, summed in bytes
    /// (≤ 4 · 60 = 240 for L and for H′), then added to the counters by <c>vpmaddubsw</c> with weights (1, 0), (0, 1),
    /// (16, 0), (0, 16): that picks the even or odd rows' bytes and multiplies H′ by 16 on the multiply pipes, leaving
    /// the shuffle pipes to the lookups.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pair(ref Vector256<short> evenRows, ref Vector256<short> oddRows, byte* tile, byte* tables, [ConstantExpected] int j)
    {
        var nibble = Vector256.Create((byte)15);
        var v0 = Avx.LoadVector256(tile + 32 * j);
        var v1 = Avx.LoadVector256(tile + 32 * j + 32);
        var lo0 = v0 & nibble;
        var hi0 = Avx2.ShiftRightLogical(v0.AsUInt16(), 4).AsByte() & nibble;
        var lo1 = v1 & nibble;
        var hi1 = Avx2.ShiftRightLogical(v1.AsUInt16(), 4).AsByte() & nibble;
        // Kinds L-low, L-high, H′-low, H′-high at 0, 1, 2, 3 · KindBytes; sign byte j's tables at 32·j in each.
        byte* t0 = tables + 32 * j, t1 = t0 + 32;
        var low = Avx2.Add(Avx2.Add(Avx2.Shuffle(Avx.LoadVector256(t0), lo0), Avx2.Shuffle(Avx.LoadVector256(t0 + KindBytes), hi0)),
                           Avx2.Add(Avx2.Shuffle(Avx.LoadVector256(t1), lo1), Avx2.Shuffle(Avx.LoadVector256(t1 + KindBytes), hi1)));
        var high = Avx2.Add(Avx2.Add(Avx2.Shuffle(Avx.LoadVector256(t0 + 2 * KindBytes), lo0), Avx2.Shuffle(Avx.LoadVector256(t0 + 3 * KindBytes), hi0)),
                            Avx2.Add(Avx2.Shuffle(Avx.LoadVector256(t1 + 2 * KindBytes), lo1), Avx2.Shuffle(Avx.LoadVector256(t1 + 3 * KindBytes), hi1)));
        var evenOne = Vector256.Create((ushort)0x0001).AsSByte();
        var oddOne = Vector256.Create((ushort)0x0100).AsSByte();
        var evenSixteen = Vector256.Create((ushort)0x0010).AsSByte();
        var oddSixteen = Vector256.Create((ushort)0x1000).AsSByte();
        evenRows = Avx2.Add(evenRows, Avx2.Add(Avx2.MultiplyAddAdjacent(low, evenOne), Avx2.MultiplyAddAdjacent(high, evenSixteen)));
        oddRows = Avx2.Add(oddRows, Avx2.Add(Avx2.MultiplyAddAdjacent(low, oddOne), Avx2.MultiplyAddAdjacent(high, oddSixteen)));
    }

    /// <summary>f + d·(16·H′ + L − 32,768) for 8 rows: the two lanes' counters added, widened to int32, exact until the scaling.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Accumulate(Vector256<short> counters, Vector256<int> bias, Vector256<float> scale, Vector256<float> f)
    {
        // Per lane ≤ 8 · (240 + 16 · 240) = 32,640; the two lanes (sign bytes j and 16 + j) together ≤ 65,280: unsigned.
        var both = Sse2.Add(counters.GetLower(), counters.GetUpper()).AsUInt16();
        var sums = Avx.ConvertToVector256Single(Avx2.Subtract(Avx2.ConvertToVector256Int32(both), bias));
        return Fma.IsSupported ? Fma.MultiplyAdd(sums, scale, f) : Avx.Add(f, Avx.Multiply(sums, scale));
    }
}
