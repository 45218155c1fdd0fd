using System.Diagnostics.CodeAnalysis;
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
            Quad(ref evenRows, ref oddRows, tile, tables, 0);
            Quad(ref evenRows, ref oddRows, tile, tables, 4);
            Quad(ref evenRows, ref oddRows, tile, tables, 8);
            Quad(ref evenRows, ref oddRows, tile, tables, 12);
            var scale = Vector256.Create(d[b]);
            even = Accumulate(evenRows.GetLower() + evenRows.GetUpper(), bias, scale, even);
            odd = Accumulate(oddRows.GetLower() + oddRows.GetUpper(), bias, scale, odd);
        }
        StoreRows(even, odd, result);
    }

    /// <summary>
    /// Sign bytes j … j + 3 (and 16 + j … 19 + j) of the 16 rows: eight 64-byte lookups, summed in bytes, then into
    /// the counters by <c>vpmaddubsw</c> as in <see cref="Pair"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quad(ref Vector512<short> evenRows, ref Vector512<short> oddRows, byte* tile, byte* tables, [ConstantExpected] int j)
    {
        var nibble = Vector512.Create((byte)15);
        var v0 = Vector512.Load(tile + 32 * j);
        var v1 = Vector512.Load(tile + 32 * j + 64);
        var lo0 = v0 & nibble;
        var hi0 = Avx512BW.ShiftRightLogical(v0.AsUInt16(), 4).AsByte() & nibble;
        var lo1 = v1 & nibble;
        var hi1 = Avx512BW.ShiftRightLogical(v1.AsUInt16(), 4).AsByte() & nibble;
        byte* t0 = tables + 32 * j, t1 = t0 + 64;
        var low = Avx512BW.Shuffle(Vector512.Load(t0), lo0) + Avx512BW.Shuffle(Vector512.Load(t0 + KindBytes), hi0)
                + (Avx512BW.Shuffle(Vector512.Load(t1), lo1) + Avx512BW.Shuffle(Vector512.Load(t1 + KindBytes), hi1));
        var high = Avx512BW.Shuffle(Vector512.Load(t0 + 2 * KindBytes), lo0) + Avx512BW.Shuffle(Vector512.Load(t0 + 3 * KindBytes), hi0)
                 + (Avx512BW.Shuffle(Vector512.Load(t1 + 2 * KindBytes), lo1) + Avx512BW.Shuffle(Vector512.Load(t1 + 3 * KindBytes), hi1));
        var evenOne = Vector512.Create((ushort)0x0001).AsSByte();
        var oddOne = Vector512.Create((ushort)0x0100).AsSByte();
        var evenSixteen = Vector512.Create((ushort)0x0010).AsSByte();
        var oddSixteen = Vector512.Create((ushort)0x1000).AsSByte();
        evenRows += Avx512BW.MultiplyAddAdjacent(low, evenOne) + Avx512BW.MultiplyAddAdjacent(high, evenSixteen);
        oddRows += Avx512BW.MultiplyAddAdjacent(low, oddOne) + Avx512BW.MultiplyAddAdjacent(high, oddSixteen);
    }
}
