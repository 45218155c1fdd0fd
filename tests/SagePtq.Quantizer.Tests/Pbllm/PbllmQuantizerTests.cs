using SagePtq.Quantizer.Methods;
using SagePtq.Quantizer.Methods.Pbllm;
using SagePtq.Runtime.Packing.Layouts;
using Xunit.Abstractions;
using static SagePtq.Quantizer.Tests.Billm.BinarizationFixtures;

namespace SagePtq.Quantizer.Tests.Pbllm;

public sealed class PbllmQuantizerTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(24, 256, 0.1)]
    [InlineData(13, 37, 0.1)]
    [InlineData(3, 5, 0.5)]
    [InlineData(9, 20, 0.0)]
    [InlineData(9, 20, 1.0)]
    public void Payload_decodes_bit_exactly_to_the_dequantized_weights(int rows, int cols, double fraction)
    {
        var result = new PbllmQuantizer(new PbllmOptions { SalientFraction = fraction }).Quantize(Target(rows, cols, seed: rows + cols));
        var decoded = new float[rows * cols];
        new PbllmLayout().Decode(result.Payload, decoded);
        AssertSameBits(result.Dequantized, decoded);
        Assert.Equal(PbllmLayout.LayoutName, result.Payload.Layout);
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.05)]
    [InlineData(0.33)]
    public void Keeps_exactly_the_requested_fraction(double fraction)
    {
        const int Rows = 19, Cols = 64;
        var result = new PbllmQuantizer(new PbllmOptions { SalientFraction = fraction }).Quantize(Target(Rows, Cols, seed: 2));
        long expected = (long)Math.Floor(fraction * Rows * Cols);
        Assert.Equal(expected, result.Stats.SalientCount);
        Assert.Equal(expected, PbllmLayout.Read(result.Payload).Salient.LongCount(s => s));
        Assert.Equal((double)expected / (Rows * Cols), result.Stats.SaliencyRatio, 12);
        Assert.Equal(8, result.Stats.SalientBits);
        Assert.Equal(2, result.Stats.GroupCount);
    }

    [Fact]
    public void Ties_do_not_change_the_count_and_go_to_earlier_positions()
    {
        // Magnitudes from {1, 2, 3}: thousands of ties at the threshold.
        const int Rows = 10, Cols = 30;
        var random = new Random(4);
        var w = Enumerable.Range(0, Rows * Cols).Select(_ => (float)(random.Next(1, 4) * (random.Next(2) * 2 - 1))).ToArray();
        var options = new PbllmOptions { SalientFraction = 0.5, Saliency = PbllmSaliency.Magnitude, Compensate = false };
        var result = new PbllmQuantizer(options).Quantize(new LinearTarget("ties", Rows, Cols, w, null, 0));
        var salient = PbllmLayout.Read(result.Payload).Salient;
        Assert.Equal(150, salient.Count(s => s));
        // Every weight of magnitude 3 is in, and the 2s that are in come before the 2s that are out.
        Assert.All(Enumerable.Range(0, w.Length).Where(i => Math.Abs(w[i]) == 3), i => Assert.True(salient[i]));
        int lastIn = Enumerable.Range(0, w.Length).Where(i => Math.Abs(w[i]) == 2 && salient[i]).DefaultIfEmpty(-1).Max();
        int firstOut = Enumerable.Range(0, w.Length).Where(i => Math.Abs(w[i]) == 2 && !salient[i]).DefaultIfEmpty(int.MaxValue).Min();
        Assert.True(lastIn < firstOut);
    }

    [Fact]
    public void Data_free_magnitude_mode_keeps_the_largest_weights_on_an_8_bit_grid()
    {
        const int Rows = 16, Cols = 48;
        var target = Target(Rows, Cols, seed: 6, withHessian: false);
        var quantizer = new PbllmQuantizer(new PbllmOptions { Saliency = PbllmSaliency.Magnitude, Compensate = false });
        Assert.False(quantizer.NeedsHessian);
        var result = quantizer.Quantize(target);
        var codes = PbllmLayout.Read(result.Payload);
        float threshold = target.Weight.Select(Math.Abs).OrderDescending().ElementAt((int)result.Stats.SalientCount - 1);
        for (int i = 0; i < target.Weight.Length; i++)
        {
            float w = target.Weight[i];
            if (Math.Abs(w) > threshold) Assert.True(codes.Salient[i]);
            if (!codes.Salient[i]) continue;
            // Without compensation the salient value is the nearest point of the row's grid.
            float step = (float)codes.HighScale[i / Cols];
            Assert.True(Math.Abs(w - result.Dequantized[i]) <= 0.5f * step * 1.0001f, $"weight {i}: {w} → {result.Dequantized[i]}, step {step}");
        }
        // And the binarized weights of a row are exactly two values, μ ± α, with α = mean |w − μ| over them.
        for (int r = 0; r < Rows; r++)
        {
            var binarized = Enumerable.Range(r * Cols, Cols).Where(i => !codes.Salient[i]).ToArray();
            double mu = binarized.Average(i => (double)target.Weight[i]);
            double alpha = binarized.Average(i => Math.Abs(target.Weight[i] - mu));
            Assert.Equal(mu, (double)codes.BinaryMean[r], 2e-3 * Math.Max(1e-3, Math.Abs(mu)) + 1e-6);
            Assert.Equal(alpha, (double)codes.BinaryAlpha[r], 2e-3 * alpha);
            Assert.True(binarized.Select(i => result.Dequantized[i]).Distinct().Count() <= 2);
        }
    }

    [Fact]
    public void Gptq_compensation_lowers_the_output_error()
    {
        const int Rows = 32, Cols = 128;
        var target = Target(Rows, Cols, seed: 14);
        var compensated = new PbllmQuantizer().Quantize(target).Dequantized;
        var plain = new PbllmQuantizer(new PbllmOptions { Compensate = false }).Quantize(target).Dequantized;
        double withError = OutputError(target.Weight, compensated, target.Hessian!, Rows, Cols);
        double withoutError = OutputError(target.Weight, plain, target.Hessian!, Rows, Cols);
        double signError = OutputError(target.Weight, SignBinarized(target.Weight, Rows, Cols), target.Hessian!, Rows, Cols);
        Assert.True(withError < withoutError, $"compensated {withError:G4} vs uncompensated {withoutError:G4}");
        Assert.True(withoutError < signError, $"uncompensated {withoutError:G4} vs sign binarization {signError:G4}");
    }

    [Fact]
    public void Code_faithful_statistics_shrink_towards_zero()
    {
        var target = Target(8, 64, seed: 15, withHessian: false);
        var paper = new PbllmQuantizer(new PbllmOptions { Saliency = PbllmSaliency.Magnitude, Compensate = false }).Quantize(target);
        var code = new PbllmQuantizer(new PbllmOptions { Saliency = PbllmSaliency.Magnitude, Compensate = false, StatisticsIncludeSalientZeros = true }).Quantize(target);
        var (a, b) = (PbllmLayout.Read(paper.Payload), PbllmLayout.Read(code.Payload));
        Assert.Equal(a.Salient, b.Salient);
        for (int r = 0; r < 8; r++) Assert.True(Math.Abs((float)b.BinaryMean[r]) < Math.Abs((float)a.BinaryMean[r]) + 1e-6f);
    }

    [Fact]
    public void Same_input_gives_the_same_bytes()
    {
        var first = new PbllmQuantizer().Quantize(Target(20, 96, seed: 7));
        var second = new PbllmQuantizer().Quantize(Target(20, 96, seed: 7));
        foreach (var (a, b) in first.Payload.Sections.Zip(second.Payload.Sections)) Assert.Equal(a.Bytes, b.Bytes);
        AssertSameBits(first.Dequantized, second.Dequantized);
    }

    [Fact]
    public void Storage_bits_match_a_hand_count()
    {
        const int Rows = 4, Cols = 16;
        var result = new PbllmQuantizer(new PbllmOptions { SalientFraction = 0.25 }).Quantize(Target(Rows, Cols, seed: 3));
        long expectedBytes =
            Rows * Cols / 8          // salient mask: 8
            + (48 + 7) / 8           // signs of the 48 binarized weights: 6
            + 16                     // one byte per salient weight
            + Rows * 2 * 2           // α, μ per row in FP16
            + Rows * 2               // 8-bit grid step per row in FP16
            + Rows                   // 8-bit grid zero per row
            + 4;                     // the high_bits parameter
        Assert.Equal(62, expectedBytes);
        Assert.Equal(expectedBytes, result.Payload.StoredBytes);
        Assert.Equal(7.75, result.Payload.StorageBitsPerWeight, 12);
        Assert.Equal(0.75 + 8 * 0.25 + 1, result.Stats.PaperBitsPerWeight, 12);
    }

    [Fact]
    public void Paper_bits_at_ten_percent_are_2_point_7()
    {
        Assert.Equal(2.7, PbllmLayout.PaperBitsPerWeight(0.1), 12);
    }

    [Fact]
    public void Storage_bits_of_larger_matrices()
    {
        foreach (var (rows, cols) in new[] { (256, 256), (176, 384) })
        {
            var result = new PbllmQuantizer().Quantize(Target(rows, cols, seed: rows));
            output.WriteLine($"pbllm {rows}x{cols}: storage {result.Payload.StorageBitsPerWeight:F4} bits/weight, paper {result.Stats.PaperBitsPerWeight:F4}");
            long n = (long)rows * cols, salient = n / 10;
            // mask + binarized signs + 8-bit codes + 7 bytes of row parameters + the parameter.
            double expectedBytes = n / 8 + Math.Ceiling((n - salient) / 8.0) + salient + 7.0 * rows + 4;
            Assert.Equal(8 * expectedBytes / n, result.Payload.StorageBitsPerWeight, 12);
        }
    }

    [Fact]
    public void Missing_or_bad_inputs_are_refused_clearly()
    {
        var quantizer = new PbllmQuantizer();
        Assert.True(quantizer.NeedsHessian);
        var good = Target(4, 16, seed: 1);
        Assert.Contains("needs a calibration Hessian", Assert.Throws<ArgumentException>(() => quantizer.Quantize(good with { Hessian = null })).Message);
        Assert.Contains("expected 16 × 16", Assert.Throws<ArgumentException>(() => quantizer.Quantize(good with { Hessian = new double[17 * 16] })).Message);
        var nanWeight = (float[])good.Weight.Clone();
        nanWeight[20] = float.NaN;
        Assert.Contains("weight [1, 4] is NaN", Assert.Throws<InvalidDataException>(() => quantizer.Quantize(good with { Weight = nanWeight })).Message);
        Assert.Throws<ArgumentException>(() => new PbllmQuantizer(new PbllmOptions { SalientFraction = 1.5 }));
        Assert.Throws<ArgumentException>(() => new PbllmQuantizer(new PbllmOptions { SalientFraction = double.NaN }));
    }

    [Fact]
    public void Malformed_payloads_are_rejected()
    {
        var payload = new PbllmQuantizer().Quantize(Target(6, 40, seed: 2)).Payload;
        var layout = new PbllmLayout();
        var buffer = new float[6 * 40];
        var shortCodes = payload with { Sections = payload.Sections.Select(s => s.Name == "codes" ? s with { Bytes = s.Bytes[..^1] } : s).ToList() };
        Assert.Contains("'codes'", Assert.Throws<InvalidDataException>(() => layout.Decode(shortCodes, buffer)).Message);
        var badBits = payload with { Parameters = new Dictionary<string, int> { ["high_bits"] = 4 } };
        Assert.Contains("high_bits", Assert.Throws<InvalidDataException>(() => layout.Decode(badBits, buffer)).Message);
        var noZeros = payload with { Sections = payload.Sections.Where(s => s.Name != "high_zeros").ToList() };
        Assert.Contains("'high_zeros'", Assert.Throws<InvalidDataException>(() => layout.Decode(noZeros, buffer)).Message);
    }
}
