using SagePtq.Quantizer.Methods;
using SagePtq.Quantizer.Methods.Sage;
using SagePtq.Runtime.Packing.Layouts;
using Xunit;

namespace SagePtq.Quantizer.Tests.Sage;

public sealed class OutputRefitTests
{
    /// <summary>A random correlated Hessian 2XXᵀ/n: inputs mix a few latent factors plus a little noise.</summary>
    internal static double[] CorrelatedHessian(int cols, int seed, int samples = 300)
    {
        var rng = new Random(seed);
        var mix = Enumerable.Range(0, cols * 4).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var x = new double[cols * samples];
        for (int t = 0; t < samples; t++)
        {
            var z = Enumerable.Range(0, 4).Select(_ => rng.NextDouble() - 0.5).ToArray();
            for (int j = 0; j < cols; j++)
                x[j * samples + t] = Enumerable.Range(0, 4).Sum(r => mix[j * 4 + r] * z[r]) + 0.05 * (rng.NextDouble() - 0.5);
        }
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

    /// <summary>Oracle: tr((W − Q)H(W − Q)ᵀ) by the triple loop.</summary>
    internal static double OutputError(float[] w, float[] q, double[] h, int rows, int cols)
    {
        double total = 0;
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < cols; i++)
                for (int j = 0; j < cols; j++)
                    total += ((double)w[r * cols + i] - q[r * cols + i]) * h[i * cols + j] * ((double)w[r * cols + j] - q[r * cols + j]);
        return total;
    }

