using SagePtq.Runtime.Cpu;
using Xunit;

namespace SagePtq.Runtime.Tests.Cpu;

/// <summary>The attention kernels over many cached rows give the bits of the one-row kernels they replace.</summary>
public sealed class HalfConversionRowsTests
{
    public static TheoryData<int, int> Shapes => new()
    {
        { 64, 1 }, { 64, 4 }, { 64, 7 }, { 64, 129 }, { 128, 9 }, { 72, 5 }, { 5, 6 }, { 8, 3 }, { 136, 13 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public unsafe void DotRows_gives_the_bits_of_Dot_row_by_row(int length, int count)
    {
        var (x, rows, _) = Inputs(length, count);
        var expected = new float[count];
        var actual = new float[count];
        fixed (float* px = x, pe = expected, pa = actual)
        fixed (Half* ph = rows)
        {
            for (int i = 0; i < count; i++) pe[i] = HalfConversion.Dot(px, ph + i * length, length);
            HalfConversion.DotRows(px, ph, length, count, pa);
        }
        AssertSameBits(expected, actual);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public unsafe void WeightedRows_gives_the_bits_of_clearing_and_MultiplyAdd_per_row(int length, int count)
    {
        var (_, rows, weights) = Inputs(length, count);
        var expected = new float[length];
        var actual = Enumerable.Repeat(float.NaN, length).ToArray();   // every output must be written, none read
        fixed (float* pw = weights, pe = expected, pa = actual)
        fixed (Half* ph = rows)
        {
            for (int i = 0; i < count; i++) HalfConversion.MultiplyAdd(ph + i * length, pw[i], pe, length);
            HalfConversion.WeightedRows(ph, pw, count, length, pa);
        }
        AssertSameBits(expected, actual);
    }

    [Fact]
    public unsafe void Special_halves_pass_through_both_kernels_as_the_one_row_kernels_give_them()
    {
        // Zeros of both signs, subnormals, the largest finite half and infinities among ordinary values.
        const int length = 64, count = 4;
        var (x, rows, weights) = Inputs(length, count);
        Half[] special = [(Half)0f, (Half)(-0f), BitConverter.UInt16BitsToHalf(1), BitConverter.UInt16BitsToHalf(0x83FF), Half.MaxValue, Half.MinValue];
        for (int k = 0; k < special.Length; k++) rows[k * 7] = special[k];
        rows[100] = Half.PositiveInfinity;
        var expectedDots = new float[count];
        var dots = new float[count];
        var expectedSum = new float[length];
        var sum = new float[length];
        fixed (float* px = x, pw = weights, ped = expectedDots, pd = dots, pes = expectedSum, ps = sum)
        fixed (Half* ph = rows)
        {
            for (int i = 0; i < count; i++) ped[i] = HalfConversion.Dot(px, ph + i * length, length);
            HalfConversion.DotRows(px, ph, length, count, pd);
            for (int i = 0; i < count; i++) HalfConversion.MultiplyAdd(ph + i * length, pw[i], pes, length);
            HalfConversion.WeightedRows(ph, pw, count, length, ps);
        }
        AssertSameBits(expectedDots, dots);
        AssertSameBits(expectedSum, sum);
        Assert.Contains(float.PositiveInfinity, sum.Select(Math.Abs));
    }

    private static (float[] X, Half[] Rows, float[] Weights) Inputs(int length, int count)
    {
        var random = new Random(length * 1000 + count);
        var x = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var rows = Enumerable.Range(0, length * count).Select(_ => (Half)(random.NextDouble() * 6 - 3)).ToArray();
        var weights = Enumerable.Range(0, count).Select(_ => (float)random.NextDouble()).ToArray();
        return (x, rows, weights);
    }

    private static void AssertSameBits(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToUInt32Bits(expected[i]) == BitConverter.SingleToUInt32Bits(actual[i]), $"entry {i}: {actual[i]} vs {expected[i]}");
    }
}
