using SagePtq.Quantizer.Methods;
using SagePtq.Runtime.Packing.Layouts;
using static SagePtq.Quantizer.Tests.Methods.MethodTestData;
using static SagePtq.Quantizer.Tests.Numerics.NaiveLinearAlgebra;

namespace SagePtq.Quantizer.Tests.Methods;

public sealed class SeptqQuantizerTests
{
    [Theory]
    [InlineData(GridRange.MseClipped, -1)]
    [InlineData(GridRange.MinMaxWithZero, 16)]
    public void Keeps_exactly_the_reserved_count_and_decodes_bit_exactly(GridRange range, int groupSize)
    {
        var target = Correlated(rows: 30, cols: 40, seed: 2);
        var septq = new SeptqQuantizer(2, reservedFraction: 0.01, groupSize, range);
        var result = septq.Quantize(target);
        Assert.Equal(12, septq.ReservedCount(30, 40));
        Assert.Equal(12, result.Stats.SalientCount);
        Assert.Equal(12.0 / 1200, result.Stats.SaliencyRatio);
        Assert.Equal(16, result.Stats.SalientBits);
        int g = groupSize == -1 ? 40 : groupSize;
        Assert.Equal(2 + 32.0 / g + 32 * 0.01, result.Stats.PaperBitsPerWeight, 12);

        var weights = UniformLayout.Read(result.Payload);
        Assert.Equal(12, weights.ReservedIndex.Length);
        AssertDecodesExactly(result);
        // A reserved slot's code is its group's zero point (grid value 0).
        foreach (uint index in weights.ReservedIndex)
        {
            int r = (int)index / 40, c = (int)index % 40;
            Assert.Equal(weights.Zeros[r * weights.GroupsPerRow + c / g], weights.Codes[index]);
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Its_output_error_is_at_most_gptq_s(int bits)
    {
        var target = Correlated(rows: 32, cols: 48, seed: 9);
        var septq = new SeptqQuantizer(bits, 0.01, groupSize: -1, GridRange.MinMaxWithZero).Quantize(target);
        var gptq = new GptqQuantizer(bits, groupSize: -1).Quantize(target);
        Assert.True(OutputError(target, septq.Dequantized) <= OutputError(target, gptq.Dequantized));
    }

    [Fact]
    public void Without_reserved_weights_and_with_an_identity_hessian_it_equals_round_to_nearest()
    {
        var target = new LinearTarget("w", 7, 18, RandomFloats(7 * 18, 4), Identity(18), 0);
        var septq = new SeptqQuantizer(3, reservedFraction: 0, groupSize: 6, GridRange.MinMaxWithZero).Quantize(target);
        var rtn = new RoundToNearestQuantizer(3, 6).Quantize(target);
        Assert.Equal(rtn.Dequantized, septq.Dequantized);
        Assert.Equal(0, septq.Stats.SalientCount);
        Assert.DoesNotContain(septq.Payload.Sections, s => s.Name.StartsWith("reserved", StringComparison.Ordinal));
    }

    [Fact]
    public void Reserves_the_weights_rounding_would_hurt_most()
    {
        // With H = I every U[j, j] is equal, so the score is the squared RTN error: the weights
        // halfway between grid levels go first.
        var weights = new float[] { 0, 3, 1, 2, 0.5f, 2.5f, 1.4f, 3 };
        var target = new LinearTarget("w", 1, 8, weights, Identity(8), 0);
        var result = new SeptqQuantizer(2, reservedFraction: 0.25, groupSize: -1, GridRange.MinMaxWithZero).Quantize(target);
        Assert.Equal([4u, 5u], UniformLayout.Read(result.Payload).ReservedIndex);
        Assert.Equal(0.5f, result.Dequantized[4]);
        Assert.Equal(2.5f, result.Dequantized[5]);
    }

    [Fact]
    public void Ties_go_to_the_lowest_index()
    {
        // Top 3 of {1, 5, 2, 2, 2}: the 5, then two of the three 2s, lowest index first.
        Assert.Equal([false, true, true, true, false], SeptqQuantizer.SelectTop([1, 5, 2, 2, 2], 3));
        Assert.Equal([false, false], SeptqQuantizer.SelectTop([1, 2], 0));
    }

    [Fact]
    public void Bad_input_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SeptqQuantizer(2, reservedFraction: -0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SeptqQuantizer(2, reservedFraction: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SeptqQuantizer(10));
        var septq = new SeptqQuantizer(2);
        Assert.Throws<ArgumentException>(() => septq.Quantize(new LinearTarget("w", 1, 2, [1, 2], null, 0)));
        Assert.Throws<ArgumentException>(() => septq.Quantize(new LinearTarget("w", 1, 2, [1, 2], Identity(3), 0)));
        Assert.Throws<InvalidDataException>(() => septq.Quantize(new LinearTarget("w", 1, 2, [1, float.NegativeInfinity], Identity(2), 0)));
    }
}
