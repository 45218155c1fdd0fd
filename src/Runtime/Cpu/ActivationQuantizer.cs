using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// The int8 activation format every integer kernel reads (DESIGN.md §6): a vector is cut into blocks of
/// <c>blockSize</c> values from index 0 (the last block may be shorter); each block stores
/// q = round(x / d) with d = max|x| / 127 (d = 0 and q = 0 for an all-zero block), its scale d, and the
/// sum Σq of its codes, which the sign kernels need for Σ±x = 2·Σ[bit]·q − Σq.
/// <para>
/// The arithmetic is fixed so that every path gives the same bytes: d = max / 127f in float,
/// inverse = 1f / d (0 when d = 0), code = round-half-to-even(x · inverse) with the product rounded to float
/// first (<see cref="MathF.Round(float)"/>; the vector paths use <see cref="Vector256.Round(Vector256{float})"/>,
/// the same rule). Inputs must be finite.
/// </para>
/// </summary>
[SkipLocalsInit]
public static class ActivationQuantizer
{
    /// <summary>The code paths of <see cref="Quantize(ReadOnlySpan{float}, int, Span{sbyte}, Span{float}, Span{int})"/>, choosable so tests run each.</summary>
    internal enum Path
    {
        /// <summary>One value at a time.</summary>
        Scalar,
        /// <summary>Portable 128-bit vectors.</summary>
        Vector128,
        /// <summary>Portable 256-bit vectors.</summary>
        Vector256,
    }

    /// <summary>The path <see cref="Quantize(ReadOnlySpan{float}, int, Span{sbyte}, Span{float}, Span{int})"/> takes on this machine.</summary>
    internal static Path BestPath =>
        Vector256.IsHardwareAccelerated ? Path.Vector256 : Vector128.IsHardwareAccelerated ? Path.Vector128 : Path.Scalar;

    /// <summary>Whether <paramref name="path"/> runs accelerated here (the scalar one always does).</summary>
    internal static bool IsSupported(Path path) => path switch
    {
        Path.Vector256 => Vector256.IsHardwareAccelerated,
        Path.Vector128 => Vector128.IsHardwareAccelerated,
        _ => true,
    };

    /// <summary>Blocks of <paramref name="blockSize"/> in <paramref name="length"/> values.</summary>
    public static int BlockCount(int length, int blockSize) => (length + blockSize - 1) / blockSize;

    /// <summary>Quantizes <paramref name="x"/>; <paramref name="scales"/> and <paramref name="sums"/> hold one entry per block.</summary>
    public static void Quantize(ReadOnlySpan<float> x, int blockSize, Span<sbyte> q, Span<float> scales, Span<int> sums) =>
        Quantize(x, blockSize, q, scales, sums, BestPath);

