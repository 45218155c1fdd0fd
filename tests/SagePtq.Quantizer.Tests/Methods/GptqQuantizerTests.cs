using SagePtq.Quantizer.Methods;
using SagePtq.Quantizer.Numerics;
using SagePtq.Runtime.Packing.Layouts;
using static SagePtq.Quantizer.Tests.Methods.MethodTestData;
using static SagePtq.Quantizer.Tests.Numerics.NaiveLinearAlgebra;

namespace SagePtq.Quantizer.Tests.Methods;

public sealed class GptqQuantizerTests
{
    [Theory]
    [InlineData(2, 8)]
    [InlineData(3, -1)]
    [InlineData(4, 7)]   // groups that do not divide the 20 columns
    public void With_an_identity_hessian_it_equals_round_to_nearest(int bits, int groupSize)
    {
        // H = I: U is diagonal, so no error is carried to later columns, and GPTQ's group grids,
        // fitted on the (uncompensated) columns, are RTN's.
        const int rows = 6, cols = 20;
        var target = new LinearTarget("w", rows, cols, RandomFloats(rows * cols, 1), Identity(cols), 0);
        var gptq = new GptqQuantizer(bits, groupSize, blockSize: 8).Quantize(target);
        var rtn = new RoundToNearestQuantizer(bits, groupSize).Quantize(target);
        Assert.Equal(rtn.Dequantized, gptq.Dequantized);
        Assert.Equal(rtn.Payload.Sections.Select(s => (s.Name, s.Bytes)), gptq.Payload.Sections.Select(s => (s.Name, s.Bytes)));
    }

    [Theory]
    [InlineData(2, 16, false)]
    [InlineData(3, -1, false)]
    [InlineData(2, 16, true)]
    public void On_correlated_inputs_it_beats_round_to_nearest_in_output_error(int bits, int groupSize, bool actOrder)
    {
        var target = Correlated(rows: 24, cols: 48, seed: 11);
        var gptq = new GptqQuantizer(bits, groupSize, actOrder, blockSize: 16).Quantize(target);
        var rtn = new RoundToNearestQuantizer(bits, groupSize).Quantize(target);
        double gptqError = OutputError(target, gptq.Dequantized), rtnError = OutputError(target, rtn.Dequantized);
        Assert.True(gptqError < 0.8 * rtnError, $"GPTQ {gptqError} vs RTN {rtnError}");
        AssertDecodesExactly(gptq);
        Assert.Equal(actOrder && groupSize > 0, gptq.Payload.Sections.Any(s => s.Name == "group_index"));
    }

    [Theory]
    [InlineData(2, 12, 16)]  // groups straddle lazy batches: the grid must see the pending updates
    [InlineData(8, 12, 16)]
    [InlineData(3, -1, 7)]
    public void Lazy_batches_agree_with_the_naive_column_by_column_algorithm(int bits, int groupSize, int blockSize)
    {
        var target = Correlated(rows: 16, cols: 40, seed: 21);
        var fast = new GptqQuantizer(bits, groupSize, blockSize: blockSize).Quantize(target);
        var naive = NaiveGptq(target, bits, groupSize == -1 ? 40 : groupSize);
        // Float vs double and another summation order could flip a rare rounding tie.
        int same = naive.Where((v, k) => v == fast.Dequantized[k]).Count();
        Assert.True(same >= 0.99 * naive.Length, $"{same} of {naive.Length} equal");
        Assert.Equal(OutputError(target, naive), OutputError(target, fast.Dequantized), OutputError(target, naive) * 0.01);
    }

