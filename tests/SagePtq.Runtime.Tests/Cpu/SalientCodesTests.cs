using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Tests.Cpu;

public sealed unsafe class SalientCodesTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(7)]
    [InlineData(8)]
    public void ExpandReadsTheBitStreamOfEveryRow(int bits)
    {
        // Rows of odd and even lengths, so 4-bit rows start on a high nibble too; the last row ends the stream.
        var random = new Random(bits);
        foreach (int perRow in new[] { 1, 7, 33, 40, 77 })
        {
            const int rows = 5;
            var codes = Enumerable.Range(0, rows * perRow).Select(_ => (byte)random.Next(1 << bits)).ToArray();
            var stream = BitPacking.PackBits(codes, bits);
            var buffer = new byte[perRow + SalientCodes.BufferSlack];
            fixed (byte* s = stream, b = buffer)
            {
                for (int row = 0; row < rows; row++)
                {
                    byte* expanded = SalientCodes.Expand(s, stream.Length, (long)row * perRow, perRow, bits, b);
                    Assert.Equal(codes.AsSpan(row * perRow, perRow).ToArray(), new ReadOnlySpan<byte>(expanded, perRow).ToArray());
                }
            }
        }
    }

    [Fact]
    public void ByteCodeDotsAreExactIntegerSums()
    {
        var random = new Random(2);
        foreach (int count in new[] { 1, 8, 13, 16, 40, 100 })
        {
            var codes = Enumerable.Range(0, count).Select(_ => (byte)random.Next(256)).ToArray();
            var x = Enumerable.Range(0, count).Select(_ => (short)random.Next(-32767, 32768)).ToArray();
            var reversed = codes.Reverse().ToArray();
            var four = new int[4];
            fixed (byte* c = codes, rc = reversed)
            fixed (short* px = x)
            fixed (int* pf = four)
                SalientCodes.Dot4(c, rc, c, c, px, count, pf);
            long expected = 0, reversedExpected = 0;
            for (int r = 0; r < count; r++) { expected += codes[r] * x[r]; reversedExpected += reversed[r] * x[r]; }
            Assert.Equal([expected, reversedExpected, expected, expected], four.Select(v => (long)v).ToArray());
        }
    }

    [Fact]
    public void NibbleDotsAreExactForEveryRowCountAndTailAndReadNoBytePastTheStream()
    {
        var random = new Random(5);
        foreach (int count in new[] { 1, 2, 3, 4, 6, 7, 8, 10, 14, 16, 22, 31, 32, 33, 34, 92, 100, 247 })
            foreach (int firstRow in new[] { 0, 4, 8 })
                for (int rows = 1; rows <= 4; rows++)
                    foreach (int more in new[] { 0, 20 })
                    {
                        int half = (SalientCodes.NibbleRowBytes(count) + 15) & ~15;
                        // The stream up to the group's last row, then (more > 0) more of it that a 16-byte read may run into.
                        var stream = new byte[((firstRow + rows) * count + 1) / 2 + more];
                        random.NextBytes(stream);
                        var q = new short[count];
                        for (int r = 0; r < count; r++) q[r] = (short)random.Next(-32767, 32768);
                        var aligned = new short[2 * half];
                        var shifted = new short[2 * half];
                        var result = new int[4];
                        fixed (byte* s = stream)
                        fixed (short* pa = aligned, ps = shifted)
                        fixed (int* pr = result)
                        {
                            SalientCodes.SplitForNibbles(q, pa, half, shift: 0);
                            SalientCodes.SplitForNibbles(q, ps, half, shift: 1);
                            SalientCodes.Dot4Nibbles(s, (long)firstRow * count, count, rows, pa, ps, half, pr, s + stream.Length);
                        }
                        for (int k = 0; k < 4; k++)
                        {
                            long first = (long)(firstRow + Math.Min(k, rows - 1)) * count, expected = 0;
                            for (int r = 0; r < count; r++)
                                expected += (stream[(first + r) >> 1] >> (int)(4 * ((first + r) & 1)) & 15) * q[r];
                            Assert.True(expected == result[k], $"count {count} first row {firstRow} rows {rows} more {more} k {k}: {result[k]} vs {expected}");
                        }
                    }
    }

    [Fact]
    public void InputsAreRoundedOnOneScaleWithinTheExactRange()
    {
        float[] x = [0.5f, -1.25f, 0f, 0.3f, 1e-6f];
        var q = new short[5];
        float scale = SalientCodes.QuantizeInputs(x, q, 1000, out int sum);
        Assert.Equal(1.25f / 1000, scale);
        Assert.Equal(new short[] { 400, -1000, 0, 240, 0 }, q);
        Assert.Equal(-360, sum);
        Assert.Equal(0f, SalientCodes.QuantizeInputs(new float[3], q, 1000, out sum));
        Assert.Equal(0, sum);
        Assert.Equal(new short[] { 0, 0, 0, 240, 0 }, q);

        // Nibble layouts: input r at nibble r + shift, even nibbles first, zeros elsewhere.
        short[] values = [1, 2, 3];
        var layout = new short[8];
        fixed (short* p = layout)
        {
            layout.AsSpan().Fill(9);
            SalientCodes.SplitForNibbles(values, p, 4, shift: 0);
            Assert.Equal(new short[] { 1, 3, 0, 0, 2, 0, 0, 0 }, layout);
            SalientCodes.SplitForNibbles(values, p, 4, shift: 1);
            Assert.Equal(new short[] { 0, 2, 0, 0, 1, 3, 0, 0 }, layout);
        }
        Assert.Equal(2, SalientCodes.NibbleRowBytes(3));
        Assert.Equal(2, SalientCodes.NibbleRowBytes(4));

        // 4-bit codes keep the full int16 range up to 2,849 columns; wider codes or more columns shrink it so that
        // count·(2^b − 1 + 2^(b−1))·range stays within int32.
        Assert.Equal(32767, SalientCodes.InputRange(92, 4));
        Assert.Equal(32767, SalientCodes.InputRange(2849, 4));
        Assert.True(2850L * 23 * SalientCodes.InputRange(2850, 4) <= int.MaxValue);
        Assert.Equal(int.MaxValue / (1871 * 383), SalientCodes.InputRange(1871, 8));
    }
}
