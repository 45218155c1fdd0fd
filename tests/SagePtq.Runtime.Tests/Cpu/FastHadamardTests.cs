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

    [Fact]
    public void The_vector_first_stages_give_the_scalar_stages_bits()
    {
        if (!System.Runtime.Intrinsics.X86.Avx.IsSupported) return;   // the vector stages run only with AVX
        var random = new Random(5);
        float[] special = [0f, -0f, float.Epsilon, -float.Epsilon, float.MaxValue, -float.MaxValue, 1e-39f, 3f, -3f, float.PositiveInfinity];
        for (int trial = 0; trial < 2000; trial++)
        {
            var values = new float[8];
            for (int i = 0; i < 8; i++)
                values[i] = random.Next(4) == 0 ? special[random.Next(special.Length)] : (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-5, 6)));
            var expected = values.ToArray();
            FastHadamard.Eight(ref expected[0]);
            FastHadamard.EightInRegisters(ref values[0]);
            for (int i = 0; i < 8; i++)
                Assert.True(BitConverter.SingleToUInt32Bits(expected[i]) == BitConverter.SingleToUInt32Bits(values[i]), $"trial {trial}, lane {i}: {values[i]} vs {expected[i]}");
        }
    }
}
