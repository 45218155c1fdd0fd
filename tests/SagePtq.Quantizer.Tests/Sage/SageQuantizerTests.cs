using SagePtq.Quantizer.Methods;
using SagePtq.Quantizer.Methods.Sage;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using Xunit;

namespace SagePtq.Quantizer.Tests.Sage;

public sealed class SageQuantizerTests
{
    internal static float[] Weights(int rows, int cols, int seed, bool outlierColumns = true)
    {
        var rng = new Random(seed);
        var w = new float[rows * cols];
        for (int i = 0; i < rows; i++)
        {
            double rowScale = 0.5 + rng.NextDouble();
            for (int j = 0; j < cols; j++)
            {
                double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                double colScale = outlierColumns && j % 17 == 3 ? 6 : 1;
                w[i * cols + j] = (float)(0.02 * rowScale * colScale * g);
            }
        }
        return w;
    }

    /// <summary>2·XXᵀ/n of strongly correlated inputs x = A z (+ a little noise) with a random mixing A.</summary>
    internal static double[] CorrelatedHessian(int cols, int samples, int seed)
    {
        var rng = new Random(seed);
        var x = new double[cols * samples];
        var mix = Enumerable.Range(0, cols * 4).Select(_ => rng.NextDouble() - 0.5).ToArray();
        for (int t = 0; t < samples; t++)
        {
            var z = Enumerable.Range(0, 4).Select(_ => rng.NextDouble() - 0.5).ToArray();
            for (int j = 0; j < cols; j++)
                x[j * samples + t] = Enumerable.Range(0, 4).Sum(r => mix[j * 4 + r] * z[r]) + 0.05 * (rng.NextDouble() - 0.5);
        }
        var h = new double[cols * cols];
        for (int i = 0; i < cols; i++) for (int j = 0; j < cols; j++)
            {
                double s = 0; for (int t = 0; t < samples; t++) s += x[i * samples + t] * x[j * samples + t];
                h[i * cols + j] = 2 * s / samples;
            }
        return h;
    }

    private static double RelativeError(float[] w, float[] q) =>
        w.Zip(q, (a, b) => (double)(a - b) * (a - b)).Sum() / w.Sum(a => (double)a * a);

    public static TheoryData<SageOptions> Variants() => new()
    {
        new SageOptions { Bits = 1.6 },
        new SageOptions { Salient = SalientGranularity.Weight, Groups = GroupGranularity.Weight, ScaleMode = GroupScaleMode.PerGroup, Bits = 3.5 },
        new SageOptions { ScaleMode = GroupScaleMode.PerRowGroup, Offset = true, Bits = 2.0 },
        new SageOptions { Rotate = true, SalientBits = 3, Bits = 1.6 },
        new SageOptions { Salient = SalientGranularity.Weight, Bits = 1.4, Offset = true },
        // The ablation switches (docs/ablation.md) keep the contract too.
        new SageOptions { Iterations = 0, SearchIterations = 0, Bits = 1.6 },
        new SageOptions { Grouping = GroupingAlgorithm.KMeans, Groups = GroupGranularity.Weight, Bits = 3 },
        new SageOptions { SalientRatio = 0.05, Bits = 1.6 },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Quantize_MeetsBudget_DecodesExactly_AndBeatsPlainSignBinarization(SageOptions options)
    {
        int rows = 37, cols = 96;
        var w = Weights(rows, cols, 1);
        var result = new SageQuantizer(options).Quantize(new LinearTarget("t", rows, cols, w, null, 9));
        Assert.True(result.Payload.StorageBitsPerWeight <= options.Bits, $"{result.Payload.StorageBitsPerWeight} > {options.Bits}");
        // Every sage linear is written with row-tiled signs (37 rows: two tiles and five rows after them).
        Assert.Equal((int)SageFlags.TiledSigns, result.Payload.Parameter("flags") & (int)SageFlags.TiledSigns);
        var decoded = new float[rows * cols];
        new SageLayout().Decode(result.Payload, decoded);
        Assert.Equal(result.Dequantized, decoded); // bit-exact
        // Oracle: sign(w)·mean|w| per row, the simplest 1-bit quantizer.
        var naive = new float[rows * cols];
        for (int i = 0; i < rows; i++)
        {
            float m = 0; for (int j = 0; j < cols; j++) m += Math.Abs(w[i * cols + j]) / cols;
            for (int j = 0; j < cols; j++) naive[i * cols + j] = w[i * cols + j] >= 0 ? m : -m;
        }
        Assert.True(RelativeError(w, result.Dequantized) < RelativeError(w, naive));
        Assert.Equal(SageLayout.StoredBytes(rows, cols, (SageFlags)result.Payload.Parameter("flags"), result.Payload.Parameter("scale_mode"),
            result.Stats.GroupCount, result.Payload.Parameter("salient_count"), options.SalientBits), result.Payload.StoredBytes);
    }

    [Fact]
    public void Quantize_FindsTheOutlierColumnsAsSalient()
    {
        int rows = 40, cols = 170;
        var w = Weights(rows, cols, 2);
        var result = new SageQuantizer(new SageOptions { Bits = 1.5 }).Quantize(new LinearTarget("t", rows, cols, w, null, 1));
        var encoding = SageLayout.Read(result.Payload);
        var outliers = Enumerable.Range(0, cols).Where(j => j % 17 == 3).ToArray();
        Assert.NotEmpty(encoding.SalientColumns);
        Assert.Subset(outliers.Select(j => (ushort)j).ToHashSet(), encoding.SalientColumns.ToHashSet());
        Assert.Equal(1 + result.Stats.SaliencyRatio * 3 + 16.0 * (encoding.GroupScales.Length + 2 * rows) / (rows * cols),
            result.Stats.PaperBitsPerWeight, 12);
    }

    [Fact]
    public void SameSeed_SameBytes()
    {
        int rows = 24, cols = 64;
        var w = Weights(rows, cols, 3);
        var options = new SageOptions { Rotate = true, Groups = GroupGranularity.Weight, Bits = 3 };
        var a = new SageQuantizer(options).Quantize(new LinearTarget("t", rows, cols, w, null, 5)).Payload;
        var b = new SageQuantizer(options).Quantize(new LinearTarget("t", rows, cols, w.ToArray(), null, 5)).Payload;
        Assert.Equal(a.Parameters, b.Parameters);
        Assert.Equal(a.Sections.Select(s => s.Name), b.Sections.Select(s => s.Name));
        for (int s = 0; s < a.Sections.Count; s++) Assert.Equal(a.Sections[s].Bytes, b.Sections[s].Bytes);
    }

    [Fact]
    public void Calibrated_HasLowerOutputErrorThanDataFree_OnCorrelatedHessian()
    {
        int rows = 32, cols = 48, samples = 400;
        var w = Weights(rows, cols, 4);
        var h = CorrelatedHessian(cols, samples, 8);
        double OutputError(float[] q)
        {
            double total = 0;
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < cols; i++)
                    for (int j = 0; j < cols; j++)
                        total += (w[r * cols + i] - q[r * cols + i]) * h[i * cols + j] * (w[r * cols + j] - q[r * cols + j]);
            return total;
        }
        var options = new SageOptions { Bits = 1.5 };
        var free = new SageQuantizer(options).Quantize(new LinearTarget("t", rows, cols, w, null, 1));
        var calibrated = new SageQuantizer(options).Quantize(new LinearTarget("t", rows, cols, w, h, 1));
        Assert.True(calibrated.Payload.StorageBitsPerWeight <= 1.5);
        Assert.True(OutputError(calibrated.Dequantized) < 0.8 * OutputError(free.Dequantized),
            $"calibrated {OutputError(calibrated.Dequantized)} vs data-free {OutputError(free.Dequantized)}");
    }

