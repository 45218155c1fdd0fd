using SagePtq.Quantizer.Methods;
using static SagePtq.Quantizer.Tests.Numerics.NaiveLinearAlgebra;

namespace SagePtq.Quantizer.Tests.Methods;

public sealed class QuantizationGridTests
{
    [Fact]
    public void Min_max_with_zero_includes_zero_and_stores_an_fp16_scale()
    {
        // Range [0, 3] at 2 bits: scale 1, zero 0.
        Assert.Equal(new GroupGrid((Half)1, 0), QuantizationGrid.Fit([0.5f, 3, 1.4f], 2, GridRange.MinMaxWithZero));
        // Range [0, 0.3] (0 added): scale 0.1 rounded to FP16, zero 0.
        var grid = QuantizationGrid.Fit([0.3f, 0.2f], 2, GridRange.MinMaxWithZero);
        Assert.Equal((Half)0.1f, grid.Scale);
        Assert.Equal(0, grid.Zero);
        // An all-zero group uses [−1, 1]: scale 2/3 in FP16, zero round(1 / scale) = 2.
        Assert.Equal(new GroupGrid((Half)(2f / 3), 2), QuantizationGrid.Fit([0f, 0f], 2, GridRange.MinMaxWithZero));
    }

    [Fact]
    public void Plain_min_max_fits_the_range_without_zero()
    {
        // [1, 4] at 2 bits: scale 1; zero round(−1) = −1 is clamped to 0, as AWQ's pseudo-quantizer does.
        Assert.Equal(new GroupGrid((Half)1, 0), QuantizationGrid.Fit([1, 4, 2], 2, GridRange.MinMax));
        // [−2, 4] at 2 bits: scale 2, zero 1.
        Assert.Equal(new GroupGrid((Half)2, 1), QuantizationGrid.Fit([-2, 4], 2, GridRange.MinMax));
    }

    [Fact]
    public void Mse_clipping_never_does_worse_than_the_full_range_in_its_norm()
    {
        var values = RandomFloats(256, seed: 5);
        values[17] = 6; // one outlier stretches the min-max range
        var full = QuantizationGrid.Fit(values, 3, GridRange.MinMaxWithZero);
        var clipped = QuantizationGrid.Fit(values, 3, GridRange.MseClipped);
        Assert.True(clipped.ScaleValue < full.ScaleValue);
        Assert.True(Error(clipped) < Error(full));

        double Error(GroupGrid grid) =>
            values.Sum(v => Math.Pow(Math.Abs(QuantizationGrid.Value(QuantizationGrid.Code(v, grid, 7), grid) - v), 2.4));
    }

    [Fact]
    public void Codes_round_half_to_even_and_clamp()
    {
        var grid = new GroupGrid((Half)1, 2);
        Assert.Equal(0, QuantizationGrid.Code(-1.5f, grid, 3));  // round(−1.5) = −2 → 0
        Assert.Equal(2, QuantizationGrid.Code(0.5f, grid, 3));   // round(0.5) = 0 → 2
        Assert.Equal(3, QuantizationGrid.Code(1.5f, grid, 3));   // round(1.5) = 2 → 4 → clamped to 3
        Assert.Equal(0, QuantizationGrid.Code(-1e30f, grid, 3));
        Assert.Equal(-2f, QuantizationGrid.Value(0, grid));
    }

    [Fact]
    public void Tiny_and_huge_ranges_are_handled()
    {
        Assert.Equal(Half.Epsilon, QuantizationGrid.Fit([1e-12f], 2, GridRange.MinMaxWithZero).Scale);
        Assert.Throws<InvalidDataException>(() => QuantizationGrid.Fit([1e6f], 2, GridRange.MinMaxWithZero));
        Assert.Throws<ArgumentOutOfRangeException>(() => QuantizationGrid.Fit([1f], 1, GridRange.MinMax));
        Assert.Throws<ArgumentOutOfRangeException>(() => QuantizationGrid.Fit([1f], 9, GridRange.MinMax));
        Assert.Throws<ArgumentException>(() => QuantizationGrid.Fit([], 2, GridRange.MinMax));
    }
}
