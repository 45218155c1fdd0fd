using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// FP16 → FP32 for the CPU kernels. .NET exposes no F16C instruction and TensorPrimitives converts one value
/// at a time, which made attention over the FP16 cache slower than the whole rest of a decoding step; with
/// AVX2 this converts 8 values per step with integer operations, bit-exact for every FP16 value (subnormals,
/// infinities and NaN payloads included).
/// </summary>
internal static unsafe class HalfConversion
{
    /// <summary>Converts <paramref name="source"/> into the first source.Length floats of <paramref name="destination"/>.</summary>
    public static void ToSingle(ReadOnlySpan<Half> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination is shorter than source", nameof(destination));
        if (!Avx2.IsSupported)
        {
            TensorPrimitives.ConvertToSingle(source, destination);
            return;
        }
        fixed (Half* s = source)
        fixed (float* d = destination)
        {
            int i = 0;
            for (; i <= source.Length - 8; i += 8) Avx.Store(d + i, ToSingle8((ushort*)s + i));
            for (; i < source.Length; i++) d[i] = (float)s[i];
        }
    }

    /// <summary>Σ x[i]·h[i] over <paramref name="length"/> values, converting the FP16 operand in registers.</summary>
    public static float Dot(float* x, Half* h, int length)
    {
        int i = 0;
        float sum = 0;
        if (Avx2.IsSupported && Fma.IsSupported)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= length - 8; i += 8) acc = Fma.MultiplyAdd(Avx.LoadVector256(x + i), ToSingle8((ushort*)h + i), acc);
            sum = Vector256.Sum(acc);
        }
        for (; i < length; i++) sum += x[i] * (float)h[i];
        return sum;
    }

    /// <summary>y[i] += a·h[i] over <paramref name="length"/> values, converting the FP16 operand in registers.</summary>
    public static void MultiplyAdd(Half* h, float a, float* y, int length)
    {
        int i = 0;
        if (Avx2.IsSupported && Fma.IsSupported)
        {
            var scale = Vector256.Create(a);
            for (; i <= length - 8; i += 8) Avx.Store(y + i, Fma.MultiplyAdd(ToSingle8((ushort*)h + i), scale, Avx.LoadVector256(y + i)));
        }
        for (; i < length; i++) y[i] += a * (float)h[i];
    }

    /// <summary>
    /// result[i] = <see cref="Dot"/>(x, rows + i·length, length) for i &lt; <paramref name="count"/> (attention
    /// scores against consecutive cached keys), with the same operations row by row: four rows run side by side
    /// so that their accumulation chains overlap and each input vector is loaded once for all four.
    /// </summary>
    /// <param name="allFinite">
    /// Whether every value of the rows is finite (no infinity or NaN, which the cache knows from what it stored):
    /// the conversion can then skip its special-value handling, half its instructions, with the same results.
    /// </param>
    public static void DotRows(float* x, Half* rows, int length, int count, float* result, bool allFinite = false)
    {
        if (allFinite) DotRows<FiniteHalves>(x, rows, length, count, result);
        else DotRows<AnyHalves>(x, rows, length, count, result);
    }

    private static void DotRows<TWiden>(float* x, Half* rows, int length, int count, float* result) where TWiden : struct, IWiden
    {
        int i = 0;
        if (Avx2.IsSupported && Fma.IsSupported)
        {
            int full = length & ~7;
            for (; i + 4 <= count; i += 4)
            {
                ushort* r0 = (ushort*)rows + (nint)i * length, r1 = r0 + length, r2 = r1 + length, r3 = r2 + length;
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int j = 0; j < full; j += 8)
                {
                    var v = Avx.LoadVector256(x + j);
                    a0 = Fma.MultiplyAdd(v, TWiden.Convert(r0 + j), a0);
                    a1 = Fma.MultiplyAdd(v, TWiden.Convert(r1 + j), a1);
                    a2 = Fma.MultiplyAdd(v, TWiden.Convert(r2 + j), a2);
                    a3 = Fma.MultiplyAdd(v, TWiden.Convert(r3 + j), a3);
                }
                float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
                for (int j = full; j < length; j++)
                {
                    s0 += x[j] * (float)((Half*)r0)[j];
                    s1 += x[j] * (float)((Half*)r1)[j];
                    s2 += x[j] * (float)((Half*)r2)[j];
                    s3 += x[j] * (float)((Half*)r3)[j];
                }
                (result[i], result[i + 1], result[i + 2], result[i + 3]) = (s0, s1, s2, s3);
            }
        }
        for (; i < count; i++) result[i] = Dot(x, rows + (nint)i * length, length);
    }

    /// <summary>
    /// y[j] = Σ_i weights[i]·rows[i·length + j] over i &lt; <paramref name="count"/> in ascending order (attention's
    /// weighted sum of cached values): the same values as clearing <paramref name="y"/> and calling
    /// <see cref="MultiplyAdd"/> once per row, since each output's chain of operations is unchanged; the outputs
    /// stay in registers across the rows (128 at a time on AVX-512, 64 on AVX2) instead of being loaded and stored for
    /// every row.
    /// </summary>
    /// <param name="allFinite">As for <see cref="DotRows(float*, Half*, int, int, float*, bool)"/>.</param>
    public static void WeightedRows(Half* rows, float* weights, int count, int length, float* y, bool allFinite = false)
    {
        if (allFinite) WeightedRows<FiniteHalves>(rows, weights, count, length, y);
        else WeightedRows<AnyHalves>(rows, weights, count, length, y);
    }

    private static void WeightedRows<TWiden>(Half* rows, float* weights, int count, int length, float* y) where TWiden : struct, IWiden
    {
        if (!(Avx2.IsSupported && Fma.IsSupported))
        {
            new Span<float>(y, length).Clear();
            for (int i = 0; i < count; i++) MultiplyAdd(rows + (nint)i * length, weights[i], y, length);
            return;
        }
        ushort* h = (ushort*)rows;
        int j = 0;
        if (Avx512F.IsSupported && Vector512.IsHardwareAccelerated)
            for (; j + 128 <= length; j += 128) WeightedColumns128<TWiden>(h + j, weights, count, length, y + j);
        for (; j + 64 <= length; j += 64) WeightedColumns64<TWiden>(h + j, weights, count, length, y + j);
        for (; j + 8 <= length; j += 8)
        {
            var a = Vector256<float>.Zero;
            ushort* row = h + j;
            for (int i = 0; i < count; i++, row += length) a = Fma.MultiplyAdd(TWiden.Convert(row), Vector256.Create(weights[i]), a);
            Avx.Store(y + j, a);
        }
        for (; j < length; j++)
        {
            float sum = 0;
            for (int i = 0; i < count; i++) sum += weights[i] * (float)rows[(nint)i * length + j];
            y[j] = sum;
        }
    }

    /// <summary>
    /// <see cref="WeightedRows"/> for 64 columns at once on AVX2: eight 256-bit accumulators, so a 128-wide head
    /// takes two passes over the rows (AVX2's sixteen registers cannot hold a whole head and the conversion).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WeightedColumns64<TWiden>(ushort* columns, float* weights, int count, int length, float* y) where TWiden : struct, IWiden
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        ushort* row = columns;
        for (int i = 0; i < count; i++, row += length)
        {
            var w = Vector256.Create(weights[i]);
            a0 = Fma.MultiplyAdd(TWiden.Convert(row), w, a0);
            a1 = Fma.MultiplyAdd(TWiden.Convert(row + 8), w, a1);
            a2 = Fma.MultiplyAdd(TWiden.Convert(row + 16), w, a2);
            a3 = Fma.MultiplyAdd(TWiden.Convert(row + 24), w, a3);
            a4 = Fma.MultiplyAdd(TWiden.Convert(row + 32), w, a4);
            a5 = Fma.MultiplyAdd(TWiden.Convert(row + 40), w, a5);
            a6 = Fma.MultiplyAdd(TWiden.Convert(row + 48), w, a6);
            a7 = Fma.MultiplyAdd(TWiden.Convert(row + 56), w, a7);
        }
        a0.Store(y);
        a1.Store(y + 8);
        a2.Store(y + 16);
        a3.Store(y + 24);
        a4.Store(y + 32);
        a5.Store(y + 40);
        a6.Store(y + 48);
        a7.Store(y + 56);
    }

    /// <summary>
    /// <see cref="WeightedRows"/> for 128 columns at once on AVX-512: eight 512-bit accumulators hold a whole
    /// 128-wide head, so the values are read in one pass instead of two passes over alternate halves of every row
    /// (each output's chain of operations is unchanged, so are its values). Attention over the 7B shape's cache at
    /// 2,048 positions: 32.5–44.7 ms a token against 39.4–47.7 with the two passes (`bench --profile --context`,
    /// three pairs; docs/runtime.md).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WeightedColumns128<TWiden>(ushort* columns, float* weights, int count, int length, float* y) where TWiden : struct, IWiden
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        ushort* row = columns;
        for (int i = 0; i < count; i++, row += length)
        {
            var w = Vector512.Create(weights[i]);
            a0 = Avx512F.FusedMultiplyAdd(TWiden.Convert16(row), w, a0);
            a1 = Avx512F.FusedMultiplyAdd(TWiden.Convert16(row + 16), w, a1);
            a2 = Avx512F.FusedMultiplyAdd(TWiden.Convert16(row + 32), w, a2);
            a3 = Avx512F.FusedMultiplyAdd(TWiden.Convert16(row + 48), w, a3);
            a4 = Avx512F.FusedMultiplyAdd(TWiden.Convert16(row + 64), w, a4);
            a5 = Avx512F.FusedMultiplyAdd(TWiden.Convert16(row + 80), w, a5);
            a6 = Avx512F.FusedMultiplyAdd(TWiden.Convert16(row + 96), w, a6);
            a7 = Avx512F.FusedMultiplyAdd(TWiden.Convert16(row + 112), w, a7);
        }
        a0.Store(y);
        a1.Store(y + 16);
        a2.Store(y + 32);
        a3.Store(y + 48);
        a4.Store(y + 64);
        a5.Store(y + 80);
        a6.Store(y + 96);
        a7.Store(y + 112);
    }

    /// <summary>
    /// Eight FP16 values at <paramref name="halves"/> as FP32 (AVX2 only). Sign-extending the halves to 32 bits
    /// and shifting by 13 puts the sign in bit 31 and exponent and mantissa in bits 27..13 (bits 28–30 hold
    /// copies of the sign, masked off); multiplying by 2^112 rebiases the exponent, signed zeros and subnormals
    /// included; infinities and NaNs (exponent all ones) instead get the float exponent all ones, payload kept.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle8(ushort* halves)
    {
        var h = Avx2.ConvertToVector256Int32((short*)halves);
        var bits = Avx2.ShiftLeftLogical(h, 13) & Vector256.Create(unchecked((int)0x8FFFE000));
        var finite = bits.AsSingle() * Vector256.Create(0x77800000u).AsSingle();
        var special = (bits | Vector256.Create(0x7F800000)).AsSingle();
        var isSpecial = Avx2.CompareEqual(h & Vector256.Create(0x7C00), Vector256.Create(0x7C00)).AsSingle();
        return Avx.BlendVariable(finite, special, isSpecial);
    }

    /// <summary>
    /// <see cref="ToSingle8"/> for halves known to be finite: the sign-extend, shift, mask and rebiasing multiply
    /// alone (zeros of both signs and subnormals included), without the infinity and NaN handling.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle8Finite(ushort* halves)
    {
        var bits = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((short*)halves), 13) & Vector256.Create(unchecked((int)0x8FFFE000));
        return bits.AsSingle() * Vector256.Create(0x77800000u).AsSingle();
    }

    /// <summary><see cref="ToSingle8"/> for sixteen values (AVX-512F): the same operations, one vector wider.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle16(ushort* halves)
    {
        var h = Avx512F.ConvertToVector512Int32(Vector256.Load((short*)halves));
        var bits = Avx512F.ShiftLeftLogical(h, 13) & Vector512.Create(unchecked((int)0x8FFFE000));
        var finite = bits.AsSingle() * Vector512.Create(0x77800000u).AsSingle();
        var special = (bits | Vector512.Create(0x7F800000)).AsSingle();
        var isSpecial = Vector512.Equals(h & Vector512.Create(0x7C00), Vector512.Create(0x7C00)).AsSingle();
        return Vector512.ConditionalSelect(isSpecial, special, finite);
    }

    /// <summary><see cref="ToSingle8Finite"/> for sixteen values (AVX-512F).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle16Finite(ushort* halves)
    {
        var bits = Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Load((short*)halves)), 13) & Vector512.Create(unchecked((int)0x8FFFE000));
        return bits.AsSingle() * Vector512.Create(0x77800000u).AsSingle();
    }

    /// <summary>Whether any of <paramref name="values"/> is an infinity or a NaN (exponent bits all ones).</summary>
    public static bool AnySpecial(ReadOnlySpan<Half> values)
    {
        var bits = MemoryMarshal.Cast<Half, ushort>(values);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var exponent = Vector256.Create((ushort)0x7C00);
            var found = Vector256<ushort>.Zero;
            for (; i <= bits.Length - 16; i += 16)
                found |= Vector256.Equals(Vector256.Create(bits.Slice(i, 16)) & exponent, exponent);
            if (found != Vector256<ushort>.Zero) return true;
        }
        for (; i < bits.Length; i++)
            if ((bits[i] & 0x7C00) == 0x7C00) return true;
        return false;
    }

    /// <summary>Eight (sixteen) halves to floats: the kernels above are compiled once per implementation.</summary>
    private interface IWiden
    {
        static abstract Vector256<float> Convert(ushort* halves);
        static abstract Vector512<float> Convert16(ushort* halves);
    }

    private readonly struct AnyHalves : IWiden
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Convert(ushort* halves) => ToSingle8(halves);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Convert16(ushort* halves) => ToSingle16(halves);
    }

    private readonly struct FiniteHalves : IWiden
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Convert(ushort* halves) => ToSingle8Finite(halves);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Convert16(ushort* halves) => ToSingle16Finite(halves);
    }
}
