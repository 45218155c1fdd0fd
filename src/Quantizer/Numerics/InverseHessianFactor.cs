namespace SagePtq.Quantizer.Numerics;

/// <summary>
/// The upper Cholesky factor U of the damped inverse Hessian (H + λI)⁻¹ = UᵀU, as GPTQ uses it:
/// U[j, j]² is the OBS denominator of column j when columns are quantized left to right, and row j
/// of U carries column j's rounding error to the later columns. Built the way GPTQ's code builds
/// it: dead columns fixed, optional act-order permutation, relative damping, chol(H) → H⁻¹ →
/// upper chol(H⁻¹), with damping raised tenfold on failure.
/// </summary>
public sealed class InverseHessianFactor
{
    /// <summary>Damping retries after the first attempt, each with ten times the damping.</summary>
    public const int DampingRetries = 3;

    private InverseHessianFactor(int cols, double[] upper, int[]? permutation, int[] deadColumns, double damping)
    {
        Cols = cols;
        Upper = upper;
        Permutation = permutation;
        DeadColumns = deadColumns;
        Damping = damping;
    }

    /// <summary>The matrix size (the linear's in-features).</summary>
    public int Cols { get; }

    /// <summary>U, cols × cols row-major, zero below the diagonal, in processing (permuted) order.</summary>
    public double[] Upper { get; }

    /// <summary>
    /// With act-order, Permutation[k] is the original column processed at position k (columns by
    /// descending H[i, i], ties by index); null when columns keep their order.
    /// </summary>
    public int[]? Permutation { get; }

    /// <summary>Original indices of dead inputs (H[i, i] = 0): the caller must zero those weight columns.</summary>
    public int[] DeadColumns { get; }

    /// <summary>The absolute damping λ finally added to the diagonal.</summary>
    public double Damping { get; }

    /// <summary>Builds U from H (cols × cols row-major, symmetric, not damped; it is not modified).</summary>
    /// <param name="hessian">H = (2/n) Σ xᵀx.</param>
    /// <param name="cols">The size of H.</param>
    /// <param name="percentDamp">λ = percentDamp · mean(diag H); GPTQ's default is 0.01.</param>
    /// <param name="actOrder">Process columns by descending diag H (GPTQ's act-order).</param>
    /// <exception cref="ArgumentException">Wrong size, or damping negative or not finite.</exception>
    /// <exception cref="InvalidDataException">H holds NaN or infinite values, or a negative diagonal.</exception>
    /// <exception cref="NotPositiveDefiniteException">H + λI stayed not positive definite after every retry.</exception>
    public static InverseHessianFactor Compute(ReadOnlySpan<double> hessian, int cols, double percentDamp = 0.01, bool actOrder = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        if (hessian.Length != (long)cols * cols)
            throw new ArgumentException($"Hessian must be {cols} × {cols} ({(long)cols * cols} values), got {hessian.Length} values", nameof(hessian));
        if (!(percentDamp >= 0) || !double.IsFinite(percentDamp))
            throw new ArgumentException($"percdamp must be zero or positive and finite, got {percentDamp}", nameof(percentDamp));
        for (int k = 0; k < hessian.Length; k++)
            if (!double.IsFinite(hessian[k]))
                throw new InvalidDataException($"Hessian entry [{k / cols}, {k % cols}] is {hessian[k]}");

        var h = hessian.ToArray();
        var dead = new List<int>();
        for (int i = 0; i < cols; i++)
        {
            double d = h[(long)i * cols + i];
            if (d < 0) throw new InvalidDataException($"Hessian diagonal [{i}, {i}] is negative ({d}); a Hessian of inputs is positive semidefinite");
            if (d == 0) { h[(long)i * cols + i] = 1; dead.Add(i); }
        }

        int[]? permutation = null;
        if (actOrder)
        {
            permutation = Enumerable.Range(0, cols).OrderByDescending(i => h[(long)i * cols + i]).ThenBy(i => i).ToArray();
            h = Permute(h, cols, permutation);
        }

        double meanDiagonal = 0;
        for (int i = 0; i < cols; i++) meanDiagonal += h[(long)i * cols + i];
        meanDiagonal /= cols;

        double damping = percentDamp * meanDiagonal;
        for (int attempt = 0; attempt <= DampingRetries; attempt++, damping *= 10)
        {
            var upper = TryFactor(h, cols, damping);
            if (upper is not null) return new InverseHessianFactor(cols, upper, permutation, [.. dead], damping);
        }
        throw new NotPositiveDefiniteException(
            $"the {cols} × {cols} Hessian is not positive definite even with damping {damping / 10:G3} " +
            $"({percentDamp * Math.Pow(10, DampingRetries):G3} × mean diagonal); use more calibration data or a larger percdamp");
    }

    /// <summary>upper chol((H + λI)⁻¹), or null when a factorization fails.</summary>
    private static double[]? TryFactor(double[] h, int n, double damping)
    {
        var a = (double[])h.Clone();
        for (int i = 0; i < n; i++) a[(long)i * n + i] += damping;
        if (!Cholesky.TryFactorLower(a, n)) return null;
        var inverse = Cholesky.InverseFromLower(a, n);
        if (!Cholesky.TryFactorLower(inverse, n)) return null;
        // inverse now holds L₂ with H⁻¹ = L₂L₂ᵀ; U = L₂ᵀ gives H⁻¹ = UᵀU.
        var upper = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) upper[(long)i * n + j] = inverse[(long)j * n + i];
        return upper;
    }

    private static double[] Permute(double[] h, int n, int[] permutation)
    {
        var result = new double[h.Length];
        for (int i = 0; i < n; i++)
        {
            long source = (long)permutation[i] * n, target = (long)i * n;
            for (int j = 0; j < n; j++) result[target + j] = h[source + permutation[j]];
        }
        return result;
    }
}
