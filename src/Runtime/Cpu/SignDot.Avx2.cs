using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SagePtq.Runtime.Cpu;

internal static unsafe partial class SignDot
{
    /// <summary>
    /// AVX2 (research/runtime.md §7.4): per plane j, (signs >> j) AND 1 gives 32 bytes of 0/1 lined up with
    /// q[32j .. 32j + 31]; <c>vpmaddubsw</c> multiplies them into int16 pairs (|pair| ≤ 254, 8 planes ≤ 2032:
    /// no saturation); one <c>vpmaddwd</c> with ones per block widens to int32, then d[b] scales a float
    /// accumulator. Each activation load serves four rows.
    /// </summary>
    public static void Dot4Avx2(byte* s0, byte* s1, byte* s2, byte* s3, sbyte* q, float* d, int blocks, float* result)
    {
        var ones = Vector256.Create((short)1);
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < blocks; b++, q += BlockWeights)
        {
            nint o = (nint)b * BlockBytes;
            var v0 = Avx.LoadVector256(s0 + o);
            var v1 = Avx.LoadVector256(s1 + o);
            var v2 = Avx.LoadVector256(s2 + o);
            var v3 = Avx.LoadVector256(s3 + o);
            Vector256<short> a0 = default, a1 = default, a2 = default, a3 = default;
            Planes(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q), 0);
            Planes(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q + 32), 1);
            Planes(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q + 64), 2);
            Planes(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q + 96), 3);
            Planes(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q + 128), 4);
            Planes(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q + 160), 5);
            Planes(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q + 192), 6);
            Planes(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q + 224), 7);
            var scale = Vector256.Create(d[b]);
            f0 = Scale(Avx2.MultiplyAddAdjacent(a0, ones), scale, f0);
            f1 = Scale(Avx2.MultiplyAddAdjacent(a1, ones), scale, f1);
            f2 = Scale(Avx2.MultiplyAddAdjacent(a2, ones), scale, f2);
            f3 = Scale(Avx2.MultiplyAddAdjacent(a3, ones), scale, f3);
        }
        SalientCodes.Sum4(f0, f1, f2, f3, result);
    }

    /// <summary>f + d·I_b, fused where the machine has FMA (one rounding instead of two: the tests' tolerance holds either way).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scale(Vector256<int> blockSums, Vector256<float> scale, Vector256<float> f) =>
        Fma.IsSupported
            ? Fma.MultiplyAdd(Avx.ConvertToVector256Single(blockSums), scale, f)
            : Avx.Add(f, Avx.Multiply(Avx.ConvertToVector256Single(blockSums), scale));

    /// <summary>Plane <paramref name="j"/> of four rows against one activation vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Planes(
        ref Vector256<short> a0, ref Vector256<short> a1, ref Vector256<short> a2, ref Vector256<short> a3,
        Vector256<byte> v0, Vector256<byte> v1, Vector256<byte> v2, Vector256<byte> v3, Vector256<sbyte> x, [ConstantExpected] byte j)
    {
        var one = Vector256.Create((byte)1);
        a0 = Avx2.Add(a0, Avx2.MultiplyAddAdjacent(Avx2.And(Avx2.ShiftRightLogical(v0.AsUInt16(), j).AsByte(), one), x));
        a1 = Avx2.Add(a1, Avx2.MultiplyAddAdjacent(Avx2.And(Avx2.ShiftRightLogical(v1.AsUInt16(), j).AsByte(), one), x));
        a2 = Avx2.Add(a2, Avx2.MultiplyAddAdjacent(Avx2.And(Avx2.ShiftRightLogical(v2.AsUInt16(), j).AsByte(), one), x));
        a3 = Avx2.Add(a3, Avx2.MultiplyAddAdjacent(Avx2.And(Avx2.ShiftRightLogical(v3.AsUInt16(), j).AsByte(), one), x));
    }

    /// <summary>
    /// AVX-VNNI: <c>vpdpbusd</c> multiplies the 0/1 bytes with the int8 activations and adds groups of four
    /// straight into int32 lanes, so there is no int16 stage and no widening step.
    /// </summary>
    public static void Dot4AvxVnni(byte* s0, byte* s1, byte* s2, byte* s3, sbyte* q, float* d, int blocks, float* result)
    {
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < blocks; b++, q += BlockWeights)
        {
            nint o = (nint)b * BlockBytes;
            var v0 = Avx.LoadVector256(s0 + o);
            var v1 = Avx.LoadVector256(s1 + o);
            var v2 = Avx.LoadVector256(s2 + o);
            var v3 = Avx.LoadVector256(s3 + o);
            Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
            PlanesVnni(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q), 0);
            PlanesVnni(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q + 32), 1);
            PlanesVnni(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q + 64), 2);
            PlanesVnni(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q + 96), 3);
            PlanesVnni(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q + 128), 4);
            PlanesVnni(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q + 160), 5);
            PlanesVnni(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q + 192), 6);
            PlanesVnni(ref a0, ref a1, ref a2, ref a3, v0, v1, v2, v3, Avx.LoadVector256(q + 224), 7);
            var scale = Vector256.Create(d[b]);
            f0 = Avx.Add(f0, Avx.Multiply(Avx.ConvertToVector256Single(a0), scale));
            f1 = Avx.Add(f1, Avx.Multiply(Avx.ConvertToVector256Single(a1), scale));
            f2 = Avx.Add(f2, Avx.Multiply(Avx.ConvertToVector256Single(a2), scale));
            f3 = Avx.Add(f3, Avx.Multiply(Avx.ConvertToVector256Single(a3), scale));
        }
        result[0] = Vector256.Sum(f0);
        result[1] = Vector256.Sum(f1);
        result[2] = Vector256.Sum(f2);
        result[3] = Vector256.Sum(f3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PlanesVnni(
        ref Vector256<int> a0, ref Vector256<int> a1, ref Vector256<int> a2, ref Vector256<int> a3,
        Vector256<byte> v0, Vector256<byte> v1, Vector256<byte> v2, Vector256<byte> v3, Vector256<sbyte> x, [ConstantExpected] byte j)
    {
        var one = Vector256.Create((byte)1);
        a0 = AvxVnni.MultiplyWideningAndAdd(a0, Avx2.And(Avx2.ShiftRightLogical(v0.AsUInt16(), j).AsByte(), one), x);
        a1 = AvxVnni.MultiplyWideningAndAdd(a1, Avx2.And(Avx2.ShiftRightLogical(v1.AsUInt16(), j).AsByte(), one), x);
        a2 = AvxVnni.MultiplyWideningAndAdd(a2, Avx2.And(Avx2.ShiftRightLogical(v2.AsUInt16(), j).AsByte(), one), x);
        a3 = AvxVnni.MultiplyWideningAndAdd(a3, Avx2.And(Avx2.ShiftRightLogical(v3.AsUInt16(), j).AsByte(), one), x);
    }
}
