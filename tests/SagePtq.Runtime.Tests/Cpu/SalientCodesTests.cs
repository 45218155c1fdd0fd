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
    public void DotMatchesADoubleSum()
    {
        var random = new Random(2);
        foreach (int count in new[] { 1, 8, 13, 40, 100 })
        {
            var codes = Enumerable.Range(0, count).Select(_ => (byte)random.Next(256)).ToArray();
            var x = Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            double expected = 0, magnitude = 0;
            for (int r = 0; r < count; r++) { expected += codes[r] * (double)x[r]; magnitude += Math.Abs(codes[r] * (double)x[r]); }
            var four = new float[4];
            var reversed = codes.Reverse().ToArray();
            fixed (byte* c = codes, rc = reversed)
            fixed (float* px = x, pf = four)
            {
                Assert.True(Math.Abs(SalientCodes.Dot(c, px, count) - expected) <= 1e-6 * magnitude, $"count {count}");
                SalientCodes.Dot4(c, rc, c, c, px, count, pf);
                double reversedExpected = 0;
                for (int r = 0; r < count; r++) reversedExpected += reversed[r] * (double)x[r];
                Assert.True(Math.Abs(four[0] - expected) <= 1e-6 * magnitude, $"count {count}");
                Assert.True(Math.Abs(four[1] - reversedExpected) <= 1e-6 * 255 * x.Sum(v => Math.Abs(v)), $"count {count}");
                Assert.Equal(four[0], four[2]);
            }
        }
    }

    [Fact]
    public void NibblesAndPaddedDotsMatchADoubleSumForEveryRowCountAndTail()
    {
        var random = new Random(5);
        foreach (int count in new[] { 2, 4, 6, 8, 10, 14, 16, 22, 92, 100 })
            for (int rows = 1; rows <= 4; rows++)
            {
                int rowBytes = count / 2, padded = SalientCodes.PaddedCount(count);
                // Exactly the rows' bytes, so a read past them would see another allocation's (or fail under a checker).
                var stream = new byte[rows * rowBytes];
                random.NextBytes(stream);
                var x = new float[padded];
                for (int r = 0; r < count; r++) x[r] = (float)(random.NextDouble() - 0.5);
                var expanded = new byte[4 * (count + SalientCodes.BufferSlack)];
                var nibbles = new float[4];
                var paddedResult = new float[4];
                fixed (byte* s = stream, e = expanded)
                fixed (float* px = x, pn = nibbles, pp = paddedResult)
                {
                    SalientCodes.Dot4Nibbles(s, rowBytes, rows, px, count, pn);
                    byte* codes = SalientCodes.Expand(s, stream.Length, 0, rows * count, 4, e);
                    byte* Row(int k) => codes + Math.Min(k, rows - 1) * count;
                    SalientCodes.Dot4Padded(Row(0), Row(1), Row(2), Row(3), px, count, pp);
                    for (int k = 0; k < 4; k++)
                    {
                        int row = Math.Min(k, rows - 1);
                        double expected = 0, magnitude = 0;
                        for (int r = 0; r < count; r++)
                        {
                            int code = stream[row * rowBytes + r / 2] >> 4 * (r & 1) & 15;
                            expected += code * (double)x[r];
                            magnitude += Math.Abs(code * (double)x[r]);
                        }
                        Assert.True(Math.Abs(nibbles[k] - expected) <= 1e-6 * magnitude + 1e-30, $"nibbles count {count} rows {rows} k {k}: {nibbles[k]} vs {expected}");
                        Assert.True(Math.Abs(paddedResult[k] - expected) <= 1e-6 * magnitude + 1e-30, $"padded count {count} rows {rows} k {k}: {paddedResult[k]} vs {expected}");
                    }
                }
            }
    }

    [Fact]
    public void PaddedCountRoundsUpToEight()
    {
        Assert.Equal(0, SalientCodes.PaddedCount(0));
        Assert.Equal(8, SalientCodes.PaddedCount(1));
        Assert.Equal(8, SalientCodes.PaddedCount(8));
        Assert.Equal(96, SalientCodes.PaddedCount(92));
    }
}

public sealed class SalientNibbleWordReadTests
{
    /// <summary>Reading a row's last code bytes as one masked word (when the stream goes on) gives the bits of the byte-by-byte read.</summary>
    [Fact]
    public unsafe void A_readable_stream_end_changes_no_bit_of_the_nibble_dots()
    {
        var random = new Random(9);
        foreach (int count in new[] { 2, 4, 6, 8, 10, 14, 26, 100 })
            for (int rows = 1; rows <= 4; rows++)
            {
                int rowBytes = count / 2;
                var stream = new byte[rows * rowBytes + 8];   // the rows, then more of the stream
                random.NextBytes(stream);
                var x = new float[SalientCodes.PaddedCount(count)];
                for (int r = 0; r < count; r++) x[r] = (float)(random.NextDouble() - 0.5);
                var exact = new float[4];
                var word = new float[4];
                fixed (byte* s = stream)
                fixed (float* px = x, pe = exact, pw = word)
                {
                    SalientCodes.Dot4Nibbles(s, rowBytes, rows, px, count, pe);
                    SalientCodes.Dot4Nibbles(s, rowBytes, rows, px, count, pw, s + stream.Length);
                }
                for (int k = 0; k < 4; k++)
                    Assert.True(BitConverter.SingleToUInt32Bits(exact[k]) == BitConverter.SingleToUInt32Bits(word[k]), $"count {count} rows {rows} k {k}: {word[k]} vs {exact[k]}");
            }
    }
}
