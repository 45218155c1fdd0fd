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
}
