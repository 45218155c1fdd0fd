namespace SagePtq.Quantizer.Methods.Billm;

/// <summary>The input checks the binarization baselines share: shape, finite weights, a Hessian where needed.</summary>
internal static class TargetChecks
{
    /// <exception cref="ArgumentException">The target is malformed, has a non-finite weight, or lacks a needed Hessian.</exception>
    public static void Validate(LinearTarget target, string method, bool needsHessian)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target.Rows <= 0 || target.Cols <= 0)
            throw new ArgumentException($"{method}: {target.Name} has shape [{target.Rows}, {target.Cols}]; both must be positive", nameof(target));
        if (target.Weight is null || target.Weight.Length != (long)target.Rows * target.Cols)
            throw new ArgumentException($"{method}: {target.Name} has {target.Weight?.Length ?? 0} weights, expected {target.Rows} × {target.Cols}", nameof(target));
        for (int i = 0; i < target.Weight.Length; i++)
        {
            if (!float.IsFinite(target.Weight[i]))
                throw new ArgumentException($"{method}: {target.Name} has a non-finite weight at ({i / target.Cols}, {i % target.Cols})", nameof(target));
        }
        if (needsHessian && target.Hessian is null)
            throw new ArgumentException($"{method}: {target.Name} has no Hessian; this method needs calibration data", nameof(target));
    }
}
