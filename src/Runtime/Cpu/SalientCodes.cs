using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// The salient part of a sage row: its b-bit codes read from the LSB-first stream in the mapping
/// (<see cref="Packing.Layouts.BitPacking"/> order) and their dot product with the gathered inputs.
/// <para>
/// The inputs are rounded to int16 on one scale per token (<see cref="QuantizeInputs"/>), so the products are
/// integer and exact: two <c>vpmaddwd</c> per 32 codes instead of a conversion and a multiply-add per 8 in float.
/// The rounding moves each input by at most max|x| / 65,534, 258 times finer than the int8 inputs of the binary
/// part, and is part of the CPU kernel's definition (docs/runtime.md).
/// </para>
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

    /// <summary>
    /// The largest magnitude the int16 inputs may take so that, for <paramref name="count"/> inputs and
    /// <paramref name="bits"/>-bit codes, Σ code·q minus 2^(bits−1)·Σ q is exact in int32, each term and their
    /// difference: count·(2^bits − 1 + 2^(bits−1))·range ≤ 2^31 − 1. It is 32,767 for 4-bit codes up to 2,849 columns.
    /// </summary>
    public static int InputRange(int count, int bits) =>
        count == 0 ? short.MaxValue : (int)Math.Min(short.MaxValue, int.MaxValue / ((long)count * ((1 << bits) - 1 + (1 << (bits - 1)))));

    /// <summary>
    /// Rounds the gathered salient inputs <paramref name="x"/> to int16 on one scale, s = max|x| / <paramref name="range"/>
    /// (0 when every input is 0), into <paramref name="q"/>, and returns s; <paramref name="sum"/> is Σ q.
    /// </summary>
    public static float QuantizeInputs(ReadOnlySpan<float> x, Span<short> q, int range, out int sum)
    {
        float max = 0;
        foreach (float v in x) max = Math.Max(max, Math.Abs(v));
        sum = 0;
        if (max == 0)
        {
            q[..x.Length].Clear();
            return 0;
        }
        float inverse = range / max;
        for (int r = 0; r < x.Length; r++)
        {
            int value = Math.Clamp((int)MathF.Round(x[r] * inverse), -range, range);
            q[r] = (short)value;
            sum += value;
        }
        return max / range;
    }

    /// <summary>
    /// Lays int16 inputs out for <see cref="Dot4Nibbles"/> for rows whose first code sits at nibble
    /// <paramref name="shift"/> (0 or 1) of their first byte: input r belongs to nibble r + shift of the row's bytes;
    /// those at even nibbles go to <paramref name="destination"/>[0 ..], at odd ones to [<paramref name="half"/> ..],
    /// and every other entry up to 2·<paramref name="half"/> is 0 (so the neighbouring rows' codes in a shared byte
    /// count for nothing).
    /// </summary>
    public static void SplitForNibbles(ReadOnlySpan<short> q, short* destination, int half, int shift)
    {
        new Span<short>(destination, 2 * half).Clear();
        for (int r = 0; r < q.Length; r++)
        {
            int nibble = r + shift;
            destination[(nibble & 1) * half + (nibble >> 1)] = q[r];
        }
    }

    /// <summary>Bytes a row of <paramref name="count"/> 4-bit codes spans, whichever nibble it starts at.</summary>
    public static int NibbleRowBytes(int count) => (count + (count & 1) + 1) / 2;

    /// <summary>
    /// Σ_r code_k[r] · x[r], exact in int32, for four rows of one-byte codes (repeat a pointer for fewer) and int16
    /// inputs: 16 codes widened to int16 and one <c>vpmaddwd</c> a step, the last &lt; 16 one at a time.
    /// </summary>
    public static void Dot4(byte* c0, byte* c1, byte* c2, byte* c3, short* x, int count, int* result)
    {
        int r = 0;
        int s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (Avx2.IsSupported)
        {
            Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; r + 16 <= count; r += 16)
            {
                var v = Avx.LoadVector256(x + r);
                a0 += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(c0 + r), v);
                a1 += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(c1 + r), v);
                a2 += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(c2 + r), v);
                a3 += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(c3 + r), v);
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

    /// <summary>
    /// Σ_r code_k[r] · x[r], exact in int32, for up to four consecutive rows of <paramref name="count"/> 4-bit codes,
    /// the first starting at nibble <paramref name="firstNibble"/> of the stream (<paramref name="rows"/> &lt; 4
    /// repeats the last row). Inputs as <see cref="SplitForNibbles"/> lays them out, <paramref name="aligned"/> for
    /// rows that start on a byte and <paramref name="shifted"/> for rows that start mid-byte (odd counts), each
    /// 2·<paramref name="half"/> long with <paramref name="half"/> ≥ <see cref="NibbleRowBytes"/> rounded up to 16.
    /// Sixteen code bytes widen to int16 words whose low and high nibbles are the codes at even and odd nibbles:
    /// two <c>vpmaddwd</c> per 32 codes. A row's last bytes are read as one 16-byte load (bytes past the row meet
    /// zero inputs) wherever that stays before <paramref name="readableEnd"/>, else through a copy.
    /// </summary>
    public static void Dot4Nibbles(byte* stream, long firstNibble, int count, int rows, short* aligned, short* shifted, int half, int* result, byte* readableEnd)
    {
        long n0 = firstNibble, n1 = n0 + (rows > 1 ? count : 0), n2 = n1 + (rows > 2 ? count : 0), n3 = n2 + (rows > 3 ? count : 0);
        byte* p0 = stream + (n0 >> 1), p1 = stream + (n1 >> 1), p2 = stream + (n2 >> 1), p3 = stream + (n3 >> 1);
        short* x0 = (n0 & 1) == 0 ? aligned : shifted, x1 = (n1 & 1) == 0 ? aligned : shifted;
        short* x2 = (n2 & 1) == 0 ? aligned : shifted, x3 = (n3 & 1) == 0 ? aligned : shifted;
        int rowBytes = NibbleRowBytes(count);
        if (!Avx2.IsSupported)
        {
            for (int k = 0; k < 4; k++)
            {
                byte* p = k switch { 0 => p0, 1 => p1, 2 => p2, _ => p3 };
                short* x = k switch { 0 => x0, 1 => x1, 2 => x2, _ => x3 };
                int sum = 0;
                for (int i = 0; i < rowBytes; i++) sum += (p[i] & 15) * x[i] + (p[i] >> 4) * x[half + i];
                result[k] = sum;
            }
            return;
        }
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
        int at = 0;
        if (aligned == shifted)
        {
            // Every row starts on a byte (an even count): one load of the inputs serves the four rows.
            for (; at + 16 <= rowBytes; at += 16)
            {
                var even = Avx.LoadVector256(aligned + at);
                var odd = Avx.LoadVector256(aligned + half + at);
                a0 += NibbleProducts(Avx2.ConvertToVector256Int16(p0 + at), even, odd);
                a1 += NibbleProducts(Avx2.ConvertToVector256Int16(p1 + at), even, odd);
                a2 += NibbleProducts(Avx2.ConvertToVector256Int16(p2 + at), even, odd);
                a3 += NibbleProducts(Avx2.ConvertToVector256Int16(p3 + at), even, odd);
            }
        }
        for (; at + 16 <= rowBytes; at += 16)
        {
            a0 += NibbleProducts(Avx2.ConvertToVector256Int16(p0 + at), x0 + at, half);
            a1 += NibbleProducts(Avx2.ConvertToVector256Int16(p1 + at), x1 + at, half);
            a2 += NibbleProducts(Avx2.ConvertToVector256Int16(p2 + at), x2 + at, half);
            a3 += NibbleProducts(Avx2.ConvertToVector256Int16(p3 + at), x3 + at, half);
        }
        if (at < rowBytes)
        {
            a0 += NibbleProducts(Last16(p0 + at, rowBytes - at, readableEnd), x0 + at, half);
            a1 += NibbleProducts(Last16(p1 + at, rowBytes - at, readableEnd), x1 + at, half);
            a2 += NibbleProducts(Last16(p2 + at, rowBytes - at, readableEnd), x2 + at, half);
            a3 += NibbleProducts(Last16(p3 + at, rowBytes - at, readableEnd), x3 + at, half);
        }
        var s = Avx2.HorizontalAdd(Avx2.HorizontalAdd(a0, a1), Avx2.HorizontalAdd(a2, a3));
        Sse2.Store(result, Sse2.Add(s.GetLower(), s.GetUpper()));
    }

    /// <summary>Low nibbles × the inputs at even nibbles + high nibbles × those at odd ones, as int32 pair sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> NibbleProducts(Vector256<short> bytes, Vector256<short> even, Vector256<short> odd) =>
        Avx2.MultiplyAddAdjacent(bytes & Vector256.Create((short)15), even) + Avx2.MultiplyAddAdjacent(Avx2.ShiftRightLogical(bytes, 4), odd);

    /// <summary><see cref="NibbleProducts(Vector256{short}, Vector256{short}, Vector256{short})"/> with the inputs at <paramref name="x"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> NibbleProducts(Vector256<short> bytes, short* x, int half) =>
        NibbleProducts(bytes, Avx.LoadVector256(x), Avx.LoadVector256(x + half));

    /// <summary>The row's last <paramref name="count"/> (&lt; 16) code bytes widened, read past them only inside the stream.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Last16(byte* p, int count, byte* readableEnd)
    {
        if (p + 16 <= readableEnd) return Avx2.ConvertToVector256Int16(p);
        byte* copy = stackalloc byte[16];
        Unsafe.InitBlockUnaligned(copy, 0, 16);
        Unsafe.CopyBlockUnaligned(copy, p, (uint)count);
        return Avx2.ConvertToVector256Int16(copy);
    }

    /// <summary>The four vectors' lane sums into result[0..3], with three horizontal adds instead of four full reductions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Sum4(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3, float* result)
    {
        var s = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
        Sse.Store(result, Sse.Add(s.GetLower(), s.GetUpper()));
    }
}
