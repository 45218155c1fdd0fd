using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SagePtq.Runtime.Cpu;

internal static unsafe partial class SignDot
{
    /// <summary>
    /// Portable 128-bit path (any platform with 128-bit SIMD): a block's 32 sign bytes are two vectors; for
    /// plane j, (signs AND 2^j) = 2^j gives a byte mask that selects the activations, which are widened to
    /// int16 and summed (8 planes × 4 values × 127 per lane: no overflow), then widened to int32 once per block.
    /// </summary>
    public static void Dot4Vector128(byte* s0, byte* s1, byte* s2, byte* s3, sbyte* q, float* d, int blocks, float* result)
    {
        Vector128<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < blocks; b++, q += BlockWeights)
        {
            nint o = (nint)b * BlockBytes;
            var l0 = Vector128.Load(s0 + o); var h0 = Vector128.Load(s0 + o + 16);
            var l1 = Vector128.Load(s1 + o); var h1 = Vector128.Load(s1 + o + 16);
            var l2 = Vector128.Load(s2 + o); var h2 = Vector128.Load(s2 + o + 16);
            var l3 = Vector128.Load(s3 + o); var h3 = Vector128.Load(s3 + o + 16);
            Vector128<short> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int j = 0; j < 8; j++)
            {
                var bit = Vector128.Create((byte)(1 << j));
                var xl = Vector128.Load(q + 32 * j);
                var xh = Vector128.Load(q + 32 * j + 16);
                a0 += Selected(l0, h0, xl, xh, bit);
                a1 += Selected(l1, h1, xl, xh, bit);
                a2 += Selected(l2, h2, xl, xh, bit);
                a3 += Selected(l3, h3, xl, xh, bit);
            }
            var scale = Vector128.Create(d[b]);
            f0 += ToSingle(a0) * scale;
            f1 += ToSingle(a1) * scale;
            f2 += ToSingle(a2) * scale;
            f3 += ToSingle(a3) * scale;
        }
        result[0] = Vector128.Sum(f0);
        result[1] = Vector128.Sum(f1);
        result[2] = Vector128.Sum(f2);
        result[3] = Vector128.Sum(f3);
    }

    /// <summary>The activations whose sign bit is set, as four int16 partial sums per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<short> Selected(Vector128<byte> low, Vector128<byte> high, Vector128<sbyte> xl, Vector128<sbyte> xh, Vector128<byte> bit)
    {
        var sl = xl & Vector128.Equals(low & bit, bit).AsSByte();
        var sh = xh & Vector128.Equals(high & bit, bit).AsSByte();
        var (ll, lh) = Vector128.Widen(sl);
        var (hl, hh) = Vector128.Widen(sh);
        return (ll + lh) + (hl + hh);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> ToSingle(Vector128<short> sums)
    {
        var (low, high) = Vector128.Widen(sums);
        return Vector128.ConvertToSingle(low + high);
    }
}
