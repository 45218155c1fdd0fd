using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SagePtq.Runtime.Reference;

/// <summary>
/// One SIMD register width, as a type. Kernels are written once, generic over the width, and the
/// JIT compiles a separate copy for each struct below (no interface dispatch remains), so the
/// AVX-512, AVX2 and portable paths share one source. <see cref="ISimdVector{TSelf,T}"/> would do
/// this, but it is not public in .NET 10.
/// </summary>
internal interface ISimdLanes<TVector> where TVector : struct
{
    static abstract int Count { get; }
    static abstract TVector Zero { get; }
    static abstract TVector Load(ref float source, int offset);
    /// <summary>a × b + c, fused.</summary>
    static abstract TVector MultiplyAdd(TVector a, TVector b, TVector c);
    static abstract float Sum(TVector v);
}

/// <summary>16 floats: AVX-512 (Zen 4, recent Xeons).</summary>
internal readonly struct Lanes512 : ISimdLanes<Vector512<float>>
{
    public static bool IsSupported => Avx512F.IsSupported;
    public static int Count => Vector512<float>.Count;
    public static Vector512<float> Zero => Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(ref float source, int offset) => Vector512.LoadUnsafe(ref source, (nuint)offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Avx512F.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> v) => Vector512.Sum(v);
}

/// <summary>8 floats: AVX2 with FMA3 (every x64 CPU since 2013).</summary>
internal readonly struct Lanes256 : ISimdLanes<Vector256<float>>
{
    public static bool IsSupported => Fma.IsSupported && Avx2.IsSupported;
    public static int Count => Vector256<float>.Count;
    public static Vector256<float> Zero => Vector256<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(ref float source, int offset) => Vector256.LoadUnsafe(ref source, (nuint)offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Fma.MultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> v) => Vector256.Sum(v);
}

/// <summary>4 floats on any CPU (SSE, NEON, or software): the portable path.</summary>
internal readonly struct Lanes128 : ISimdLanes<Vector128<float>>
{
    public static int Count => Vector128<float>.Count;
    public static Vector128<float> Zero => Vector128<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(ref float source, int offset) => Vector128.LoadUnsafe(ref source, (nuint)offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.MultiplyAddEstimate(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector128<float> v) => Vector128.Sum(v);
}
