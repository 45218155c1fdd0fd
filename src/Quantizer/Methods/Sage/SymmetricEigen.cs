namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>Eigenpairs of a symmetric matrix, eigenvalues ascending; <c>Vectors[k]</c> is the unit eigenvector of <c>Values[k]</c>.</summary>
public sealed record EigenPairs(double[] Values, double[][] Vectors);

/// <summary>
/// Small symmetric eigen-solvers for the spectral embedding (DESIGN.md §5.2): cyclic Jacobi for dense
/// matrices (small, exact: the projected Lanczos matrix and the test oracle) and Lanczos with full
/// reorthogonalisation for the few smallest eigenpairs of a large sparse operator.
/// </summary>
public static class SymmetricEigen
{
    /// <summary>All eigenpairs of the dense symmetric n×n matrix <paramref name="matrix"/> (row-major), by cyclic Jacobi rotations.</summary>
    public static EigenPairs Jacobi(ReadOnlySpan<double> matrix, int n)
    {
        if (n < 0 || matrix.Length != n * n) throw new ArgumentException($"expected {n}×{n} values, got {matrix.Length}", nameof(matrix));
        var a = matrix.ToArray();
        var v = new double[n * n];
        for (int i = 0; i < n; i++) v[i * n + i] = 1;
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0, total = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) { double s = a[i * n + j] * a[i * n + j]; total += s; if (i != j) off += s; }
            if (off <= 1e-30 * Math.Max(total, 1e-300)) break;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double apq = a[p * n + q];
                    if (apq == 0) continue;
                    // Rotation angle that zeroes a[p,q] (the numerically stable tangent form).
                    double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                    double t = Math.Sign(theta == 0 ? 1 : theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < n; k++)
                    {
                        double akp = a[k * n + p], akq = a[k * n + q];
                        a[k * n + p] = c * akp - s * akq;
                        a[k * n + q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double apk = a[p * n + k], aqk = a[q * n + k];
                        a[p * n + k] = c * apk - s * aqk;
                        a[q * n + k] = s * apk + c * aqk;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double vkp = v[k * n + p], vkq = v[k * n + q];
                        v[k * n + p] = c * vkp - s * vkq;
                        v[k * n + q] = s * vkp + c * vkq;
                    }
                }
        }
        var order = Enumerable.Range(0, n).OrderBy(i => a[i * n + i]).ThenBy(i => i).ToArray();
        var values = order.Select(i => a[i * n + i]).ToArray();
        var vectors = order.Select(col => Enumerable.Range(0, n).Select(row => v[row * n + col]).ToArray()).ToArray();
        return new EigenPairs(values, vectors);
    }

    /// <summary>
    /// The <paramref name="count"/> smallest eigenpairs of a symmetric n×n operator given by
    /// <paramref name="multiply"/> (y = A·x), by Lanczos with full reorthogonalisation. On breakdown the
    /// iteration restarts from a fresh seeded vector orthogonal to the basis, so repeated eigenvalues
    /// (a disconnected graph's zero eigenvalue) are found with their whole multiplicity.
    /// </summary>
    public static EigenPairs LanczosSmallest(Action<double[], double[]> multiply, int n, int count, ulong seed, int? steps = null)
    {
        ArgumentNullException.ThrowIfNull(multiply);
        if (count < 1 || count > n) throw new ArgumentException($"count must be 1..{n}, got {count}", nameof(count));
        int m = Math.Min(n, steps ?? Math.Max(4 * count + 30, 60));
        var rng = new SeededRandom(seed);
        var basis = new List<double[]>(m);
        var alpha = new double[m];
        var beta = new double[m]; // beta[k] couples basis k-1 and k; zero after a restart
        var q = RandomUnitOrthogonal(rng, n, basis);
        var w = new double[n];
        for (int k = 0; k < m; k++)
        {
            basis.Add(q);
            multiply(q, w);
            alpha[k] = Dot(w, q);
            // Full reorthogonalisation (twice, "twice is enough") keeps the basis orthonormal.
            for (int pass = 0; pass < 2; pass++)
                foreach (var b in basis)
                {
                    double c = Dot(w, b);
                    for (int i = 0; i < n; i++) w[i] -= c * b[i];
                }
            if (k + 1 == m) break;
            double norm = Math.Sqrt(Dot(w, w));
            double scale = Math.Sqrt(Math.Abs(alpha[k])) + 1e-300;
            if (norm <= 1e-10 * Math.Max(scale, 1))
            {
                beta[k + 1] = 0;
                q = RandomUnitOrthogonal(rng, n, basis);
            }
            else
            {
                beta[k + 1] = norm;
                q = new double[n];
                for (int i = 0; i < n; i++) q[i] = w[i] / norm;
            }
        }
        int size = basis.Count;
        var t = new double[size * size];
        for (int k = 0; k < size; k++)
        {
            t[k * size + k] = alpha[k];
            if (k > 0) { t[k * size + k - 1] = beta[k]; t[(k - 1) * size + k] = beta[k]; }
        }
        var small = Jacobi(t, size);
        var values = new double[count];
        var vectors = new double[count][];
        for (int e = 0; e < count; e++)
        {
            values[e] = small.Values[e];
            var y = small.Vectors[e];
            var x = new double[n];
            for (int k = 0; k < size; k++)
            {
                double c = y[k];
                var b = basis[k];
                for (int i = 0; i < n; i++) x[i] += c * b[i];
            }
            double norm = Math.Sqrt(Dot(x, x));
            for (int i = 0; i < n; i++) x[i] /= norm;
            vectors[e] = x;
        }
        return new EigenPairs(values, vectors);
    }

    private static double[] RandomUnitOrthogonal(SeededRandom rng, int n, List<double[]> basis)
    {
        for (int attempt = 0; attempt < 8; attempt++)
        {
            var x = new double[n];
            for (int i = 0; i < n; i++) x[i] = rng.NextDouble() - 0.5;
            for (int pass = 0; pass < 2; pass++)
                foreach (var b in basis)
                {
                    double c = Dot(x, b);
                    for (int i = 0; i < n; i++) x[i] -= c * b[i];
                }
            double norm = Math.Sqrt(Dot(x, x));
            if (norm > 1e-8)
            {
                for (int i = 0; i < n; i++) x[i] /= norm;
                return x;
            }
        }
        throw new InvalidOperationException("Lanczos: the basis already spans the whole space");
    }

    private static double Dot(double[] a, double[] b) =>
        System.Numerics.Tensors.TensorPrimitives.Dot<double>(a, b);
}
