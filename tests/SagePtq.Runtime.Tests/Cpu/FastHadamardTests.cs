using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Tests.Cpu;

public sealed class FastHadamardTests
{
    [Theory]
    [InlineData(8)]
    [InlineData(100)]
    [InlineData(256)]
    [InlineData(704)]
    [InlineData(1408)]
    [InlineData(4096)]
    [InlineData(11008)]
    public void ForwardEqualsTheReferenceBitForBit(int cols)
    {
        var random = new Random(cols);
        var signs = RandomizedHadamard.Signs(cols, (ulong)cols * 977);
        var x = Enumerable.Range(0, cols).Select(_ => (float)((random.NextDouble() - 0.5) * 10)).ToArray();
        var expected = x.ToArray();
        RandomizedHadamard.Forward(expected, signs);
        FastHadamard.Forward(x, signs);
        Assert.Equal(expected, x);
    }
}
