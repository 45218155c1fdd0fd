using System.Buffers.Binary;

namespace SagePtq.Runtime.Packing.Layouts;

/// <summary>
/// The bit and half-precision encodings every layout shares: values of a few bits as one LSB-first
/// bit stream (value k's bit b is stream bit k·bits + b; byte i holds stream bits 8i..8i+7, lowest
/// first; only the end of the stream is padded), and FP16 arrays little-endian.
/// </summary>
internal static class BitPacking
{
    /// <summary>Values (each below 2^bits) as one LSB-first bit stream.</summary>
    public static byte[] PackBits(ReadOnlySpan<byte> values, int bits)
    {
        var packed = new byte[((long)values.Length * bits + 7) / 8];
        long position = 0;
        foreach (byte value in values)
        {
            for (int b = 0; b < bits; b++, position++)
                if ((value >> b & 1) != 0) packed[position >> 3] |= (byte)(1 << (int)(position & 7));
        }
        return packed;
    }

    /// <summary>Reads <paramref name="count"/> values of <paramref name="bits"/> bits from an LSB-first bit stream.</summary>
    public static byte[] UnpackBits(ReadOnlySpan<byte> packed, long count, int bits)
    {
        var values = new byte[count];
        long position = 0;
        for (long k = 0; k < count; k++)
        {
            int value = 0;
            for (int b = 0; b < bits; b++, position++) value |= (packed[(int)(position >> 3)] >> (int)(position & 7) & 1) << b;
            values[k] = (byte)value;
        }
        return values;
    }

    public static byte[] HalvesToBytes(Half[] values)
    {
        var bytes = new byte[2 * values.Length];
        for (int k = 0; k < values.Length; k++) BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(2 * k), values[k]);
        return bytes;
    }
}

/// <summary>Appends single bits LSB-first into a byte array sized for exactly <c>count</c> bits.</summary>
internal sealed class BitWriter(long count)
{
    private long _next;

    public byte[] Bytes { get; } = new byte[(count + 7) / 8];

    public void Add(bool bit)
    {
        if (bit) Bytes[_next >> 3] |= (byte)(1 << (int)(_next & 7));
        _next++;
    }
}

/// <summary>Reads single bits LSB-first, after checking the section holds exactly enough bytes for <c>count</c> bits.</summary>
internal sealed class BitReader
{
    private readonly byte[] _bytes;
    private long _next;

    public BitReader(byte[] bytes, long count, string layout, string section)
    {
        if (bytes.Length != (count + 7) / 8)
            throw new InvalidDataException($"{layout}: section '{section}' has {bytes.Length} bytes, expected {(count + 7) / 8} for {count} bits");
        _bytes = bytes;
    }

    public bool Next()
    {
        bool bit = (_bytes[_next >> 3] & (1 << (int)(_next & 7))) != 0;
        _next++;
        return bit;
    }
}
