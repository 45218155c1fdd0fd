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

    /// <summary>Inputs are padded with zeros to a multiple of this for <see cref="Dot4Padded"/> and <see cref="Dot4Nibbles"/>.</summary>
    public const int InputPadding = 8;

    /// <summary>The gathered inputs' stride for <paramref name="count"/> salient columns: rounded up to <see cref="InputPadding"/>.</summary>
    public static int PaddedCount(int count) => (count + InputPadding - 1) / InputPadding * InputPadding;

    /// <summary>
    /// As <see cref="Dot4"/>, eight codes a step with no scalar tail: <paramref name="x"/> must hold zeros from
    /// <paramref name="count"/> up to <see cref="PaddedCount"/>, and each code row must be readable that far
    /// (an <see cref="Expand"/> buffer is; whatever it holds there meets a zero input).
    /// </summary>
    public static void Dot4Padded(byte* c0, byte* c1, byte* c2, byte* c3, float* x, int count, float* result)
    {
        if (!Fma.IsSupported)
        {
            Dot4(c0, c1, c2, c3, x, count, result);
            return;
        }
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int r = 0; r < count; r += 8)
        {
            var v = Avx.LoadVector256(x + r);
            a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(c0 + r)), v, a0);
            a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(c1 + r)), v, a1);
            a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(c2 + r)), v, a2);
            a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(c3 + r)), v, a3);
        }
        Sum4(a0, a1, a2, a3, result);
    }

    /// <summary>
    /// Σ_r code_k[r] · x[r] for up to four rows of 4-bit codes that start on a byte, <paramref name="rowBytes"/>
    /// (= <paramref name="count"/> / 2) apart from <paramref name="row0"/> (<paramref name="rows"/> &lt; 4 repeats the
    /// last row), the nibbles taken apart in registers instead of through an <see cref="Expand"/> buffer:
    /// one 4-byte broadcast, a variable shift and a mask give eight codes as int32 lanes. Reads no byte past a
    /// row's own codes; <paramref name="x"/> must be zero-padded as for <see cref="Dot4Padded"/>.
    /// </summary>
    public static void Dot4Nibbles(byte* row0, int rowBytes, int rows, float* x, int count, float* result) =>
        Dot4Nibbles(row0, rowBytes, rows, x, count, result, row0 + (nint)rows * rowBytes);

    /// <summary>
    /// As <see cref="Dot4Nibbles(byte*, int, int, float*, int, float*)"/>, told that bytes up to
    /// <paramref name="readableEnd"/> may be read (the end of the whole code stream): a row's last 1–3 code bytes
    /// are then read as one word and masked, instead of byte by byte, wherever four bytes fit before that end.
    /// The result is the same bits.
    /// </summary>
    public static void Dot4Nibbles(byte* row0, int rowBytes, int rows, float* x, int count, float* result, byte* readableEnd)
    {
        byte* p0 = row0;
        byte* p1 = rows > 1 ? p0 + rowBytes : p0;
        byte* p2 = rows > 2 ? p1 + rowBytes : p1;
        byte* p3 = rows > 3 ? p2 + rowBytes : p2;
        if (!Fma.IsSupported)
        {
            // No AVX2: the scalar definition.
            for (int k = 0; k < 4; k++)
            {
                byte* p = k switch { 0 => p0, 1 => p1, 2 => p2, _ => p3 };
                float sum = 0;
                for (int r = 0; r < count; r++) sum += (p[r >> 1] >> 4 * (r & 1) & 15) * x[r];
                result[k] = sum;
            }
            return;
        }
        var shifts = Vector256.Create(0u, 4, 8, 12, 16, 20, 24, 28);
        var mask = Vector256.Create(15u);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int full = count & ~7, r8 = 0;
        for (; r8 < full; r8 += 8)
        {
            var v = Avx.LoadVector256(x + r8);
            int at = r8 >> 1;
            a0 = Fma.MultiplyAdd(Nibbles8((uint*)(p0 + at), shifts, mask), v, a0);
            a1 = Fma.MultiplyAdd(Nibbles8((uint*)(p1 + at), shifts, mask), v, a1);
            a2 = Fma.MultiplyAdd(Nibbles8((uint*)(p2 + at), shifts, mask), v, a2);
            a3 = Fma.MultiplyAdd(Nibbles8((uint*)(p3 + at), shifts, mask), v, a3);
        }
        if (full < count)
        {
            // The last 2, 4 or 6 codes: only the row's own bytes are read; the zero inputs beyond count cancel the rest.
            int at = full >> 1, bytes = (count - full + 1) >> 1;
            var v = Avx.LoadVector256(x + full);
            a0 = Fma.MultiplyAdd(Nibbles8(Partial(p0 + at, bytes, readableEnd), shifts, mask), v, a0);
            a1 = Fma.MultiplyAdd(Nibbles8(Partial(p1 + at, bytes, readableEnd), shifts, mask), v, a1);
            a2 = Fma.MultiplyAdd(Nibbles8(Partial(p2 + at, bytes, readableEnd), shifts, mask), v, a2);
            a3 = Fma.MultiplyAdd(Nibbles8(Partial(p3 + at, bytes, readableEnd), shifts, mask), v, a3);
        }
        Sum4(a0, a1, a2, a3, result);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Nibbles8(uint* word, Vector256<uint> shifts, Vector256<uint> mask) =>
        Avx.ConvertToVector256Single((Avx2.ShiftRightLogicalVariable(Avx2.BroadcastScalarToVector256(word), shifts) & mask).AsInt32());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Nibbles8(uint word, Vector256<uint> shifts, Vector256<uint> mask) =>
        Avx.ConvertToVector256Single((Avx2.ShiftRightLogicalVariable(Vector256.Create(word), shifts) & mask).AsInt32());

    /// <summary>The first <paramref name="bytes"/> (&lt; 4) bytes at <paramref name="p"/> as a little-endian word, zeros above.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Partial(byte* p, int bytes, byte* readableEnd)
    {
        if (p + 4 <= readableEnd) return Unsafe.ReadUnaligned<uint>(p) & (uint)((1L << 8 * bytes) - 1);
        uint word = 0;
        for (int i = 0; i < bytes; i++) word |= (uint)p[i] << 8 * i;
        return word;
    }

    /// <summary>The four vectors' lane sums into result[0..3], with three horizontal adds instead of four full reductions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Sum4(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3, float* result)
    {
        var s = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
        Sse.Store(result, Sse.Add(s.GetLower(), s.GetUpper()));
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
