using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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
        TensorPrimitives.Multiply(row, signs[..row.Length], row);
        float norm = (float)(1 / Math.Sqrt(b));
        ref float start = ref MemoryMarshal.GetReference(row);
        for (int blockStart = 0; blockStart < row.Length; blockStart += b)
        {
            ref float block = ref Unsafe.Add(ref start, blockStart);
            for (int g = 0; g < b; g += 8) Eight(ref Unsafe.Add(ref block, g));
            for (int h = 8; h < b; h <<= 1)
                for (int i = 0; i < b; i += h << 1)
                    for (int j = i; j < i + h; j += 8)
                    {
                        var x = Vector256.LoadUnsafe(ref block, (nuint)j);
                        var y = Vector256.LoadUnsafe(ref block, (nuint)(j + h));
                        (x + y).StoreUnsafe(ref block, (nuint)j);
                        (x - y).StoreUnsafe(ref block, (nuint)(j + h));
                    }
        }
        TensorPrimitives.Multiply(row, norm, row);
    }

    /// <summary>The stages h = 1, 2, 4 of eight consecutive values, in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Eight(ref float v)
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
