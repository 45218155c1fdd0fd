using System.Runtime.Intrinsics;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Tests.Cpu;

public sealed class FastHadamardTests
{
    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    [InlineData(24)]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(100)]
    [InlineData(512)]
    [InlineData(1024)]
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
            FastHadamard.EightInRegisters(Vector256.Create(values)).CopyTo(values);
            for (int i = 0; i < 8; i++)
                Assert.True(BitConverter.SingleToUInt32Bits(expected[i]) == BitConverter.SingleToUInt32Bits(values[i]), $"trial {trial}, lane {i}: {values[i]} vs {expected[i]}");
        }
    }

    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    [InlineData(48)]
    [InlineData(128)]
    [InlineData(256)]
    [InlineData(1408)]
    public void ForwardEqualsTheReferenceInEveryBit(int cols)
    {
        // Signed zeros, subnormals and huge values among ordinary ones: every output's bits, sign of zero included.
        var random = new Random(cols + 1);
        float[] special = [0f, -0f, 1e-42f, -1e-42f, 3e37f, -3e37f];
        var signs = RandomizedHadamard.Signs(cols, (ulong)cols * 31);
        var x = Enumerable.Range(0, cols).Select(i => i % 5 == 0 ? special[random.Next(special.Length)] : (float)((random.NextDouble() - 0.5) * 10)).ToArray();
        var expected = x.ToArray();
        RandomizedHadamard.Forward(expected, signs);
        FastHadamard.Forward(x, signs);
        for (int i = 0; i < cols; i++)
            Assert.True(BitConverter.SingleToUInt32Bits(expected[i]) == BitConverter.SingleToUInt32Bits(x[i]), $"entry {i}: {x[i]} vs {expected[i]}");
    }
}
