using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// <see cref="RandomizedHadamard.Forward(Span{float}, ReadOnlySpan{float})"/> with vectors, giving the same
/// bits: every output is still built by the same butterflies (x + y, x − y) from the same operands in the same
/// stage order, and the sign and 1/√b products are the same single multiplications; only which butterflies run
/// side by side changes.
/// </summary>
[SkipLocalsInit]
internal static class FastHadamard
{
    /// <summary>x → H_b(D x) in place, as <see cref="RandomizedHadamard.Forward(Span{float}, ReadOnlySpan{float})"/>.</summary>
    public static void Forward(Span<float> row, ReadOnlySpan<float> signs)
    {
        int b = RandomizedHadamard.BlockSize(row.Length);
        if (b < 8 || !Vector256.IsHardwareAccelerated)
        {
            RandomizedHadamard.Forward(row, signs);
            return;
        }
        if (!Avx.IsSupported)
        {
            ForwardVector256(row, signs, b);
            return;
        }
        float norm = (float)(1 / Math.Sqrt(b));
        int stages = BitOperations.Log2((uint)b) - 3;   // the butterfly stages h = 8 .. b/2 after the in-register ones
        var normVector = Vector256.Create(norm);
        ref float start = ref MemoryMarshal.GetReference(row);
        ref float sign = ref MemoryMarshal.GetReference(signs);
        for (int blockStart = 0; blockStart < row.Length; blockStart += b)
        {
            ref float block = ref Unsafe.Add(ref start, blockStart);
            ref float blockSigns = ref Unsafe.Add(ref sign, blockStart);
            // D, then stages 1, 2, 4 in registers (and 1/√b at once when there is no other stage).
            for (int g = 0; g < b; g += 8)
            {
                var v = EightInRegisters(Vector256.LoadUnsafe(ref block, (nuint)g) * Vector256.LoadUnsafe(ref blockSigns, (nuint)g));
                (stages == 0 ? v * normVector : v).StoreUnsafe(ref block, (nuint)g);
            }
            int h = 8;
            if (stages % 2 == 1)
            {
                Stage(ref block, b, h, stages == 1, normVector);
                h <<= 1;
            }
            // The remaining stages two at a time (h and 2h on the same four vectors): half the loads and stores.
            for (; h < b; h <<= 2) TwoStages(ref block, b, h, h << 2 == b, normVector);
        }
    }

    /// <summary>The portable-vector path: D, the stages one by one, then 1/√b (no AVX).</summary>
    private static void ForwardVector256(Span<float> row, ReadOnlySpan<float> signs, int b)
    {
        TensorPrimitives.Multiply(row, signs[..row.Length], row);
        float norm = (float)(1 / Math.Sqrt(b));
        ref float start = ref MemoryMarshal.GetReference(row);
        for (int blockStart = 0; blockStart < row.Length; blockStart += b)
        {
            ref float block = ref Unsafe.Add(ref start, blockStart);
            for (int g = 0; g < b; g += 8) Eight(ref Unsafe.Add(ref block, g));
            for (int h = 8; h < b; h <<= 1) Stage(ref block, b, h, false, default);
        }
        TensorPrimitives.Multiply(row, norm, row);
    }

    /// <summary>Butterfly stage h (a multiple of 8) over a block; the last stage also scales by 1/√b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stage(ref float block, int b, int h, bool last, Vector256<float> norm)
    {
        for (int i = 0; i < b; i += h << 1)
            for (int j = i; j < i + h; j += 8)
            {
                var x = Vector256.LoadUnsafe(ref block, (nuint)j);
                var y = Vector256.LoadUnsafe(ref block, (nuint)(j + h));
                var sum = x + y;
                var difference = x - y;
                if (last)
                {
                    sum *= norm;
                    difference *= norm;
                }
                sum.StoreUnsafe(ref block, (nuint)j);
                difference.StoreUnsafe(ref block, (nuint)(j + h));
            }
    }

