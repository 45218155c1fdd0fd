using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SagePtq.Runtime.Cpu;

internal static unsafe partial class SignDot
{
    /// <summary>
    /// AVX-512BW: the 64 sign bytes of blocks b and b + 1 lie next to each other in a row, so one 512-bit
    /// load covers both; plane j's activations are the two 32-byte runs q[256b + 32j ..] and
    /// q[256(b+1) + 32j ..] joined into one vector. Lanes 0–7 of the int32 sums belong to block b and
    /// lanes 8–15 to block b + 1, scaled by d[b] and d[b + 1]. An odd last block goes through AVX2.
    /// </summary>
    public static void Dot4Avx512(byte* s0, byte* s1, byte* s2, byte* s3, sbyte* q, float* d, int blocks, float* result)
    {
        var ones = Vector512.Create((short)1);
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
        int b = 0;
        for (; b + 1 < blocks; b += 2)
        {
            nint o = (nint)b * BlockBytes;
            var v0 = Vector512.Load(s0 + o);
            var v1 = Vector512.Load(s1 + o);
            var v2 = Vector512.Load(s2 + o);
            var v3 = Vector512.Load(s3 + o);
            sbyte* qa = q + (nint)b * BlockWeights, qb = qa + BlockWeights;
            Vector512<short> a0 = default, a1 = default, a2 = default, a3 = default;
            Planes512(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Pair(qa, qb, 0), 0);
            Planes512(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Pair(qa, qb, 32), 1);
            Planes512(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Pair(qa, qb, 64), 2);
            Planes512(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Pair(qa, qb, 96), 3);
            Planes512(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Pair(qa, qb, 128), 4);
            Planes512(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Pair(qa, qb, 160), 5);
            Planes512(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Pair(qa, qb, 192), 6);
            Planes512(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Pair(qa, qb, 224), 7);
            var scale = Vector512.Create(Vector256.Create(d[b]), Vector256.Create(d[b + 1]));
            f0 += Vector512.ConvertToSingle(Avx512BW.MultiplyAddAdjacent(a0, ones)) * scale;
            f1 += Vector512.ConvertToSingle(Avx512BW.MultiplyAddAdjacent(a1, ones)) * scale;
            f2 += Vector512.ConvertToSingle(Avx512BW.MultiplyAddAdjacent(a2, ones)) * scale;
            f3 += Vector512.ConvertToSingle(Avx512BW.MultiplyAddAdjacent(a3, ones)) * scale;
        }
        result[0] = Vector512.Sum(f0);
        result[1] = Vector512.Sum(f1);
        result[2] = Vector512.Sum(f2);
        result[3] = Vector512.Sum(f3);
        if (b < blocks)
        {
            float* last = stackalloc float[4];
            nint o = (nint)b * BlockBytes;
            Dot4Avx2(s0 + o, s1 + o, s2 + o, s3 + o, q + (nint)b * BlockWeights, d + b, 1, last);
            for (int r = 0; r < 4; r++) result[r] += last[r];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> Pair(sbyte* qa, sbyte* qb, int offset) =>
        Vector512.Create(Vector256.Load(qa + offset), Vector256.Load(qb + offset));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Planes512(
        ref Vector512<short> a0, ref Vector512<short> a1, ref Vector512<short> a2, ref Vector512<short> a3,
        Vector512<byte> v0, Vector512<byte> v1, Vector512<byte> v2, Vector512<byte> v3, Vector512<sbyte> x, [ConstantExpected] byte j)
    {
        var one = Vector512.Create((byte)1);
        a0 += Avx512BW.MultiplyAddAdjacent(Avx512BW.ShiftRightLogical(v0.AsUInt16(), j).AsByte() & one, x);
        a1 += Avx512BW.MultiplyAddAdjacent(Avx512BW.ShiftRightLogical(v1.AsUInt16(), j).AsByte() & one, x);
        a2 += Avx512BW.MultiplyAddAdjacent(Avx512BW.ShiftRightLogical(v2.AsUInt16(), j).AsByte() & one, x);
        a3 += Avx512BW.MultiplyAddAdjacent(Avx512BW.ShiftRightLogical(v3.AsUInt16(), j).AsByte() & one, x);
    }
}
