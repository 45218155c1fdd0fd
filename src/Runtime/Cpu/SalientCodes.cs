using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// The salient part of a sage row: its b-bit codes read from the LSB-first stream in the mapping
/// (<see cref="Packing.Layouts.BitPacking"/> order) and their dot product with the gathered inputs.
/// </summary>
[SkipLocalsInit]
internal static unsafe class SalientCodes
{
    /// <summary>Extra bytes a buffer for <see cref="Expand"/> needs beyond the code count.</summary>
    public const int BufferSlack = 32;

    /// <summary>
    /// Codes <paramref name="first"/> .. <paramref name="first"/> + <paramref name="count"/> − 1 of the stream
    /// (<paramref name="streamBytes"/> long) as one byte each. Returns where they start: in
    /// <paramref name="buffer"/> (<paramref name="count"/> + <see cref="BufferSlack"/> bytes), or for 8-bit codes
    /// straight in the stream. Reads no byte past the stream.
    /// </summary>
    public static byte* Expand(byte* stream, long streamBytes, long first, int count, int bits, byte* buffer)
    {
        long bit = first * bits;
        if (bits == 8) return stream + first;
        if (bits == 4) return Nibbles(stream + (bit >> 3), (bit & 7) != 0, count, buffer);
        int mask = (1 << bits) - 1;
        int r = Groups(stream + (bit >> 3), streamBytes - (bit >> 3), (int)(bit & 7), count, bits, buffer);
        for (bit += (long)r * bits; r < count; r++, bit += bits)
        {
            long at = bit >> 3;
            int word = stream[at];
            if (at + 1 < streamBytes) word |= stream[at + 1] << 8;
            buffer[r] = (byte)(word >> (int)(bit & 7) & mask);
        }
        return buffer;
    }

    /// <summary>
    /// Eight codes at a time: they span exactly b bytes, so every group starts at the same bit offset
    /// <paramref name="shift"/> of its first byte, and one 8-byte read (kept inside the stream) holds all of them
    /// (shift + 8b ≤ 63; a little-endian read, as the whole pack format assumes). Returns how many codes it wrote.
    /// </summary>
    private static int Groups(byte* source, long available, int shift, int count, int bits, byte* buffer)
    {
        ulong mask = (1UL << bits) - 1;
        int r = 0;
        for (long at = 0; r + 8 <= count && at + 8 <= available; r += 8, at += bits)
        {
            ulong w = Unsafe.ReadUnaligned<ulong>(source + at) >> shift;
            buffer[r] = (byte)(w & mask);
            buffer[r + 1] = (byte)(w >> bits & mask);
            buffer[r + 2] = (byte)(w >> 2 * bits & mask);
            buffer[r + 3] = (byte)(w >> 3 * bits & mask);
            buffer[r + 4] = (byte)(w >> 4 * bits & mask);
            buffer[r + 5] = (byte)(w >> 5 * bits & mask);
            buffer[r + 6] = (byte)(w >> 6 * bits & mask);
            buffer[r + 7] = (byte)(w >> 7 * bits & mask);
        }
        return r;
    }

    /// <summary>4-bit codes: byte k holds code 2k in its low and 2k + 1 in its high nibble.</summary>
    private static byte* Nibbles(byte* source, bool highFirst, int count, byte* buffer)
    {
        int nibbles = count + (highFirst ? 1 : 0), bytes = (nibbles + 1) / 2, k = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var low = Vector128.Create((byte)0x0F);
            for (; k + 16 <= bytes; k += 16)
            {
                var v = Vector128.Load(source + k);
                var lo = (v & low).AsUInt16();
                var hi = Vector128.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low;
                // Little-endian ushort lane m = byte 2m | byte 2m+1 << 8: (lo_m | hi_m << 8) puts lo_m, hi_m in order.
                var (loL, loH) = Vector128.Widen(lo.AsByte());
                var (hiL, hiH) = Vector128.Widen(hi);
                (loL | (hiL << 8)).AsByte().Store(buffer + 2 * k);
                (loH | (hiH << 8)).AsByte().Store(buffer + 2 * k + 16);
            }
        }
        for (; k < bytes; k++)
        {
            buffer[2 * k] = (byte)(source[k] & 0x0F);
            buffer[2 * k + 1] = (byte)(source[k] >> 4);
        }
        return highFirst ? buffer + 1 : buffer;
    }

    /// <summary>Σ_r codes_k[r] · x[r] for four code rows (repeat a pointer for fewer): each input load serves four rows.</summary>
    public static void Dot4(byte* c0, byte* c1, byte* c2, byte* c3, float* x, int count, float* result)
    {
        int r = 0;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (Avx2.IsSupported && count >= 8)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; r + 8 <= count; r += 8)
            {
                var v = Avx.LoadVector256(x + r);
                a0 += Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(c0 + r)) * v;
                a1 += Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(c1 + r)) * v;
                a2 += Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(c2 + r)) * v;
                a3 += Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(c3 + r)) * v;
            }
            (s0, s1, s2, s3) = (Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3));
        }
        for (; r < count; r++)
        {
            s0 += c0[r] * x[r];
            s1 += c1[r] * x[r];
            s2 += c2[r] * x[r];
            s3 += c3[r] * x[r];
        }
        (result[0], result[1], result[2], result[3]) = (s0, s1, s2, s3);
    }

    /// <summary>Σ codes[r] · x[r] over <paramref name="count"/> entries.</summary>
    public static float Dot(byte* codes, float* x, int count)
    {
        int r = 0;
        float sum = 0;
        if (Avx2.IsSupported && count >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; r + 8 <= count; r += 8)
                acc += Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(codes + r)) * Avx.LoadVector256(x + r);
            sum = Vector256.Sum(acc);
        }
        for (; r < count; r++) sum += codes[r] * x[r];
        return sum;
    }
}
