using System.Runtime.CompilerServices;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// The sign-plane dot product of the sage kernels, four weight rows against one int8 activation vector:
/// result[r] = Σ_b d[b] · Σ_{t &lt; 256} bit(r, b, t) · q[256·b + t], where bit(r, b, t) is bit t / 32 of byte
/// 32·b + t mod 32 of row r (the full-block order of <see cref="Packing.Layouts.SignPlanes"/>).
/// The integer part of each block is exact on every path; only the float accumulation of d[b]·I_b
/// differs in order between paths. A short last block is fed through the same code by the caller:
/// its sign bytes staged into a 32-byte block and its activations spread to plane positions
/// (see <see cref="SageCpuLinear"/>), zeros elsewhere.
/// </summary>
[SkipLocalsInit]
internal static unsafe partial class SignDot
{
    /// <summary>Weights per block.</summary>
    public const int BlockWeights = 256;

    /// <summary>Sign bytes per block.</summary>
    public const int BlockBytes = 32;

    /// <summary>
    /// Four rows (<paramref name="s0"/>..<paramref name="s3"/> at their first block; repeat a pointer for
    /// fewer rows) × <paramref name="blocks"/> blocks of <paramref name="q"/>, scaled by <paramref name="d"/>;
    /// writes result[0..3].
    /// </summary>
    public static void Dot4(SignDotPath path, byte* s0, byte* s1, byte* s2, byte* s3, sbyte* q, float* d, int blocks, float* result)
    {
        switch (path)
        {
            case SignDotPath.Avx512: Dot4Avx512(s0, s1, s2, s3, q, d, blocks, result); break;
            case SignDotPath.AvxVnni: Dot4AvxVnni(s0, s1, s2, s3, q, d, blocks, result); break;
            case SignDotPath.Avx2: Dot4Avx2(s0, s1, s2, s3, q, d, blocks, result); break;
            case SignDotPath.Vector128: Dot4Vector128(s0, s1, s2, s3, q, d, blocks, result); break;
            default: Dot4Reference(s0, s1, s2, s3, q, d, blocks, result); break;
        }
    }

    /// <summary>The oracle: one weight at a time, float accumulation in block order.</summary>
    public static void Dot4Reference(byte* s0, byte* s1, byte* s2, byte* s3, sbyte* q, float* d, int blocks, float* result)
    {
        for (int r = 0; r < 4; r++)
        {
            byte* s = r switch { 0 => s0, 1 => s1, 2 => s2, _ => s3 };
            float acc = 0;
            for (int b = 0; b < blocks; b++)
                acc += BlockDotReference(s + b * BlockBytes, q + b * BlockWeights) * d[b];
            result[r] = acc;
        }
    }

    /// <summary>Σ_t bit t / 32 of byte t mod 32 of <paramref name="signs"/> · q[t] over one 256-weight block.</summary>
    public static int BlockDotReference(byte* signs, sbyte* q)
    {
        int sum = 0;
        for (int t = 0; t < BlockWeights; t++)
            if ((signs[t & 31] >> (t >> 5) & 1) != 0) sum += q[t];
        return sum;
    }
}
