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

    /// <summary>
    /// The path the product code takes: 512-bit first (64 weights per operation), then VNNI, AVX2, portable;
    /// the first that is supported and passes <see cref="SelfCheck"/> (a guard for instruction sets the test
    /// machines may lack).
    /// </summary>
    public static SignDotPath Best { get; } =
        new[] { SignDotPath.Avx512, SignDotPath.AvxVnni, SignDotPath.Avx2, SignDotPath.Vector128 }
            .FirstOrDefault(p => IsSupported(p) && SelfCheck(p), SignDotPath.Scalar);

    /// <summary>
    /// Whether <paramref name="path"/> gives the reference's exact integer block sums on a small fixed problem
    /// (4 rows × 3 blocks, so the 512-bit path's odd block is included): with d the b-th unit vector the float
    /// result is block b's integer sum.
    /// </summary>
    internal static unsafe bool SelfCheck(SignDotPath path)
    {
        const int blocks = 3;
        byte* signs = stackalloc byte[4 * blocks * SignDot.BlockBytes];
        sbyte* q = stackalloc sbyte[blocks * SignDot.BlockWeights];
        float* d = stackalloc float[blocks];
        float* result = stackalloc float[4];
        uint state = 0x9E3779B9;
        for (int i = 0; i < 4 * blocks * SignDot.BlockBytes; i++) signs[i] = (byte)(state = state * 1664525 + 1013904223);
        for (int i = 0; i < blocks * SignDot.BlockWeights; i++) q[i] = (sbyte)((state = state * 1664525 + 1013904223) % 255 - 127);
        int stride = blocks * SignDot.BlockBytes;
        for (int b = 0; b < blocks; b++)
        {
            for (int k = 0; k < blocks; k++) d[k] = k == b ? 1 : 0;
            SignDot.Dot4(path, signs, signs + stride, signs + 2 * stride, signs + 3 * stride, q, d, blocks, result);
            for (int r = 0; r < 4; r++)
                if (result[r] != SignDot.BlockDotReference(signs + r * stride + b * SignDot.BlockBytes, q + b * SignDot.BlockWeights)) return false;
        }
        return true;
    }
}
