using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
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

    /// <summary>Eight FP16 values at <paramref name="halves"/> as FP32 (AVX2 only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle8(ushort* halves)
    {
        var h = Avx2.ConvertToVector256Int32(halves).AsUInt32();
        var magnitude = Avx2.ShiftLeftLogical(h & Vector256.Create(0x7FFFu), 13);
        var finite = magnitude.AsSingle() * Vector256.Create(0x77800000u).AsSingle();   // rebias the exponent by 2^112
        var special = (magnitude | Vector256.Create(0x7F800000u)).AsSingle();          // infinities and NaNs
        var isSpecial = Avx2.CompareEqual(h & Vector256.Create(0x7C00u), Vector256.Create(0x7C00u)).AsSingle();
        var value = Avx.BlendVariable(finite, special, isSpecial);
        return (value.AsUInt32() | Avx2.ShiftLeftLogical(h & Vector256.Create(0x8000u), 16)).AsSingle();
    }
}
