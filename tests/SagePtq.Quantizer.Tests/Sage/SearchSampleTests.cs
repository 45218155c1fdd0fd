using SagePtq.Quantizer.Methods;
using SagePtq.Quantizer.Methods.Sage;
using Xunit;

namespace SagePtq.Quantizer.Tests.Sage;

public sealed class SearchSampleTests
{
    [Theory]
    [InlineData(4096, 512)]
    [InlineData(1000, 7)]
    [InlineData(37, 36)]
    public void StratifiedRows_AreSeeded_Distinct_Ascending_OnePerStratum(int rows, int count)
    {
        var a = SearchSample.StratifiedRows(rows, count, 42);
        Assert.Equal(a, SearchSample.StratifiedRows(rows, count, 42));
        Assert.Equal(count, a.Length);
        for (int s = 0; s < count; s++)
        {
            // Oracle: stratum s is [⌊s·rows/count⌋, ⌊(s+1)·rows/count⌋).
            long start = (long)s * rows / count, end = (long)(s + 1) * rows / count;
            Assert.InRange(a[s], start, end - 1);
        }
        Assert.True(a.Zip(a.Skip(1), (x, y) => x < y).All(b => b));
        if (count < rows - 1) Assert.NotEqual(a, SearchSample.StratifiedRows(rows, count, 43));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(50)]
    [InlineData(51)]
    public void StratifiedRows_AllRows_WhenNotSampling(int count) =>
        Assert.Equal(Enumerable.Range(0, 50), SearchSample.StratifiedRows(50, count, 1));

    [Fact]
    public void StratifiedRows_RejectsBadSizes()
    {
        Assert.Throws<ArgumentException>(() => SearchSample.StratifiedRows(0, 1, 1));
        Assert.Throws<ArgumentException>(() => SearchSample.StratifiedRows(10, -1, 1));
    }

    [Fact]
    public void Create_GathersTheSampledRows_AndTheirPerWeightGroups()
    {
        int rows = 40, cols = 12;
        var w = SageQuantizerTests.Weights(rows, cols, 5);
        var ids = Enumerable.Range(0, rows * cols).Select(t => (byte)(t % 3)).ToArray();
        var grouping = new Grouping(3, ids, true, 0.5);
        var sample = SearchSample.Create(w, rows, cols, grouping, 9, 77);
        Assert.True(sample.IsSampled);
        Assert.Equal(SearchSample.StratifiedRows(rows, 9, 77), sample.RowIndices);
        for (int s = 0; s < sample.Rows; s++)
        {
            int i = sample.RowIndices[s];
            Assert.Equal(w.AsSpan(i * cols, cols).ToArray(), sample.Weight.AsSpan(s * cols, cols).ToArray());
            Assert.Equal(ids.AsSpan(i * cols, cols).ToArray(), sample.Grouping.Ids.AsSpan(s * cols, cols).ToArray());
        }
        var full = SearchSample.Create(w, rows, cols, grouping, 0, 77);
        Assert.False(full.IsSampled);
        Assert.Same(w, full.Weight);
        Assert.Same(grouping, full.Grouping);
    }

    [Theory]
    [InlineData(SalientGranularity.Column)]
    [InlineData(SalientGranularity.Weight)]
    public void Mask_IsTheFullMaskRestrictedToTheSampledRows(SalientGranularity granularity)
    {
        int rows = 30, cols = 16;
        var w = SageQuantizerTests.Weights(rows, cols, 6);
        var ranking = granularity == SalientGranularity.Column
            ? SaliencyFilter.RankColumns(w, rows, cols, null)
            : SaliencyFilter.RankWeights(w, rows, cols, null);
        var sample = SearchSample.Create(w, rows, cols, new Grouping(1, new byte[cols], false, double.NaN), 7, 3);
        foreach (int count in new[] { 0, 1, 5, granularity == SalientGranularity.Column ? cols : rows * cols / 3 })
        {
            var fullMask = SaliencyFilter.Mask(ranking, count, rows, cols, granularity);
            var mask = sample.Mask(ranking, count, granularity);
            Assert.Equal(sample.Rows * cols, mask.Length);
            for (int s = 0; s < sample.Rows; s++)
                Assert.Equal(fullMask.AsSpan(sample.RowIndices[s] * cols, cols).ToArray(), mask.AsSpan(s * cols, cols).ToArray());
        }
    }

    private static double Mse(float[] w, float[] q) => w.Zip(q, (a, b) => (double)(a - b) * (a - b)).Sum();

