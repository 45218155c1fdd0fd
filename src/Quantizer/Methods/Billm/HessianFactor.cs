using System.Numerics.Tensors;

namespace SagePtq.Quantizer.Methods.Billm;

/// <summary>
/// The GPTQ-style preparation of a calibration Hessian, shared by the BiLLM and PB-LLM baselines:
/// dead inputs, relative damping, and U = the upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU), whose row j
/// holds the OBS update of the columns after j and whose diagonal U_jj² is the OBS denominator.
/// Kept minimal and internal: a shared numerics library replaces it after merging.
/// </summary>
internal static class HessianFactor
{
    /// <summary>How many times the damping is raised tenfold before a Hessian is declared unusable.</summary>
    private const int DampingRetries = 4;

    /// <summary>
    /// Checks <paramref name="hessian"/> (n × n, row-major, n = <paramref name="cols"/>), zeroes the weight
    /// columns of dead inputs (H_jj = 0) in <paramref name="weight"/> and returns U, n × n row-major, in FP32.
    /// H is damped by <paramref name="dampFraction"/> · mean(diag H), the way GPTQ and BiLLM do; should the
    /// factorization still fail, the damping is raised tenfold a few times before giving up.
    /// </summary>
    /// <exception cref="ArgumentException">H has the wrong size, a non-finite entry, or is not positive definite even when damped.</exception>
    public static float[] PrepareUpperInverseFactor(double[] hessian, int cols, float[] weight, int rows, double dampFraction, string name)
    {
        if (hessian.Length != (long)cols * cols)
            throw new ArgumentException($"{name}: the Hessian has {hessian.Length} entries, expected {cols} × {cols} = {(long)cols * cols}", nameof(hessian));
        for (int i = 0; i < hessian.Length; i++)
        {
            if (!double.IsFinite(hessian[i]))
                throw new ArgumentException($"{name}: the Hessian has a non-finite entry at ({i / cols}, {i % cols})", nameof(hessian));
        }

        var h = (double[])hessian.Clone();
        double diagonalSum = 0;
        for (int j = 0; j < cols; j++)
        {
            if (h[(long)j * cols + j] == 0)
            {
                // A dead input never reaches the output: give it unit curvature and drop its weights.
                h[(long)j * cols + j] = 1;
                for (int r = 0; r < rows; r++) weight[(long)r * cols + j] = 0;
            }
            diagonalSum += h[(long)j * cols + j];
        }
        double damp = dampFraction * diagonalSum / cols;
        for (int attempt = 0; attempt <= DampingRetries; attempt++, damp *= 10)
        {
            var damped = (double[])h.Clone();
            for (int j = 0; j < cols; j++) damped[(long)j * cols + j] += damp;
            if (TryUpperInverseFactor(damped, cols, out var upper)) return upper;
        }
        throw new ArgumentException($"{name}: the Hessian is not positive definite, even with damping raised to {damp / 10:G4}", nameof(hessian));
    }

    /// <summary>
    /// U upper with UᵀU = A⁻¹ for a symmetric positive definite A (n × n, overwritten), in one Cholesky and one
    /// triangular inverse: with J the exchange matrix and JAJ = LLᵀ, A = (JLJ)(JLJ)ᵀ with JLJ upper, so
    /// A⁻¹ = (JL⁻¹J)ᵀ(JL⁻¹J) and U = JL⁻¹J. False when A is not positive definite.
    /// </summary>
    internal static bool TryUpperInverseFactor(double[] a, int n, out float[] upper)
    {
        upper = [];
        var reversed = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                reversed[(long)i * n + j] = a[(long)(n - 1 - i) * n + (n - 1 - j)];
        if (!TryCholeskyLower(reversed, n)) return false;
        var inverseTransposed = InvertLowerTransposed(reversed, n);
        // U[a, b] = L⁻¹[n-1-a, n-1-b] = inverseTransposed[n-1-b, n-1-a].
        var u = new float[(long)n * n];
        Parallel.For(0, n, row =>
        {
            for (int col = row; col < n; col++)
                u[(long)row * n + col] = (float)inverseTransposed[(long)(n - 1 - col) * n + (n - 1 - row)];
        });
        upper = u;
        return true;
    }

    /// <summary>In-place lower Cholesky factor (the strict upper triangle is left as it was). False if not positive definite.</summary>
    internal static bool TryCholeskyLower(double[] a, int n)
    {
        for (int j = 0; j < n; j++)
        {
            var rowJ = a.AsSpan(j * n, j);
            double pivot = a[(long)j * n + j] - TensorPrimitives.Dot<double>(rowJ, rowJ);
            if (!(pivot > 0) || !double.IsFinite(pivot)) return false;
            double diagonal = Math.Sqrt(pivot);
            a[(long)j * n + j] = diagonal;
            int column = j;
            void Row(int i)
            {
                var rowI = a.AsSpan(i * n, column);
                a[(long)i * n + column] = (a[(long)i * n + column] - TensorPrimitives.Dot<double>(rowI, a.AsSpan(column * n, column))) / diagonal;
            }
            // Small trailing work is cheaper on one thread than scheduling it.
            if ((long)(n - j) * j < 1 << 15) for (int i = j + 1; i < n; i++) Row(i);
            else Parallel.For(j + 1, n, Row);
        }
        return true;
    }

    /// <summary>L⁻¹ of a lower triangular L (row-major, upper triangle ignored), returned transposed: row c holds column c of L⁻¹.</summary>
    internal static double[] InvertLowerTransposed(double[] l, int n)
    {
        var result = new double[(long)n * n];
        Parallel.For(0, n, c =>
        {
            var x = result.AsSpan(c * n, n);
            x[c] = 1 / l[(long)c * n + c];
            for (int i = c + 1; i < n; i++)
                x[i] = -TensorPrimitives.Dot<double>(l.AsSpan(i * n + c, i - c), x.Slice(c, i - c)) / l[(long)i * n + i];
        });
        return result;
    }
}
