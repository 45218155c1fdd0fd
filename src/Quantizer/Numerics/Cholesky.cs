using System.Numerics.Tensors;

namespace SagePtq.Quantizer.Numerics;

/// <summary>
/// Dense Cholesky factorization and the inverse built from it, on square row-major double
/// matrices. The inner loops are contiguous dot products (SIMD through TensorPrimitives) and the
/// independent rows of each step are spread over the cores once the step is large enough to pay
/// for it. Naive versions live in the tests as the oracle.
/// </summary>
public static class Cholesky
{
    /// <summary>Below this many multiply-adds a step runs on one thread.</summary>
    private const long ParallelThreshold = 32_768;

    /// <summary>
    /// Factors A = L·Lᵀ in place: reads the lower triangle of <paramref name="matrix"/> (n × n),
    /// leaves L in it and zeros above the diagonal. Returns false, with the matrix partly
    /// overwritten, when A is not (numerically) positive definite.
    /// </summary>
    /// <exception cref="ArgumentException">The span does not hold n × n values.</exception>
    public static bool TryFactorLower(double[] matrix, int n)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        CheckSquare(matrix.Length, n);
        var a = matrix.AsSpan();
        for (int j = 0; j < n; j++)
        {
            var rowJ = a.Slice(j * n, j);
            double pivot = a[j * n + j] - TensorPrimitives.Dot<double>(rowJ, rowJ);
            if (!(pivot > 0) || !double.IsFinite(pivot)) return false;
            double diagonal = Math.Sqrt(pivot);
            a[j * n + j] = diagonal;
            // Column j below the diagonal: every row i > j is independent of the others.
            long work = (long)(n - j - 1) * j;
            if (work >= ParallelThreshold)
            {
                int column = j;
                Parallel.For(j + 1, n, i => FillBelow(matrix, n, column, i, diagonal));
            }
            else
            {
                for (int i = j + 1; i < n; i++) FillBelow(a, n, j, i, diagonal);
            }
        }
        for (int i = 0; i < n; i++) a.Slice(i * n + i + 1, n - i - 1).Clear();
        return true;
    }

    private static void FillBelow(Span<double> a, int n, int j, int i, double diagonal) =>
        a[i * n + j] = (a[i * n + j] - TensorPrimitives.Dot<double>(a.Slice(i * n, j), a.Slice(j * n, j))) / diagonal;

    /// <summary>
    /// Given the lower factor L of A = L·Lᵀ (n × n, zeros above the diagonal), returns A⁻¹ (n × n,
    /// symmetric, both triangles filled). Computes M = L⁻ᵀ row by row (row k of M is column k of
    /// L⁻¹, a forward substitution), then A⁻¹ = M·Mᵀ, both with contiguous dot products.
    /// </summary>
    /// <exception cref="ArgumentException">The span does not hold n × n values.</exception>
    public static double[] InverseFromLower(ReadOnlySpan<double> lower, int n)
    {
        CheckSquare(lower.Length, n);
        var l = lower.ToArray();
        var m = new double[(long)n * n];
        ParallelRows(n, (long)n * n * n / 6, k =>
        {
            var v = m.AsSpan(k * n, n);
            v[k] = 1.0 / l[k * n + k];
            for (int i = k + 1; i < n; i++)
                v[i] = -TensorPrimitives.Dot<double>(l.AsSpan(i * n + k, i - k), v.Slice(k, i - k)) / l[i * n + i];
        });
        var inverse = new double[(long)n * n];
        ParallelRows(n, (long)n * n * n / 6, i =>
        {
            for (int j = i; j < n; j++)
            {
                // M is upper triangular: row i and row j (j ≥ i) overlap from column j on.
                double value = TensorPrimitives.Dot<double>(m.AsSpan(i * n + j, n - j), m.AsSpan(j * n + j, n - j));
                inverse[i * n + j] = value;
                inverse[j * n + i] = value;
            }
        });
        return inverse;
    }

    private static void ParallelRows(int n, long work, Action<int> row)
    {
        if (work >= ParallelThreshold) Parallel.For(0, n, row);
        else for (int i = 0; i < n; i++) row(i);
    }

    private static void CheckSquare(int length, int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        if (length != (long)n * n) throw new ArgumentException($"expected a {n} × {n} matrix ({(long)n * n} values), got {length} values");
    }
}
