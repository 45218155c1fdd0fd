using SagePtq.Quantizer.Methods;
using SagePtq.Quantizer.Methods.Sage;
using SagePtq.Runtime.Packing.Layouts;
using Xunit;

namespace SagePtq.Quantizer.Tests.Sage;

/// <summary>The switches that remove one part of SAGE-PTQ each (docs/ablation.md), and their option names.</summary>
public sealed class SageAblationTests
{
    private static SageOptions Parse(params string[] pairs)
    {
        var quantizer = Assert.IsType<SageQuantizer>(MethodCatalog.Create("sage", MethodOptions.Parse(pairs)));
        return quantizer.Options;
    }

    [Fact]
    public void Options_DefaultToThePaperParts_AndParseTheSwitches()
    {
        var defaults = Parse();
        Assert.Equal(new SageOptions(), defaults);
        Assert.Null(defaults.SalientRatio);
        Assert.True(defaults.Compensate);
        Assert.Equal(GroupingAlgorithm.Spectral, defaults.Grouping);

        var ablated = Parse("salient_ratio=0.03", "compensate=false", "grouping=kmeans", "iterations=0", "search_iterations=0");
        Assert.Equal(0.03, ablated.SalientRatio);
        Assert.False(ablated.Compensate);
        Assert.Equal(GroupingAlgorithm.KMeans, ablated.Grouping);
        Assert.Equal(0, ablated.Iterations);
        Assert.Equal(0, ablated.SearchIterations);
        Assert.Null(Parse("salient_ratio=-1").SalientRatio);
        Assert.Equal(0.0, Parse("salient_ratio=0").SalientRatio);
    }

    [Theory]
    [InlineData("salient_ratio=-0.5", "expected -1 (searched per matrix) or a share from 0 to 0.5")]
    [InlineData("salient_ratio=0.6", "option salient_ratio=0.6: expected a number from -1 to 0.5")]
    [InlineData("grouping=graph", "option grouping=graph: expected one of spectral, kmeans")]
    [InlineData("iterations=-1", "option iterations=-1: expected an integer from 0 to 100")]
    [InlineData("compensate=maybe", "option compensate=maybe: expected true or false")]
    public void BadSwitches_AreRefused(string pair, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => MethodCatalog.Create("sage", MethodOptions.Parse([pair])));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void BadOptionsObjects_AreRefused()
    {
        Assert.Throws<ArgumentException>(() => new SageQuantizer(new SageOptions { SalientRatio = -0.1 }));
        Assert.Throws<ArgumentException>(() => new SageQuantizer(new SageOptions { SalientRatio = 0.51 }));
        Assert.Throws<ArgumentException>(() => new SageQuantizer(new SageOptions { Iterations = -1 }));
        Assert.Throws<ArgumentException>(() => new SageQuantizer(new SageOptions { SearchIterations = -1 }));
    }

    [Theory]
    [InlineData(0.05, 170, 100, 9)] // 8.5 rounds away from zero
    [InlineData(0.02, 170, 100, 3)]
    [InlineData(0.5, 170, 20, 20)]  // the budget's cap wins
    [InlineData(0.1, 170, 0, 0)]
    [InlineData(0.1, 170, -1, 0)]   // not even zero fits: the caller reports the budget
    [InlineData(0.0, 170, 50, 0)]
    public void FixedRatio_IsRoundedAndCapped(double ratio, int units, int cap, int expected) =>
        Assert.Equal(expected, AdaptiveThreshold.Fixed(ratio, units, cap));

    [Theory]
    [InlineData(0.02, 3)]
    [InlineData(0.05, 9)]
    [InlineData(0.0, 0)]
    public void SalientRatio_BypassesTheSearch_AndGivesThatShareOfTopRankedColumns(double ratio, int expectedColumns)
    {
        int rows = 40, cols = 170;
        var w = SageQuantizerTests.Weights(rows, cols, 2);
        var options = new SageOptions { Bits = 2.0, SalientRatio = ratio }; // room for up to 21 salient columns
        var result = new SageQuantizer(options).Quantize(new LinearTarget("t", rows, cols, w, null, 1));
        var salient = SageLayout.Read(result.Payload).SalientColumns;
        Assert.Equal(expectedColumns, salient.Length);
        // The columns are the top of the saliency ranking, here outlier columns (every 17th from 3).
        Assert.All(salient, c => Assert.Equal(3, c % 17));
        Assert.Equal((double)expectedColumns / cols, result.Stats.SaliencyRatio, 12);
        Assert.True(result.Payload.StorageBitsPerWeight <= options.Bits);
        // The search itself picks a count the fixed shares above do not all equal: it is bypassed, not agreed with.
        var searched = new SageQuantizer(options with { SalientRatio = null }).Quantize(new LinearTarget("t", rows, cols, w, null, 1));
        Assert.NotEqual(3, SageLayout.Read(searched.Payload).SalientColumns.Length);
    }