    [Fact]
    public void SampledSearch_IsDeterministic_AndNearlyAsGoodAsTheFullSearch()
    {
        int rows = 256, cols = 96;
        var w = SageQuantizerTests.Weights(rows, cols, 7);
        var sampled = new SageOptions { Bits = 1.6, SearchRows = 48 };
        var a = new SageQuantizer(sampled).Quantize(new LinearTarget("t", rows, cols, w, null, 3));
        var b = new SageQuantizer(sampled).Quantize(new LinearTarget("t", rows, cols, w.ToArray(), null, 3));
        Assert.Equal(a.Dequantized, b.Dequantized);
        for (int s = 0; s < a.Payload.Sections.Count; s++) Assert.Equal(a.Payload.Sections[s].Bytes, b.Payload.Sections[s].Bytes);
        var full = new SageQuantizer(sampled with { SearchRows = 0 }).Quantize(new LinearTarget("t", rows, cols, w, null, 3));
        Assert.True(a.Payload.StorageBitsPerWeight <= 1.6);
        Assert.True(Mse(w, a.Dequantized) <= 1.02 * Mse(w, full.Dequantized), $"{Mse(w, a.Dequantized)} vs {Mse(w, full.Dequantized)}");
    }

    private static readonly SageOptions PaperLayout =
        new() { Salient = SalientGranularity.Weight, Groups = GroupGranularity.Weight, ScaleMode = GroupScaleMode.PerGroup, Bits = 3 };

    public static TheoryData<SageOptions> CalibratedVariants() => new() { new SageOptions { Bits = 1.8 }, PaperLayout };

    /// <summary>Weights with a few huge entries, so the salient count has an interior optimum that one row cannot see.</summary>
    private static float[] SpikyWeights(int rows, int cols)
    {
        var w = SageQuantizerTests.Weights(rows, cols, 1);
        for (int i = 0; i < rows; i++) w[i * cols + (i < 8 ? 5 : 40)] *= 60;
        return w;
    }

    private static void AssertSameBytes(QuantizedLinear a, QuantizedLinear b)
    {
        Assert.Equal(a.Payload.Parameters, b.Payload.Parameters);
        Assert.Equal(a.Payload.Sections.Count, b.Payload.Sections.Count);
        for (int s = 0; s < a.Payload.Sections.Count; s++) Assert.Equal(a.Payload.Sections[s].Bytes, b.Payload.Sections[s].Bytes);
        Assert.Equal(a.Dequantized, b.Dequantized);
    }

    [Theory]
    [MemberData(nameof(CalibratedVariants))]
    public void Calibrated_IgnoresSearchRows_SameBytes(SageOptions options)
    {
        int rows = 64, cols = 64;
        var w = SpikyWeights(rows, cols);
        var h = SpdHessian(cols, 9);
        var all = new SageQuantizer(options with { SearchRows = 0 }).Quantize(new LinearTarget("t", rows, cols, w, h.ToArray(), 4));
        var one = new SageQuantizer(options with { SearchRows = 1 }).Quantize(new LinearTarget("t", rows, cols, w, h.ToArray(), 4));
        AssertSameBytes(all, one);
    }

    [Fact]
    public void DataFree_UsesSearchRows_OnTheCalibratedFixture()
    {
        // The calibrated test above could not fail if the sample never changed a choice: data-free, it does.
        int rows = 64, cols = 64;
        var w = SpikyWeights(rows, cols);
        var all = new SageQuantizer(PaperLayout with { SearchRows = 0 }).Quantize(new LinearTarget("t", rows, cols, w, null, 4));
        var one = new SageQuantizer(PaperLayout with { SearchRows = 1 }).Quantize(new LinearTarget("t", rows, cols, w, null, 4));
        Assert.NotEqual(all.Payload.Parameter("salient_count"), one.Payload.Parameter("salient_count"));
    }

    internal static double[] SpdHessian(int cols, int seed)
    {
        var rng = new Random(seed);
        int samples = 3 * cols;
        var x = Enumerable.Range(0, cols * samples).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var h = new double[cols * cols];
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++)
            {
                double s = 0;
                for (int t = 0; t < samples; t++) s += x[i * samples + t] * x[j * samples + t];
                h[i * cols + j] = 2 * s / samples;
            }
        return h;
    }

    [Fact]
    public void NegativeSearchRows_IsRejected() =>
        Assert.Contains("search rows", Assert.Throws<ArgumentException>(() => new SageOptions { SearchRows = -1 }.Validate()).Message);
}
