using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SagePtq.Runtime.Cpu;

/// <summary>The instruction sets <see cref="SignDot"/> can run on, choosable so tests run each one the machine has.</summary>
internal enum SignDotPath
{
    /// <summary>One weight at a time: the oracle.</summary>
    Scalar,
    /// <summary>Portable 128-bit vectors (any accelerated platform).</summary>
    Vector128,
    /// <summary>AVX2 <c>vpmaddubsw</c> with int16 accumulation.</summary>
    Avx2,
    /// <summary>AVX-512BW: two 256-weight blocks per 512-bit operation.</summary>
    Avx512,
    /// <summary>AVX-VNNI <c>vpdpbusd</c>: int32 accumulation, no int16 stage.</summary>
    AvxVnni,
}

/// <summary>Which <see cref="SignDotPath"/>s this machine runs, and the fastest of them.</summary>
internal static class SignDotPaths
{
    /// <summary>Every path, in the order tests list them.</summary>
    public static IReadOnlyList<SignDotPath> All { get; } = Enum.GetValues<SignDotPath>();

    /// <summary>Whether this machine can run <paramref name="path"/>.</summary>
    public static bool IsSupported(SignDotPath path) => path switch
    {
        SignDotPath.Scalar => true,
        SignDotPath.Vector128 => Vector128.IsHardwareAccelerated,
        SignDotPath.Avx2 => Avx2.IsSupported,
        SignDotPath.Avx512 => Avx512BW.IsSupported && Vector512.IsHardwareAccelerated,
        SignDotPath.AvxVnni => AvxVnni.IsSupported,
        _ => false,
    };

    /// <summary>The path the product code takes: 512-bit first (64 weights per operation), then VNNI, AVX2, portable.</summary>
    public static SignDotPath Best { get; } =
        IsSupported(SignDotPath.Avx512) ? SignDotPath.Avx512
        : IsSupported(SignDotPath.AvxVnni) ? SignDotPath.AvxVnni
        : IsSupported(SignDotPath.Avx2) ? SignDotPath.Avx2
        : IsSupported(SignDotPath.Vector128) ? SignDotPath.Vector128
        : SignDotPath.Scalar;
}