    [Fact]
    public void SalientRatio_AboveTheBudget_IsCappedToTheLargestCountThatFits()
    {
        int rows = 40, cols = 170;
        var w = SageQuantizerTests.Weights(rows, cols, 2);
        var options = new SageOptions { Bits = 1.6, SalientRatio = 0.5, MaxSalientRatio = 0.5 };
        var result = new SageQuantizer(options).Quantize(new LinearTarget("t", rows, cols, w, null, 1));
        int count = result.Payload.Parameter("salient_count");
        var flags = (SageFlags)result.Payload.Parameter("flags");
        double Bits(int c) => 8.0 * SageLayout.StoredBytes(rows, cols, flags, result.Payload.Parameter("scale_mode"), result.Stats.GroupCount, c, 4)
                              / (rows * cols);
        Assert.InRange(count, 1, cols / 2 - 1);
        Assert.True(Bits(count) <= 1.6);
        Assert.True(Bits(count + 1) > 1.6);
    }

    [Fact]
    public void ZeroIterations_KeepsTheClusteringsGroups_WhileIterationsReassignThem()
    {
        int rows = 23, cols = 300, k = 3;
        var w = SageQuantizerTests.Weights(rows, cols, 4, outlierColumns: false);
        var salient = new bool[rows * cols];
        var h = Enumerable.Repeat(1.0, cols).ToArray();
        // Deliberately poor groups (round robin), which any reassignment improves.
        var ids = Enumerable.Range(0, cols).Select(j => (byte)(j % k)).ToArray();
        var grouping = new Grouping(k, ids, false, 0.5);
        var once = new BinaryFit(w, rows, cols, salient, grouping, h, GroupScaleMode.RowTimesGroup, false);
        once.Run(0);
        Assert.Equal(ids, once.Groups);
        var alternated = new BinaryFit(w, rows, cols, salient, grouping, h, GroupScaleMode.RowTimesGroup, false);
        alternated.Run(1);
        Assert.NotEqual(ids, alternated.Groups);
        double Error(BinaryFit fit)
        {
            double e = 0;
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) { double d = w[i * cols + j] - fit.Reconstruct(i, j, w[i * cols + j], out _); e += d * d; }
            return e;
        }
        Assert.True(Error(alternated) < Error(once));
    }

    [Fact]
    public void PlainClustering_FindsSeparatedClusters_AndKeepsOneGroupForUnstructuredData()
    {
        var rng = new Random(3);
        var points = Enumerable.Range(0, 300).Select(t => (t % 3) * 1.0 + 0.05 * (rng.NextDouble() - 0.5)).ToArray();
        var three = PlainClustering.Cluster(points, 1, 4, 0.25, 7);
        Assert.Equal(3, three.K);
        Assert.Equal([0.0, 1.0, 2.0], three.Centroids.Order().Select(c => Math.Round(c, 1)).ToArray());
        for (int t = 3; t < points.Length; t++) Assert.Equal(three.Labels[t % 3], three.Labels[t]);

        var uniform = Enumerable.Range(0, 200).Select(_ => rng.NextDouble()).ToArray();
        var one = PlainClustering.Cluster(uniform, 1, 4, 0.9, 7);
        Assert.Equal(1, one.K);
        Assert.Equal(PlainClustering.Cluster(points, 1, 4, 0.25, 7).Labels, three.Labels); // seeded: same labels
    }

    [Fact]
    public void NoCompensation_TakesEverySignFromTheWeight_AndHasTheLargerOutputError()
    {
        int rows = 32, cols = 48;
        var w = SageQuantizerTests.Weights(rows, cols, 4);
        var h = SageQuantizerTests.CorrelatedHessian(cols, 400, 8);
        var options = new SageOptions { Bits = 1.5, Rotate = false, Refit = 0 };
        var plain = new SageQuantizer(options with { Compensate = false }).Quantize(new LinearTarget("t", rows, cols, w, h, 1));
        var compensated = new SageQuantizer(options).Quantize(new LinearTarget("t", rows, cols, w, h, 1));
        var salient = SageLayout.Read(plain.Payload).SalientColumns.Select(c => (int)c).ToHashSet();
        int flipped = 0;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                if (salient.Contains(j)) continue;
                int t = i * cols + j;
                Assert.Equal(w[t] >= 0, plain.Dequantized[t] >= 0);
                if ((w[t] >= 0) != (compensated.Dequantized[t] >= 0)) flipped++;
            }
        Assert.True(flipped > 0, "compensation should flip some signs against the weight's own");
        double OutputError(float[] q)
        {
            double total = 0;
            for (int r = 0; r < rows; r++)
                for (int a = 0; a < cols; a++)
                    for (int b = 0; b < cols; b++)
                        total += (w[r * cols + a] - q[r * cols + a]) * h[a * cols + b] * (w[r * cols + b] - q[r * cols + b]);
            return total;
        }
        Assert.True(OutputError(compensated.Dequantized) < OutputError(plain.Dequantized),
            $"compensated {OutputError(compensated.Dequantized)} vs plain {OutputError(plain.Dequantized)}");
        // With refit on, the uncompensated path still refits and re-quantizes without error feedback.
        var refitted = new SageQuantizer(options with { Compensate = false, Refit = 2 }).Quantize(new LinearTarget("t", rows, cols, w, h, 1));
        Assert.True(OutputError(refitted.Dequantized) <= OutputError(plain.Dequantized) * 1.0001);
    }
}