    /// <summary>Stages h and 2h in one pass: each group of four vectors (j, j + h, j + 2h, j + 3h) goes through both.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TwoStages(ref float block, int b, int h, bool last, Vector256<float> norm)
    {
        for (int i = 0; i < b; i += h << 2)
            for (int j = i; j < i + h; j += 8)
            {
                var a = Vector256.LoadUnsafe(ref block, (nuint)j);
                var c = Vector256.LoadUnsafe(ref block, (nuint)(j + h));
                var e = Vector256.LoadUnsafe(ref block, (nuint)(j + 2 * h));
                var g = Vector256.LoadUnsafe(ref block, (nuint)(j + 3 * h));
                // Stage h: pairs (j, j + h) and (j + 2h, j + 3h).
                var a1 = a + c;
                var c1 = a - c;
                var e1 = e + g;
                var g1 = e - g;
                // Stage 2h: pairs (j, j + 2h) and (j + h, j + 3h).
                var a2 = a1 + e1;
                var e2 = a1 - e1;
                var c2 = c1 + g1;
                var g2 = c1 - g1;
                if (last)
                {
                    a2 *= norm;
                    c2 *= norm;
                    e2 *= norm;
                    g2 *= norm;
                }
                a2.StoreUnsafe(ref block, (nuint)j);
                c2.StoreUnsafe(ref block, (nuint)(j + h));
                e2.StoreUnsafe(ref block, (nuint)(j + 2 * h));
                g2.StoreUnsafe(ref block, (nuint)(j + 3 * h));
            }
    }

    /// <summary>
    /// <see cref="Eight"/> in one AVX vector: each stage swaps partners within the vector (pairs, then pairs of
    /// pairs, then halves), adds and subtracts, and blends, keeping every lane's sum or difference with the
    /// scalar operand order (lower partner first) so the bits match.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> EightInRegisters(Vector256<float> a)
    {
        var swapped = Avx.Permute(a, 0b10_11_00_01);                  // a1 a0 a3 a2 …
        var b = Avx.Blend(a + swapped, swapped - a, 0b1010_1010);     // even lanes a_even + a_odd, odd lanes a_even − a_odd
        swapped = Avx.Permute(b, 0b01_00_11_10);                      // b2 b3 b0 b1 …
        var c = Avx.Blend(b + swapped, swapped - b, 0b1100_1100);
        swapped = Avx.Permute2x128(c, c, 0x01);                       // c4..c7 c0..c3
        return Avx.Blend(c + swapped, swapped - c, 0b1111_0000);
    }

    /// <summary>The stages h = 1, 2, 4 of eight consecutive values, in scalar registers (the oracle of <see cref="EightInRegisters"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Eight(ref float v)
    {
        float a0 = v, a1 = Unsafe.Add(ref v, 1), a2 = Unsafe.Add(ref v, 2), a3 = Unsafe.Add(ref v, 3);
        float a4 = Unsafe.Add(ref v, 4), a5 = Unsafe.Add(ref v, 5), a6 = Unsafe.Add(ref v, 6), a7 = Unsafe.Add(ref v, 7);
        float b0 = a0 + a1, b1 = a0 - a1, b2 = a2 + a3, b3 = a2 - a3, b4 = a4 + a5, b5 = a4 - a5, b6 = a6 + a7, b7 = a6 - a7;
        float c0 = b0 + b2, c2 = b0 - b2, c1 = b1 + b3, c3 = b1 - b3, c4 = b4 + b6, c6 = b4 - b6, c5 = b5 + b7, c7 = b5 - b7;
        v = c0 + c4;
        Unsafe.Add(ref v, 1) = c1 + c5;
        Unsafe.Add(ref v, 2) = c2 + c6;
        Unsafe.Add(ref v, 3) = c3 + c7;
        Unsafe.Add(ref v, 4) = c0 - c4;
        Unsafe.Add(ref v, 5) = c1 - c5;
        Unsafe.Add(ref v, 6) = c2 - c6;
        Unsafe.Add(ref v, 7) = c3 - c7;
    }
}
