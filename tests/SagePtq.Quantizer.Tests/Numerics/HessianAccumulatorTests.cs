using SagePtq.Quantizer.Numerics;
using static SagePtq.Quantizer.Tests.Numerics.NaiveLinearAlgebra;

namespace SagePtq.Quantizer.Tests.Numerics;

public sealed class HessianAccumulatorTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 3)]
    [InlineData(300, 37)]   // a partial row block, features not a multiple of 4
    [InlineData(513, 70)]   // two full blocks plus one row, two tiles
    [InlineData(40, 130)]   // three tiles per side
    [InlineData(260, 16)]   // one panel exactly, a block and a bit
    [InlineData(33, 101)]   // neither a multiple of 6 nor of 16 features
    [InlineData(600, 200)]  // several work items of the packed kernel, three blocks
    public void Matches_the_naive_sum_over_several_batches(int rows, int cols)
    {
        var x = RandomFloats(rows * cols, seed: rows + cols);
        foreach (bool portable in new[] { false, true })
        {
            var accumulator = new HessianAccumulator(cols, portable);
            int split = rows / 3;
            accumulator.Add(x.AsSpan(0, split * cols), split);
            accumulator.Add(x.AsSpan(split * cols), rows - split);

            Assert.Equal(rows, accumulator.SampleCount);
            AssertClose(Hessian(x, rows, cols), accumulator.Finish(), 1e-5);
        }
    }

    [Fact]
    public void Same_rows_give_the_same_bits_on_every_run()
    {
        var x = RandomFloats(300 * 75, seed: 9);
        var first = new HessianAccumulator(75);
        var second = new HessianAccumulator(75);
        first.Add(x, 300);
        second.Add(x, 300);
        Assert.Equal(first.Finish(), second.Finish());
    }

    [Fact]
    public void Result_is_exactly_symmetric()
    {
        var accumulator = new HessianAccumulator(9);
        accumulator.Add(RandomFloats(20 * 9, 1), 20);
        var h = accumulator.Finish();
        for (int i = 0; i < 9; i++)
            for (int j = 0; j < 9; j++) Assert.Equal(h[i * 9 + j], h[j * 9 + i]);
    }

    [Fact]
    public void Bad_input_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new HessianAccumulator(0));
        var accumulator = new HessianAccumulator(4);
        Assert.Contains("expected 2 rows × 4 features", Assert.Throws<ArgumentException>(() => accumulator.Add(new float[7], 2)).Message);
        Assert.Throws<InvalidOperationException>(() => accumulator.Finish());
        accumulator.Add([1, 2, float.NaN, 4], 1);
        Assert.Contains("not finite", Assert.Throws<InvalidDataException>(() => accumulator.Finish()).Message);
    }
}
