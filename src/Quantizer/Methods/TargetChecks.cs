namespace SagePtq.Quantizer.Methods;

/// <summary>
/// The input checks every method runs on a <see cref="LinearTarget"/> before quantizing it, so that all of
/// them refuse the same inputs with the same messages: a malformed target is the caller's mistake
/// (<see cref="ArgumentException"/>), a NaN or infinity is bad data (<see cref="InvalidDataException"/>).
/// </summary>
internal static class TargetChecks
{
    /// <summary>Checks the shape, the weights (finite) and the Hessian: present when needed; when present, square and finite.</summary>
    /// <exception cref="ArgumentException">The shape or a length disagrees, or a needed Hessian is missing.</exception>
    /// <exception cref="InvalidDataException">A weight or Hessian entry is NaN or infinite.</exception>
    public static void Validate(LinearTarget target, string method, bool needsHessian)
    {
        ArgumentNullException.ThrowIfNull(target);
        int rows = target.Rows, cols = target.Cols;
        string where = $"{method}: {target.Name}";
        if (rows <= 0 || cols <= 0)
            throw new ArgumentException($"{where}: shape [{rows}, {cols}] is not positive", nameof(target));
        if (target.Weight is null || target.Weight.Length != (long)rows * cols)
            throw new ArgumentException($"{where}: {target.Weight?.Length ?? 0} weights, expected {rows} × {cols}", nameof(target));
        for (int k = 0; k < target.Weight.Length; k++)
            if (!float.IsFinite(target.Weight[k]))
                throw new InvalidDataException($"{where}: weight [{k / cols}, {k % cols}] is {target.Weight[k]}");

        if (target.Hessian is null)
        {
            if (needsHessian) throw new ArgumentException($"{where}: method '{method}' needs a calibration Hessian", nameof(target));
            return;
        }
        if (target.Hessian.Length != (long)cols * cols)
            throw new ArgumentException($"{where}: Hessian has {target.Hessian.Length} values, expected {cols} × {cols} = {(long)cols * cols}", nameof(target));
        for (int k = 0; k < target.Hessian.Length; k++)
            if (!double.IsFinite(target.Hessian[k]))
                throw new InvalidDataException($"{where}: Hessian entry [{k / cols}, {k % cols}] is {target.Hessian[k]}");
    }
}