    public static TheoryData<SageOptions> Variants() => new()
    {
        new SageOptions { Bits = 1.5 },
        new SageOptions { Bits = 1.8, Rotate = true },
        new SageOptions { Bits = 2.0, ScaleMode = GroupScaleMode.PerRowGroup, Offset = true },
        new SageOptions { Bits = 3.5, ScaleMode = GroupScaleMode.PerGroup, Salient = SalientGranularity.Weight, Groups = GroupGranularity.Weight },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Refit_NeverRaisesOutputError_AndDecodesExactly(SageOptions options)
    {
        int rows = 24, cols = 64;
        var w = SageQuantizerTests.Weights(rows, cols, 5);
        var h = CorrelatedHessian(cols, 6);
        var plain = new SageQuantizer(options with { Refit = 0 }).Quantize(new LinearTarget("t", rows, cols, w, h, 3));
        var refit = new SageQuantizer(options with { Refit = 1 }).Quantize(new LinearTarget("t", rows, cols, w, h, 3));
        double before = OutputError(w, plain.Dequantized, h, rows, cols), after = OutputError(w, refit.Dequantized, h, rows, cols);
        // Same signs and codes (one sweep); only the scalars moved, to the exact minimiser up to FP16 rounding.
        Assert.True(after <= before * (1 + 1e-3), $"refit {after} > plain {before}");
        Assert.Equal(plain.Payload.StoredBytes, refit.Payload.StoredBytes);
        var decoded = new float[rows * cols];
        new SageLayout().Decode(refit.Payload, decoded);
        Assert.Equal(refit.Dequantized, decoded);
    }

    [Fact]
    public void Refit_LowersOutputErrorClearly_OnCorrelatedHessian()
    {
        int rows = 32, cols = 48;
        var w = SageQuantizerTests.Weights(rows, cols, 7);
        var h = CorrelatedHessian(cols, 8);
        var options = new SageOptions { Bits = 1.5 };
        double Error(int refit) => OutputError(w,
            new SageQuantizer(options with { Refit = refit }).Quantize(new LinearTarget("t", rows, cols, w, h, 1)).Dequantized, h, rows, cols);
        double none = Error(0), one = Error(1), two = Error(2);
        Assert.True(one < 0.98 * none, $"refit 1: {one} vs none {none}");
        Assert.True(two < none, $"refit 2: {two} vs none {none}");
    }

    [Fact]
    public void Refit_ScalarsAreAStationaryPointOfTheOutputError()
    {
        // Unrounded solution of Refit for a random structure: nudging any scalar must not lower the objective.
        int rows = 6, cols = 20, k = 3, bits = 4;
        var rng = new Random(11);
        var w = Enumerable.Range(0, rows * cols).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var h = CorrelatedHessian(cols, 12);
        var salient = Enumerable.Range(0, rows * cols).Select(t => t % cols is 2 or 9).ToArray();
        var signs = Enumerable.Range(0, rows * ((cols + 7) / 8)).Select(_ => (byte)rng.Next(256)).ToArray();
        var codes = Enumerable.Range(0, rows * cols).Select(_ => (byte)rng.Next(16)).ToArray();
        var groupOf = Enumerable.Range(0, cols).Select(j => j % k).ToArray();
        var offsets = Enumerable.Range(0, rows).Select(_ => (float)(0.1 * (rng.NextDouble() - 0.5))).ToArray();
        var s = new OutputRefit.Structure(signs, codes, salient, (_, j) => groupOf[j], offsets, bits);
        var a = Enumerable.Repeat(0.3, rows).ToArray();
        var c = new[] { 1.0, 0.5, 0.25 };
        var t = Enumerable.Repeat(0.05, rows).ToArray();
        OutputRefit.Refit(w, h, rows, cols, k, GroupScaleMode.RowTimesGroup, s, a, c, t, rounds: 200);

        double Objective(double[] aa, double[] cc, double[] tt)
        {
            var q = new float[rows * cols];
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                {
                    int idx = i * cols + j;
                    bool positive = (signs[i * ((cols + 7) / 8) + (j >> 3)] & (1 << (j & 7))) != 0;
                    q[idx] = salient[idx] ? (float)(tt[i] * (codes[idx] - 8))
                        : (float)(offsets[i] + aa[i] * cc[groupOf[j]] * (positive ? 1 : -1));
                }
            return OutputError(w, q, h, rows, cols);
        }
        double best = Objective(a, c, t);
        Assert.Equal(1.0, c.Max(), 12);
        foreach (var (vector, index) in Enumerable.Range(0, rows).Select(i => (a, i))
                     .Concat(Enumerable.Range(0, k).Select(g => (c, g))).Concat(Enumerable.Range(0, rows).Select(i => (t, i))))
            foreach (double step in new[] { 1e-2, -1e-2 })
            {
                double keep = vector[index];
                vector[index] = keep * (1 + step);
                Assert.True(Objective(a, c, t) >= best - 1e-5 * best, $"nudging a scalar by {step} lowered the objective");
                vector[index] = keep;
            }
    }

    [Fact]
    public void SolveSubset_SolvesTheFreeVariables_AndKeepsTheOthers()
    {
        var m = new double[,] { { 4, 1, 0 }, { 1, 3, 0 }, { 0, 0, 0 } };
        var b = new[] { 1.0, 2.0, 5.0 };
        var theta = new[] { 9.0, 9.0, 7.0 };
        OutputRefit.SolveSubset(m, b, theta);
        Assert.Equal(1.0 / 11, theta[0], 12);
        Assert.Equal(7.0 / 11, theta[1], 12);
        Assert.Equal(7.0, theta[2]);
    }

    [Fact]
    public void DefaultRotation_IsOnExactlyWhenCalibrated()
    {
        int rows = 16, cols = 64;
        var w = SageQuantizerTests.Weights(rows, cols, 9);
        var h = CorrelatedHessian(cols, 10);
        bool Rotated(SageOptions o, double[]? hessian) =>
            ((SageFlags)new SageQuantizer(o).Quantize(new LinearTarget("t", rows, cols, w, hessian, 2)).Payload.Parameter("flags") & SageFlags.Rotated) != 0;
        var auto = new SageOptions { Bits = 1.8 };
        Assert.False(Rotated(auto, null));
        Assert.True(Rotated(auto, h));
        Assert.False(Rotated(auto with { Rotate = false }, h));
        Assert.True(Rotated(auto with { Rotate = true }, null));
    }

    [Fact]
    public void CatalogOptions_MapRefitAndRotation()
    {
        var sage = Assert.IsType<SageQuantizer>(MethodCatalog.Create("sage", new MethodOptions(new Dictionary<string, string> { ["refit"] = "3", ["rotate"] = "false" })));
        Assert.Equal("sage", sage.Method);
        Assert.ThrowsAny<ArgumentException>(() => MethodCatalog.Create("sage", new MethodOptions(new Dictionary<string, string> { ["rotate"] = "maybe" })));
        Assert.ThrowsAny<ArgumentException>(() => MethodCatalog.Create("sage", new MethodOptions(new Dictionary<string, string> { ["refit"] = "11" })));
    }

    [Fact]
    public void RefitOption_IsValidated()
    {
        Assert.Throws<ArgumentException>(() => new SageQuantizer(new SageOptions { Refit = -1 }));
        Assert.Throws<ArgumentException>(() => new SageQuantizer(new SageOptions { Refit = 11 }));
    }
}
