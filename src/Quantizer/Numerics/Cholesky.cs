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

    /// <summary>Columns whose entries below the diagonal block are filled by one parallel pass.</summary>
    internal const int ColumnBlock = 64;

    /// <summary>
    /// Factors A = L·Lᵀ in place: reads the lower triangle of <paramref name="matrix"/> (n × n),
    /// leaves L in it and zeros above the diagonal. Returns false, with the matrix partly
    /// overwritten, when A is not (numerically) positive definite.
    /// <para>
    /// Every entry is computed exactly as the column-at-a-time algorithm does (one dot product of the
    /// two rows' earlier entries, subtracted, divided by the diagonal), so the bits do not depend on the
    /// schedule; only the order of the work changes. Columns go in blocks of <see cref="ColumnBlock"/>:
    /// the block's own rows (the diagonal block) on one thread, then every row below it for the whole
    /// block in one parallel pass (a row needs only its own earlier entries and the diagonal block's
    /// rows). One parallel pass per 64 columns instead of one per column: on a shared machine each
    /// pass waits for the scheduler, and the per-column passes cost 100+ s of a calibrated run's wall time.
    /// </para>
    /// </summary>
    /// <exception cref="ArgumentException">The span does not hold n × n values.</exception>
    public static bool TryFactorLower(double[] matrix, int n)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        CheckSquare(matrix.Length, n);
        for (int j0 = 0; j0 < n; j0 += ColumnBlock)
        {
            int j1 = Math.Min(n, j0 + ColumnBlock);
            // The diagonal block, row by row: row i's entries j0..i, then its diagonal.
            for (int i = j0; i < j1; i++)
            {
                for (int j = j0; j < i; j++) FillBelow(matrix, n, j, i);
                int d = i * n + i;
                var rowI = matrix.AsSpan(i * n, i);
                double pivot = matrix[d] - TensorPrimitives.Dot<double>(rowI, rowI);
                if (!(pivot > 0) || !double.IsFinite(pivot)) return false;
                matrix[d] = Math.Sqrt(pivot);
            }
            // Rows below: columns j0..j1−1 of each, in column order, rows independent of one another.
            long work = (long)(n - j1) * (j1 - j0) * j1;
            if (work >= ParallelThreshold)
                Parallel.For(j1, n, i => { for (int j = j0; j < j1; j++) FillBelow(matrix, n, j, i); });
            else
                for (int i = j1; i < n; i++)
                    for (int j = j0; j < j1; j++) FillBelow(matrix, n, j, i);
        }
        var a = matrix.AsSpan();
        for (int i = 0; i < n; i++) a.Slice(i * n + i + 1, n - i - 1).Clear();
        return true;
    }

    /// <summary>L[i, j] = (A[i, j] − L[i, :j]·L[j, :j]) / L[j, j] for i &gt; j, row j and row i's first j entries done.</summary>
    private static void FillBelow(double[] matrix, int n, int j, int i)
    {
        var a = matrix.AsSpan();
        a[i * n + j] = (a[i * n + j] - TensorPrimitives.Dot<double>(a.Slice(i * n, j), a.Slice(j * n, j))) / a[j * n + j];
    }

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