    /// <summary>GPTQ as the paper states it, in double: each column quantized, its error pushed to every later column at once.</summary>
    private static float[] NaiveGptq(LinearTarget target, int bits, int groupSize)
    {
        int rows = target.Rows, cols = target.Cols, maxCode = (1 << bits) - 1;
        var u = InverseHessianFactor.Compute(target.Hessian, cols).Upper;
        var w = target.Weight.Select(v => (double)v).ToArray();
        var result = new float[w.Length];
        for (int r = 0; r < rows; r++)
        {
            GroupGrid grid = default;
            for (int j = 0; j < cols; j++)
            {
                if (j % groupSize == 0)
                {
                    var group = Enumerable.Range(j, Math.Min(groupSize, cols - j)).Select(c => (float)w[r * cols + c]).ToArray();
                    grid = QuantizationGrid.Fit(group, bits, GridRange.MinMaxWithZero);
                }
                float q = QuantizationGrid.Value(QuantizationGrid.Code((float)w[r * cols + j], grid, maxCode), grid);
                result[r * cols + j] = q;
                double e = (w[r * cols + j] - q) / u[j * cols + j];
                for (int k = j + 1; k < cols; k++) w[r * cols + k] -= e * u[j * cols + k];
            }
        }
        return result;
    }

    [Fact]
    public void Dead_inputs_give_zero_weight_columns()
    {
        var target = Correlated(rows: 5, cols: 12, seed: 3);
        var h = target.Hessian!;
        for (int k = 0; k < 12; k++) h[4 * 12 + k] = h[k * 12 + 4] = 0;
        var result = new GptqQuantizer(3, groupSize: -1).Quantize(target);
        for (int r = 0; r < 5; r++) Assert.Equal(0f, result.Dequantized[r * 12 + 4]);
    }

    [Fact]
    public void Act_order_stores_a_group_per_column_and_counts_it()
    {
        var target = Correlated(rows: 8, cols: 32, seed: 5);
        var result = new GptqQuantizer(2, groupSize: 8, actOrder: true).Quantize(target);
        var weights = UniformLayout.Read(result.Payload);
        Assert.NotNull(weights.GroupIndex);
        Assert.All(Enumerable.Range(0, 4), g => Assert.Equal(8, weights.GroupIndex!.Count(x => x == g)));
        long expected = 8 * 32 * 2 / 8 + 2 * 8 * 4 + 8 * 4 * 2 / 8 + 2 * 32 + 4 * 2;
        Assert.Equal(expected, result.Payload.StoredBytes);
    }

    [Fact]
    public void Same_input_gives_the_same_bytes()
    {
        var target = Correlated(rows: 20, cols: 24, seed: 8);
        var a = new GptqQuantizer(2, 8, actOrder: true).Quantize(target);
        var b = new GptqQuantizer(2, 8, actOrder: true).Quantize(target);
        Assert.Equal(a.Payload.Sections.Select(s => s.Bytes), b.Payload.Sections.Select(s => s.Bytes));
    }

    [Fact]
    public void Bad_input_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptqQuantizer(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptqQuantizer(9));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptqQuantizer(2, groupSize: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptqQuantizer(2, percentDamp: double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptqQuantizer(2, blockSize: 0));
        var gptq = new GptqQuantizer(2);
        Assert.True(gptq.NeedsHessian);
        Assert.Contains("needs a calibration Hessian",
            Assert.Throws<ArgumentException>(() => gptq.Quantize(new LinearTarget("w", 1, 2, [1, 2], null, 0))).Message);
        Assert.Contains("Hessian has 3 values, expected 2 × 2",
            Assert.Throws<ArgumentException>(() => gptq.Quantize(new LinearTarget("w", 1, 2, [1, 2], [1, 0, 1], 0))).Message);
        Assert.Throws<InvalidDataException>(() => gptq.Quantize(new LinearTarget("w", 1, 2, [1, 2], [1, 0, double.NaN, 1], 0)));
        Assert.Throws<InvalidDataException>(() => gptq.Quantize(new LinearTarget("w", 1, 2, [float.NaN, 2], Identity(2), 0)));
        Assert.Throws<NotPositiveDefiniteException>(() => gptq.Quantize(new LinearTarget("w", 1, 2, [1, 2], [1, 100, 100, 1], 0)));
    }
}
