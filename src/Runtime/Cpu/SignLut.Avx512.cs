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
    /// (four sign bytes) are summed in bytes (≤ 4 · 60 = 240, as in <see cref="Pair"/>) before the counters; the
    /// counters' 256-bit halves hold the same rows for j and j + 1, so they are added at the block's end, which keeps
    /// every sum where the AVX2 kernel's bounds put it. Half the instructions of the AVX2 kernel for the same work:
    /// on the AVX-512 machine (Zen 4 class, which splits 512-bit operations in two) 5–41 % faster alone in 23 of 24
    /// rounds, and the 7B-shaped products in cache with it (docs/runtime.md). A loop over j instead of four
    /// written-out calls ran as fast.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot16Avx512(byte* tile, byte* tables, float* d, int blocks, float* result, nint prefetchAhead)
    {
        var bias = Vector256.Create(BlockBias);
        Vector256<float> even = default, odd = default;
        for (int b = 0; b < blocks; b++, tile += TileBlockBytes, tables += TableBytes)
        {
            if (prefetchAhead != 0) PrefetchBlock(tile + prefetchAhead);
            Vector512<short> evenRows = default, oddRows = default;
            for (int j = 0; j < 16; j += 4)
            {
                var t = QuadTables.Load(tables, j);
                Quad(ref evenRows, ref oddRows, tile, in t, j);
            }
            var scale = Vector256.Create(d[b]);
            even = Accumulate(evenRows.GetLower() + evenRows.GetUpper(), bias, scale, even);
            odd = Accumulate(oddRows.GetLower() + oddRows.GetUpper(), bias, scale, odd);
        }
        StoreRows(even, odd, result);
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
        Vector256<float> even0 = default, odd0 = default, even1 = default, odd1 = default;
        for (int b = 0; b < blocks; b++, tile += TileBlockBytes, tables += TableBytes)
        {
            if (prefetchAhead != 0) { PrefetchBlock(tile + prefetchAhead); PrefetchBlock(tile + secondTile + prefetchAhead); }
            Vector512<short> evenRows0 = default, oddRows0 = default, evenRows1 = default, oddRows1 = default;
            for (int j = 0; j < 16; j += 4)
            {
                var t = QuadTables.Load(tables, j);
                Quad(ref evenRows0, ref oddRows0, tile, in t, j);
                Quad(ref evenRows1, ref oddRows1, tile + secondTile, in t, j);
            }
            var scale = Vector256.Create(d[b]);
            even0 = Accumulate(evenRows0.GetLower() + evenRows0.GetUpper(), bias, scale, even0);
            odd0 = Accumulate(oddRows0.GetLower() + oddRows0.GetUpper(), bias, scale, odd0);
            even1 = Accumulate(evenRows1.GetLower() + evenRows1.GetUpper(), bias, scale, even1);
            odd1 = Accumulate(oddRows1.GetLower() + oddRows1.GetUpper(), bias, scale, odd1);
        }
        StoreRows(even0, odd0, result);
        StoreRows(even1, odd1, result + TileRows);
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
    /// the counters by <c>vpmaddubsw</c> as in <see cref="Pair"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quad(ref Vector512<short> evenRows, ref Vector512<short> oddRows, byte* tile, in QuadTables t, int j)
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
        var evenOne = Vector512.Create((ushort)0x0001).AsSByte();
        var oddOne = Vector512.Create((ushort)0x0100).AsSByte();
        var evenSixteen = Vector512.Create((ushort)0x0010).AsSByte();
        var oddSixteen = Vector512.Create((ushort)0x1000).AsSByte();
        evenRows += Avx512BW.MultiplyAddAdjacent(low, evenOne) + Avx512BW.MultiplyAddAdjacent(high, evenSixteen);
        oddRows += Avx512BW.MultiplyAddAdjacent(low, oddOne) + Avx512BW.MultiplyAddAdjacent(high, oddSixteen);
    }
}
