using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Tests.Packing;

public sealed class SignPlanesTests
{
    [Fact]
    public void FullBlockPutsPlaneJOnWeights32JTo32JPlus31()
    {
        // Weight t of a 256-weight block is bit t / 32 of byte t % 32.
        Assert.Equal((0, 0), SignPlanes.Locate(0, 512));
        Assert.Equal((31, 0), SignPlanes.Locate(31, 512));
        Assert.Equal((0, 1), SignPlanes.Locate(32, 512));
        Assert.Equal((31, 7), SignPlanes.Locate(255, 512));
        Assert.Equal((32, 0), SignPlanes.Locate(256, 512));
    }

    [Fact]
    public void ShortLastBlockUsesItsOwnPlaneWidth()
    {
        // 1408 = 5 · 256 + 128: the last block has 16-byte planes.
        Assert.Equal((160, 0), SignPlanes.Locate(1280, 1408));
        Assert.Equal((160 + 15, 0), SignPlanes.Locate(1280 + 15, 1408));
        Assert.Equal((160, 1), SignPlanes.Locate(1280 + 16, 1408));
        Assert.Equal((175, 7), SignPlanes.Locate(1407, 1408));
        // 100 weights: 13 bytes, weight t at byte t % 13, bit t / 13.
        Assert.Equal((99 % 13, 99 / 13), SignPlanes.Locate(99, 100));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100)]
    [InlineData(256)]
    [InlineData(300)]
    [InlineData(1408)]
    public void EveryColumnHasItsOwnBitAndTheOrderRoundTrips(int cols)
    {
        int stride = SignPlanes.RowBytes(cols);
        var seen = new HashSet<(int, int)>();
        for (int j = 0; j < cols; j++)
        {
            var (b, bit) = SignPlanes.Locate(j, cols);
            Assert.InRange(b, 0, stride - 1);
            Assert.True(seen.Add((b, bit)), $"column {j} shares a bit");
        }

        var random = new Random(cols);
        var linear = new byte[3 * stride];
        random.NextBytes(linear);
        for (int r = 0; r < 3; r++)
            for (int j = cols; j < stride * 8; j++) linear[r * stride + (j >> 3)] &= (byte)~(1 << (j & 7));
        var planes = new byte[linear.Length];
        SignPlanes.FromLinear(linear, planes, cols);
        for (int r = 0; r < 3; r++)
            for (int j = 0; j < cols; j++)
                Assert.Equal((linear[r * stride + (j >> 3)] >> (j & 7) & 1) != 0, SignPlanes.IsPositive(planes.AsSpan(r * stride, stride), j, cols));
        var back = new byte[linear.Length];
        SignPlanes.ToLinear(planes, back, cols);
        Assert.Equal(linear, back);
    }
}