    /// <summary>Quantizes along a chosen path (tests compare them; all give identical results).</summary>
    internal static void Quantize(ReadOnlySpan<float> x, int blockSize, Span<sbyte> q, Span<float> scales, Span<int> sums, Path path)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        int blocks = BlockCount(x.Length, blockSize);
        if (q.Length < x.Length || scales.Length < blocks || sums.Length < blocks)
            throw new ArgumentException($"buffers too small for {x.Length} values in {blocks} blocks");
        ref float source = ref MemoryMarshal.GetReference(x);
        ref sbyte codes = ref MemoryMarshal.GetReference(q);
        for (int b = 0; b < blocks; b++)
        {
            int start = b * blockSize, length = Math.Min(blockSize, x.Length - start);
            ref float block = ref Unsafe.Add(ref source, start);
            ref sbyte blockCodes = ref Unsafe.Add(ref codes, start);
            float max = path switch
            {
                Path.Vector256 => MaxAbs256(ref block, length),
                Path.Vector128 => MaxAbs128(ref block, length),
                _ => MaxAbsScalar(ref block, 0, length, 0f),
            };
            float d = max / 127f;
            float inverse = d == 0 ? 0 : 1f / d;
            sums[b] = path switch
            {
                Path.Vector256 => Round256(ref block, ref blockCodes, length, inverse),
                Path.Vector128 => Round128(ref block, ref blockCodes, length, inverse),
                _ => RoundScalar(ref block, ref blockCodes, 0, length, inverse),
            };
            scales[b] = d;
        }
    }

    private static float MaxAbsScalar(ref float block, int from, int length, float max)
    {
        for (int i = from; i < length; i++) max = Math.Max(max, Math.Abs(Unsafe.Add(ref block, i)));
        return max;
    }

    /// <summary>Codes of values [from, length); returns their sum.</summary>
    private static int RoundScalar(ref float block, ref sbyte codes, int from, int length, float inverse)
    {
        int sum = 0;
        for (int i = from; i < length; i++)
        {
            int code = (int)MathF.Round(Unsafe.Add(ref block, i) * inverse);
            Unsafe.Add(ref codes, i) = (sbyte)code;
            sum += code;
        }
        return sum;
    }

    // The maximum is exact whatever the order, so lanes may be combined in any order.
    private static float MaxAbs256(ref float block, int length)
    {
        var max = Vector256<float>.Zero;
        int i = 0;
        for (; i <= length - Vector256<float>.Count; i += Vector256<float>.Count)
            max = Vector256.Max(max, Vector256.Abs(Vector256.LoadUnsafe(ref block, (nuint)i)));
        float result = 0;
        for (int lane = 0; lane < Vector256<float>.Count; lane++) result = Math.Max(result, max.GetElement(lane));
        return MaxAbsScalar(ref block, i, length, result);
    }

    private static float MaxAbs128(ref float block, int length)
    {
        var max = Vector128<float>.Zero;
        int i = 0;
        for (; i <= length - Vector128<float>.Count; i += Vector128<float>.Count)
            max = Vector128.Max(max, Vector128.Abs(Vector128.LoadUnsafe(ref block, (nuint)i)));
        float result = 0;
        for (int lane = 0; lane < Vector128<float>.Count; lane++) result = Math.Max(result, max.GetElement(lane));
        return MaxAbsScalar(ref block, i, length, result);
    }

    // 32 values per step: four float vectors → int32 → int16 → one vector of 32 sbyte codes. |code| ≤ 127,
    // so the narrowing conversions lose nothing.
    private static int Round256(ref float block, ref sbyte codes, int length, float inverse)
    {
        var scale = Vector256.Create(inverse);
        var sum = Vector256<int>.Zero;
        int i = 0;
        for (; i <= length - 32; i += 32)
        {
            var c0 = Code256(ref block, i, scale);
            var c1 = Code256(ref block, i + 8, scale);
            var c2 = Code256(ref block, i + 16, scale);
            var c3 = Code256(ref block, i + 24, scale);
            sum += (c0 + c1) + (c2 + c3);
            Vector256.Narrow(Vector256.Narrow(c0, c1), Vector256.Narrow(c2, c3)).StoreUnsafe(ref codes, (nuint)i);
        }
        return Vector256.Sum(sum) + RoundScalar(ref block, ref codes, i, length, inverse);
    }

    private static int Round128(ref float block, ref sbyte codes, int length, float inverse)
    {
        var scale = Vector128.Create(inverse);
        var sum = Vector128<int>.Zero;
        int i = 0;
        for (; i <= length - 16; i += 16)
        {
            var c0 = Code128(ref block, i, scale);
            var c1 = Code128(ref block, i + 4, scale);
            var c2 = Code128(ref block, i + 8, scale);
            var c3 = Code128(ref block, i + 12, scale);
            sum += (c0 + c1) + (c2 + c3);
            Vector128.Narrow(Vector128.Narrow(c0, c1), Vector128.Narrow(c2, c3)).StoreUnsafe(ref codes, (nuint)i);
        }
        return Vector128.Sum(sum) + RoundScalar(ref block, ref codes, i, length, inverse);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Code256(ref float block, int i, Vector256<float> scale) =>
        Vector256.ConvertToInt32(Vector256.Round(Vector256.LoadUnsafe(ref block, (nuint)i) * scale));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Code128(ref float block, int i, Vector128<float> scale) =>
        Vector128.ConvertToInt32(Vector128.Round(Vector128.LoadUnsafe(ref block, (nuint)i) * scale));
}