    [Fact]
    public void ZeroRow_QuantizesToZeros()
    {
        int rows = 10, cols = 64;
        var w = Weights(rows, cols, 5);
        Array.Clear(w, 3 * cols, cols);
        foreach (var mode in new[] { GroupScaleMode.RowTimesGroup, GroupScaleMode.PerRowGroup })
        {
            var q = new SageQuantizer(new SageOptions { ScaleMode = mode, Offset = true, Bits = 2.5 })
                .Quantize(new LinearTarget("t", rows, cols, w, null, 1)).Dequantized;
            Assert.All(q.AsSpan(3 * cols, cols).ToArray(), v => Assert.Equal(0f, v));
        }
    }

    [Fact]
    public void BadInput_IsRejectedClearly()
    {
        var w = Weights(4, 16, 6);
        w[21] = float.NaN;
        var nan = Assert.Throws<InvalidDataException>(() => new SageQuantizer(new SageOptions()).Quantize(new LinearTarget("layer.q", 4, 16, w, null, 1)));
        Assert.Contains("layer.q", nan.Message);
        Assert.Contains("[1, 5]", nan.Message);
        Assert.Throws<ArgumentException>(() => new SageQuantizer(new SageOptions { Bits = 0.9 }));
        Assert.Throws<ArgumentException>(() => new SageQuantizer(new SageOptions { Bits = 1.0 }));
        Assert.Throws<ArgumentException>(() => new SageQuantizer(new SageOptions { SalientBits = 1 }));
        // A budget above 1 but below what signs plus row scales take for a narrow matrix.
        var tight = Assert.Throws<ArgumentException>(() => new SageQuantizer(new SageOptions { Bits = 1.01 })
            .Quantize(new LinearTarget("narrow", 8, 16, Weights(8, 16, 1), null, 1)));
        Assert.Contains("budget", tight.Message);
        Assert.Throws<ArgumentException>(() => new SageQuantizer(new SageOptions()).Quantize(new LinearTarget("short", 4, 16, new float[10], null, 1)));
        Assert.Throws<ArgumentException>(() => new SageQuantizer(new SageOptions()).Quantize(new LinearTarget("h", 4, 16, Weights(4, 16, 1), new double[3], 1)));
    }
}
