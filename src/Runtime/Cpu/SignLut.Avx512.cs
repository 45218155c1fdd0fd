using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SagePtq.Runtime.Cpu;

internal static unsafe partial class SignLut
{
    /// <summary>
    /// <see cref="Dot16"/> on AVX-512BW. A 512-bit load at 64·p of a block holds sign bytes j = 2p and j + 1 of the
    /// 16 rows (each with 16 + j, 17 + j beside it), and each kind of table lies in the same order, so one
    /// <c>vpshufb</c> looks up 64 (row, byte) pairs against their own tables with no rearranging. Two such pairs
    /// (four sign bytes) are summed in bytes (≤ 4 · 60 = 240, as in <see cref="Pair"/>) before the counters, which
    /// hold rows 0–7 and rows 8–15 (<see cref="Quad"/>); the counters' 256-bit halves hold the same rows for j and
    /// j + 1, so they are added at the block's end, which keeps every sum where the AVX2 kernel's bounds put it.
    /// Half the instructions of the AVX2 kernel for the same work: on the AVX-512 machine (Zen 4 class, which splits 512-bit operations in two) 5–41 % faster alone in 23 of 24
    /// rounds, and the 7B-shaped products in cache with it (docs/runtime.md). A loop over j instead of four
    /// written-out calls ran as fast.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot16Avx512(byte* tile, byte* tables, float* d, int blocks, float* result, nint prefetchAhead)
    {
        var bias = Vector256.Create(BlockBias);
        Vector256<float> first = default, second = default;
        for (int b = 0; b < blocks; b++, tile += TileBlockBytes, tables += TableBytes)
        {
            if (prefetchAhead != 0) PrefetchBlock(tile + prefetchAhead);
            Vector512<short> firstRows = default, secondRows = default;
            for (int j = 0; j < 16; j += 4)
            {
                var t = QuadTables.Load(tables, j);
                Quad(ref firstRows, ref secondRows, tile, in t, j);
            }
            var scale = Vector256.Create(d[b]);
            first = Accumulate(firstRows.GetLower() + firstRows.GetUpper(), bias, scale, first);
            second = Accumulate(secondRows.GetLower() + secondRows.GetUpper(), bias, scale, second);
        }
        first.Store(result);
        second.Store(result + 8);
    }

    /// <summary>
    /// <see cref="Dot16Avx512"/> for two tiles at once, the second <paramref name="secondTile"/> bytes after the
    /// first, into result[0..31]: each table is loaded once for both. The single-tile kernel loads eight tables for
    /// every two loads of signs; shared, alone on one thread, 0.55–0.66 cycles per 32 weights·row against 0.65–0.83
    /// (`bench --profile`; four tiles at once, tried in C, were no faster than two). The 32 AVX-512 registers hold
    /// the eight tables and both tiles' counters.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot32Avx512(byte* tile, nint secondTile, byte* tables, float* d, int blocks, float* result, nint prefetchAhead)
    {
        var bias = Vector256.Create(BlockBias);
        Vector256<float> first0 = default, second0 = default, first1 = default, second1 = default;
        for (int b = 0; b < blocks; b++, tile += TileBlockBytes, tables += TableBytes)
        {
            if (prefetchAhead != 0) { PrefetchBlock(tile + prefetchAhead); PrefetchBlock(tile + secondTile + prefetchAhead); }
            Vector512<short> firstRows0 = default, secondRows0 = default, firstRows1 = default, secondRows1 = default;
            for (int j = 0; j < 16; j += 4)
            {
                var t = QuadTables.Load(tables, j);
                Quad(ref firstRows0, ref secondRows0, tile, in t, j);
                Quad(ref firstRows1, ref secondRows1, tile + secondTile, in t, j);
            }
            var scale = Vector256.Create(d[b]);
            first0 = Accumulate(firstRows0.GetLower() + firstRows0.GetUpper(), bias, scale, first0);
            second0 = Accumulate(secondRows0.GetLower() + secondRows0.GetUpper(), bias, scale, second0);
            first1 = Accumulate(firstRows1.GetLower() + firstRows1.GetUpper(), bias, scale, first1);
            second1 = Accumulate(secondRows1.GetLower() + secondRows1.GetUpper(), bias, scale, second1);
        }
        first0.Store(result);
        second0.Store(result + 8);
        first1.Store(result + TileRows);
        second1.Store(result + TileRows + 8);
    }

