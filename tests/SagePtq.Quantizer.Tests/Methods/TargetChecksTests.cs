using SagePtq.Quantizer.Methods;
using static SagePtq.Quantizer.Tests.Methods.MethodTestData;

namespace SagePtq.Quantizer.Tests.Methods;

/// <summary>Every method refuses the same malformed or non-finite targets, with the same kind of error and message.</summary>
public sealed class TargetChecksTests
{
    public static TheoryData<string> Methods => new(MethodCatalog.Names);

    [Theory, MemberData(nameof(Methods))]
    public void A_non_finite_weight_is_bad_data_named_by_method_linear_and_position(string method)
    {
        var quantizer = MethodCatalog.Create(method, MethodOptions.Parse([]));
        var target = Correlated(4, 64, seed: 3, name: "layer.w");
        var weight = (float[])target.Weight.Clone();
        weight[64 + 5] = float.NaN;

        var error = Assert.Throws<InvalidDataException>(() => quantizer.Quantize(target with { Weight = weight }));

        Assert.Equal($"{method}: layer.w: weight [1, 5] is NaN", error.Message);
    }

    [Theory, MemberData(nameof(Methods))]
    public void A_non_finite_hessian_entry_is_bad_data_even_where_the_method_does_not_need_one(string method)
    {
        var quantizer = MethodCatalog.Create(method, MethodOptions.Parse([]));
        var target = Correlated(4, 64, seed: 3, name: "layer.w");
        var hessian = (double[])target.Hessian!.Clone();
        hessian[2 * 64 + 7] = double.PositiveInfinity;

        var error = Assert.Throws<InvalidDataException>(() => quantizer.Quantize(target with { Hessian = hessian }));

        Assert.StartsWith($"{method}: layer.w: Hessian entry [2, 7] is ", error.Message);
    }

    [Theory, MemberData(nameof(Methods))]
    public void Shapes_that_disagree_and_missing_hessians_are_the_callers_mistake(string method)
    {
        var quantizer = MethodCatalog.Create(method, MethodOptions.Parse([]));
        var target = Correlated(4, 64, seed: 3, name: "layer.w");

        Assert.Contains("weights, expected 4 × 64", Assert.Throws<ArgumentException>(() => quantizer.Quantize(target with { Weight = new float[10] })).Message);
        Assert.Contains("expected 64 × 64", Assert.Throws<ArgumentException>(() => quantizer.Quantize(target with { Hessian = new double[63 * 64] })).Message);
        Assert.Contains("is not positive", Assert.Throws<ArgumentException>(() => quantizer.Quantize(target with { Rows = 0, Weight = [] })).Message);
        if (quantizer.NeedsHessian)
            Assert.Contains("needs a calibration Hessian", Assert.Throws<ArgumentException>(() => quantizer.Quantize(target with { Hessian = null })).Message);
    }
}
