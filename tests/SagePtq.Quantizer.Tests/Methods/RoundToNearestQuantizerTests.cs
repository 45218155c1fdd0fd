using SagePtq.Quantizer.Methods;
using static SagePtq.Quantizer.Tests.Numerics.NaiveLinearAlgebra;

namespace SagePtq.Quantizer.Tests.Methods;

public sealed class RoundToNearestQuantizerTests
{
    [Fact]
    public void Quantizes_a_tiny_matrix_as_worked_by_hand()
    {
        // Row 0, range [0, 3]: scale 1, zero 0 → codes 0 3 1 3 (1.4 → 1, 2.6 → 3).
        // Row 1, range [−1.5, 1.5]: scale 1, zero round(1.5) = 2 (half to even)
        //   −1.5 → round −2 → 0 → −2;  1.5 → 2 + 2 = 4 → 3 → 1;  0.2 → 2 → 0;  −0.8 → 1 → −1.
        var target = new LinearTarget("w", 2, 4, [0, 3, 1.4f, 2.6f, -1.5f, 1.5f, 0.2f, -0.8f], null, 0);
        var result = new RoundToNearestQuantizer(bits: 2, groupSize: -1).Quantize(target);
        Assert.Equal([0f, 3, 1, 3, -2, 1, 0, -1], result.Dequantized);
        MethodTestData.AssertDecodesExactly(result);
        Assert.Equal(4, result.Payload.Parameter("group_size"));
        Assert.Equal(2 + 32.0 / 4, result.Stats.PaperBitsPerWeight);
    }

    [Fact]
    public void Fits_one_grid_per_group_of_columns()
    {
        // Groups of 2: [0, 3] → scale 1 zero 0; [−3, −1.2] (with 0: [−3, 0]) → scale 1 zero 3, −1.2 → −1.
        var target = new LinearTarget("w", 1, 4, [0, 3, -3, -1.2f], null, 0);
        var result = new RoundToNearestQuantizer(bits: 2, groupSize: 2).Quantize(target);
        Assert.Equal([0f, 3, -3, -1], result.Dequantized);
        Assert.Equal(2 + 32.0 / 2, result.Stats.PaperBitsPerWeight);
    }

    [Theory]
    [InlineData(7, 45, 3, 16)]   // group size does not divide cols: the last group has 13 columns
    [InlineData(5, 19, 8, -1)]
    [InlineData(3, 10, 4, 64)]   // group size above cols: one group per row
    public void Decodes_bit_exactly_and_stays_close(int rows, int cols, int bits, int groupSize)
    {
        var target = new LinearTarget("w", rows, cols, RandomFloats(rows * cols, rows * cols), null, 0);
        var result = new RoundToNearestQuantizer(bits, groupSize).Quantize(target);
        MethodTestData.AssertDecodesExactly(result);
        int g = groupSize == -1 ? cols : Math.Min(groupSize, cols);
        // Within half a step of the group's range (2 / (2^b − 1) at most) of every weight.
        double step = 2.0 / ((1 << bits) - 1);
        for (int k = 0; k < target.Weight.Length; k++)
            Assert.True(Math.Abs(target.Weight[k] - result.Dequantized[k]) <= step / 2 + 1e-3, $"[{k}]");
        Assert.Equal(0, result.Stats.SalientCount);
        Assert.Equal(bits + 32.0 / g, result.Stats.PaperBitsPerWeight, 12);
    }

    [Fact]
    public void Same_input_gives_the_same_bytes()
    {
        var target = new LinearTarget("w", 9, 33, RandomFloats(9 * 33, 2), null, 0);
        var a = new RoundToNearestQuantizer(3, 8).Quantize(target).Payload;
        var b = new RoundToNearestQuantizer(3, 8).Quantize(target).Payload;
        Assert.Equal(a.Sections.Select(s => s.Bytes), b.Sections.Select(s => s.Bytes));
    }

    [Fact]
    public void Bad_input_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RoundToNearestQuantizer(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RoundToNearestQuantizer(9));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RoundToNearestQuantizer(2, groupSize: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RoundToNearestQuantizer(2, groupSize: -2));
        var rtn = new RoundToNearestQuantizer(2);
        var nan = Assert.Throws<InvalidDataException>(() => rtn.Quantize(new LinearTarget("layer.w", 1, 2, [1, float.NaN], null, 0)));
        Assert.Contains("layer.w: weight [0, 1] is NaN", nan.Message);
        Assert.Throws<InvalidDataException>(() => rtn.Quantize(new LinearTarget("w", 1, 2, [1, float.PositiveInfinity], null, 0)));
        Assert.Throws<ArgumentException>(() => rtn.Quantize(new LinearTarget("w", 2, 2, [1, 2, 3], null, 0)));
        Assert.Throws<ArgumentException>(() => rtn.Quantize(new LinearTarget("w", 0, 2, [], null, 0)));
        var huge = Assert.Throws<InvalidDataException>(() => rtn.Quantize(new LinearTarget("big.w", 1, 2, [1e9f, -1e9f], null, 0)));
        Assert.StartsWith("big.w:", huge.Message);
    }
}