    /// <summary>
    /// The eight 64-byte tables that sign bytes j … j + 3 (and 16 + j … 19 + j) look up: L and H′ of the low and the
    /// high nibble for sign bytes j, j + 1, and the same four (<c>Next</c>) for j + 2, j + 3.
    /// </summary>
    private struct QuadTables
    {
        public Vector512<byte> LowNibbleL, HighNibbleL, LowNibbleH, HighNibbleH;
        public Vector512<byte> LowNibbleLNext, HighNibbleLNext, LowNibbleHNext, HighNibbleHNext;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static QuadTables Load(byte* tables, int j)
        {
            byte* t = tables + 32 * j, next = t + 64;
            return new QuadTables
            {
                LowNibbleL = Vector512.Load(t), HighNibbleL = Vector512.Load(t + KindBytes),
                LowNibbleH = Vector512.Load(t + 2 * KindBytes), HighNibbleH = Vector512.Load(t + 3 * KindBytes),
                LowNibbleLNext = Vector512.Load(next), HighNibbleLNext = Vector512.Load(next + KindBytes),
                LowNibbleHNext = Vector512.Load(next + 2 * KindBytes), HighNibbleHNext = Vector512.Load(next + 3 * KindBytes),
            };
        }
    }

    /// <summary>
    /// Sign bytes j … j + 3 (and 16 + j … 19 + j) of the 16 rows: eight 64-byte lookups, summed in bytes, then into
    /// the 16-bit counters of rows 0–7 and of rows 8–15. The widening puts each row's L and H′ sums side by side
    /// (<c>vpunpcklbw</c>, <c>vpunpckhbw</c>: rows 0–7 and 8–15 of every lane) and one <c>vpmaddubsw</c> by (1, 16)
    /// per half makes L + 16·H′ ≤ 240 + 16 · 240 = 4,080 a word, the even and odd rows' sums of <see cref="Pair"/>
    /// in another order: six operations a tile where picking even and odd rows takes eight (alone, one thread,
    /// 8–10 % faster side by side in one run; docs/runtime.md).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quad(ref Vector512<short> firstRows, ref Vector512<short> secondRows, byte* tile, in QuadTables t, int j)
    {
        var nibble = Vector512.Create((byte)15);
        var v0 = Vector512.Load(tile + 32 * j);
        var v1 = Vector512.Load(tile + 32 * j + 64);
        var lo0 = v0 & nibble;
        var hi0 = Avx512BW.ShiftRightLogical(v0.AsUInt16(), 4).AsByte() & nibble;
        var lo1 = v1 & nibble;
        var hi1 = Avx512BW.ShiftRightLogical(v1.AsUInt16(), 4).AsByte() & nibble;
        var low = Avx512BW.Shuffle(t.LowNibbleL, lo0) + Avx512BW.Shuffle(t.HighNibbleL, hi0)
                + (Avx512BW.Shuffle(t.LowNibbleLNext, lo1) + Avx512BW.Shuffle(t.HighNibbleLNext, hi1));
        var high = Avx512BW.Shuffle(t.LowNibbleH, lo0) + Avx512BW.Shuffle(t.HighNibbleH, hi0)
                 + (Avx512BW.Shuffle(t.LowNibbleHNext, lo1) + Avx512BW.Shuffle(t.HighNibbleHNext, hi1));
        var oneAndSixteen = Vector512.Create((ushort)0x1001).AsSByte();   // bytes (1, 16): L·1 + H′·16
        firstRows += Avx512BW.MultiplyAddAdjacent(Avx512BW.UnpackLow(low, high), oneAndSixteen);
        secondRows += Avx512BW.MultiplyAddAdjacent(Avx512BW.UnpackHigh(low, high), oneAndSixteen);
    }
}
