using SagePtq.Quantizer.Methods.Billm;
using static SagePtq.Quantizer.Tests.Billm.BinarizationFixtures;

namespace SagePtq.Quantizer.Tests.Billm;

public sealed class ResidualBinarizerTests
{
    [Theory]
    [InlineData(3)]
    [InlineData(17)]
    [InlineData(128)]
    public void Residual_order_two_beats_a_single_binarization(int length)
    {
        var random = new Random(length);
        var values = Enumerable.Range(0, length).Select(_ => (float)(Gaussian(random) + 0.3)).ToArray();
        double order1 = ResidualBinarizer.SquaredError(values, 1), order2 = ResidualBinarizer.SquaredError(values, 2);
        Assert.True(order2 < order1, $"order 2 {order2} vs order 1 {order1}");
    }

    [Fact]
    public void Fit_reconstructs_what_the_error_measures_and_matches_the_definition()
    {
        var random = new Random(9);
        var values = Enumerable.Range(0, 50).Select(_ => (float)Gaussian(random)).ToArray();
        var (p1, p2) = (new bool[50], new bool[50]);
        var fit = ResidualBinarizer.FitRegion(values, 2, p1, p2);

        // The definition, written out: μ₁ = mean, α₁ = mean |v − μ₁|, then the same on the residual.
        double mu1 = values.Average(v => (double)v), alpha1 = values.Average(v => Math.Abs(v - mu1));
        var residual = values.Select(v => v - (mu1 + (v >= mu1 ? alpha1 : -alpha1))).ToArray();
        double mu2 = residual.Average(), alpha2 = residual.Average(v => Math.Abs(v - mu2));
        Assert.Equal(alpha1, fit.Alpha1, 12);
        Assert.Equal(alpha2, fit.Alpha2, 12);
        Assert.Equal(mu1 + mu2, fit.Mean, 12);
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(values[i] >= mu1, p1[i]);
            Assert.Equal(residual[i] >= mu2, p2[i]);
        }
        double error = 0;
        for (int i = 0; i < 50; i++)
        {
            double q = (p1[i] ? fit.Alpha1 : -fit.Alpha1) + (p2[i] ? fit.Alpha2 : -fit.Alpha2) + fit.Mean;
            error += (values[i] - q) * (values[i] - q);
        }
        Assert.Equal(error, ResidualBinarizer.SquaredError(values, 2), 9);
    }

    [Fact]
    public void Empty_region_fits_to_zero()
    {
        Assert.Equal(default, ResidualBinarizer.FitRegion([], 2, [], []));
        Assert.Equal(0, ResidualBinarizer.SquaredError([], 2));
    }
}
