using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// The integer dot product of one 32-weight block of <c>uniform</c> codes with 32 int8 activations:
/// Σ code·q. Codes come straight from the layout's LSB-first bit stream (a 32-column block of a row
/// starts on a byte because columns are a multiple of 32): a byte holds 8/b consecutive columns, the
/// lowest bits the first. The vector paths take the codes apart plane by plane (all first codes of each
/// byte, then all second codes...), so they read the activations in that order: <see cref="PermuteBlock"/>
/// puts them there once per input, in <see cref="UniformCpuLinear.Prepare"/>.
/// </summary>
internal static unsafe class UniformBlockKernels
{
    /// <summary>Weights per block: the activation quantization block of the uniform kernel.</summary>
    public const int BlockSize = 32;

    /// <summary>Bytes of codes in one block of b-bit codes.</summary>
    public static int BlockBytes(int bits) => BlockSize * bits / 8;

    /// <summary>
    /// Reorders the 32 activations of a block into plane order: with p = 8/b codes per byte, entry
    /// j·(32/p) + k takes column k·p + j (plane j, byte k). For b = 8 this is the identity.
    /// </summary>
    public static void PermuteBlock(ReadOnlySpan<sbyte> block, Span<sbyte> destination, int bits)
    {
        int perByte = 8 / bits, bytes = BlockSize / perByte;
        for (int j = 0; j < perByte; j++)
            for (int k = 0; k < bytes; k++)
                destination[j * bytes + k] = block[k * perByte + j];
    }

    /// <summary>The oracle: reads each code from the bit stream and multiplies it with the activation of its column (natural order).</summary>
    public static int DotScalar(byte* codes, sbyte* q, int bits)
    {
        int mask = (1 << bits) - 1, sum = 0;
        for (int i = 0; i < BlockSize; i++)
        {
            int bit = i * bits;
            int code = (codes[bit >> 3] >> (bit & 7)) & mask;
            sum += code * q[i];
        }
        return sum;
    }

    /// <summary>Portable vector path (Vector128, any platform): activations in plane order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int DotPortable(byte* codes, sbyte* q, int bits)
    {
        Vector128<byte> c0, c1;
        switch (bits)
        {
            case 8:
                c0 = Vector128.Load(codes);
                c1 = Vector128.Load(codes + 16);
                break;
            case 4:
            {
                var v = Vector128.Load(codes);
                var low = Vector128.Create((byte)0x0F);
                c0 = v & low;
                c1 = Vector128.ShiftRightLogical(v, 4) & low;
                break;
            }
            case 2:
            {
                ulong w = Unsafe.ReadUnaligned<ulong>(codes);
                var low = Vector128.Create((byte)0x03);
                c0 = Vector128.Create(w, w >> 2).AsByte() & low;
                c1 = Vector128.Create(w >> 4, w >> 6).AsByte() & low;
                break;
            }
            default:
                throw new NotSupportedException($"no {bits}-bit uniform block kernel");
        }
        // code·q fits in int16 (255·127 = 32385); pairs are summed in int32.
        var q0 = Vector128.Load(q);
        var q1 = Vector128.Load(q + 16);
        var (c0Low, c0High) = Vector128.Widen(c0);
        var (c1Low, c1High) = Vector128.Widen(c1);
        var (q0Low, q0High) = Vector128.Widen(q0);
        var (q1Low, q1High) = Vector128.Widen(q1);
        var products = Sum16(c0Low.AsInt16() * q0Low) + Sum16(c0High.AsInt16() * q0High)
                     + Sum16(c1Low.AsInt16() * q1Low) + Sum16(c1High.AsInt16() * q1High);
        return Vector128.Sum(products);

        static Vector128<int> Sum16(Vector128<short> v)
        {
            var (a, b) = Vector128.Widen(v);
            return a + b;
        }
    }

    /// <summary>AVX2 path: eight int32 partial sums of the block (their total is the dot); activations in plane order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> ProductsAvx2(byte* codes, sbyte* q, int bits)
    {
        if (bits == 8)
        {
            // vpmaddubsw would saturate (2·255·127 > 32767): widen both to int16 and use vpmaddwd.
            var c0 = Avx2.ConvertToVector256Int16(codes);
            var c1 = Avx2.ConvertToVector256Int16(codes + 16);
            var q0 = Avx2.ConvertToVector256Int16(q);
            var q1 = Avx2.ConvertToVector256Int16(q + 16);
            return Avx2.Add(Avx2.MultiplyAddAdjacent(c0, q0), Avx2.MultiplyAddAdjacent(c1, q1));
        }
        Vector256<byte> c;
        if (bits == 4)
        {
            var v = Sse2.LoadVector128(codes);
            var low = Vector128.Create((byte)0x0F);
            c = Vector256.Create(Sse2.And(v, low), Sse2.And(Sse2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), low));
        }
        else if (bits == 2)
        {
            var v = Vector256.Create(Unsafe.ReadUnaligned<ulong>(codes));
            c = Avx2.And(Avx2.ShiftRightLogicalVariable(v, Vector256.Create(0UL, 2, 4, 6)).AsByte(), Vector256.Create((byte)0x03));
        }
        else throw new NotSupportedException($"no {bits}-bit uniform block kernel");
        // Codes ≤ 15: a pair 2·15·127 fits int16 without saturation.
        var pairs = Avx2.MultiplyAddAdjacent(c, Avx.LoadVector256(q));
        return Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1));
    }

    /// <summary>The AVX2 block dot as one number (tests).</summary>
    public static int DotAvx2(byte* codes, sbyte* q, int bits) => Vector256.Sum(ProductsAvx2(codes, q, bits));
}
