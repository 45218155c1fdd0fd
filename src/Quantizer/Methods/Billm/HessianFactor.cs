using SagePtq.Quantizer.Numerics;

namespace SagePtq.Quantizer.Methods.Billm;

/// <summary>
/// The GPTQ-style preparation of a calibration Hessian as the BiLLM and PB-LLM baselines use it:
/// <see cref="InverseHessianFactor"/> (dead inputs, relative damping, U with H⁻¹ = UᵀU), with the
/// dead inputs' weight columns zeroed and U in FP32, the precision of their column loops.
/// </summary>
internal static class HessianFactor
{
    /// <summary>
    /// Zeroes the weight columns of dead inputs (H_jj = 0) in <paramref name="weight"/> and returns U,
    /// <paramref name="cols"/> × <paramref name="cols"/> row-major, for H damped by
    /// <paramref name="dampFraction"/> · mean(diag H).
    /// </summary>
    /// <exception cref="ArgumentException">H has the wrong size, a non-finite entry, or is not positive definite even when damped.</exception>
    public static float[] PrepareUpperInverseFactor(double[] hessian, int cols, float[] weight, int rows, double dampFraction, string name)
    {
        InverseHessianFactor factor;
        try
        {
            factor = InverseHessianFactor.Compute(hessian, cols, dampFraction);
        }
        catch (Exception e) when (e is InvalidDataException or NotPositiveDefiniteException or ArgumentException)
        {
            throw new ArgumentException($"{name}: {e.Message}", nameof(hessian), e);
        }
        foreach (int j in factor.DeadColumns)
            for (int r = 0; r < rows; r++) weight[(long)r * cols + j] = 0;
        return Array.ConvertAll(factor.Upper, v => (float)v);
    }
}
