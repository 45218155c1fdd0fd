using System.Numerics;

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
        // Eigenvectors kept transposed (vt[p·n + k] = V[k, p]) so each rotation updates two contiguous rows.
        var vt = new double[n * n];
        for (int i = 0; i < n; i++) vt[i * n + i] = 1;
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
                    RotateRows(a.AsSpan(p * n, n), a.AsSpan(q * n, n), c, s);
                    RotateRows(vt.AsSpan(p * n, n), vt.AsSpan(q * n, n), c, s);
                }
        }
        var order = Enumerable.Range(0, n).OrderBy(i => a[i * n + i]).ThenBy(i => i).ToArray();
        var values = order.Select(i => a[i * n + i]).ToArray();
        var vectors = order.Select(col => vt.AsSpan(col * n, n).ToArray()).ToArray();
        return new EigenPairs(values, vectors);
    }

    /// <summary>
    /// The <paramref name="count"/> smallest eigenpairs of a symmetric n×n operator given by
    /// <paramref name="multiply"/> (y = A·x), by block Lanczos (a block Krylov space started from
    /// <paramref name="count"/> seeded random vectors, fully reorthogonalised, then Rayleigh–Ritz with
    /// Jacobi). The block start finds repeated eigenvalues (a disconnected graph's zero eigenvalue) with
    /// their whole multiplicity up to <paramref name="count"/>, which single-vector Lanczos cannot.
    /// </summary>
    public static EigenPairs LanczosSmallest(Action<double[], double[]> multiply, int n, int count, ulong seed, int? steps = null)
    {
        ArgumentNullException.ThrowIfNull(multiply);
        if (count < 1 || count > n) throw new ArgumentException($"count must be 1..{n}, got {count}", nameof(count));
        int m = Math.Min(n, steps ?? Math.Max(30 * count + 30, 150));
        var rng = new SeededRandom(seed);
        var basis = new List<double[]>(m);
        var products = new List<double[]>(m);
        var pending = new Queue<double[]>();
        for (int b = 0; b < count; b++) pending.Enqueue(RandomVector(rng, n));
        while (basis.Count < m)
        {
            var q = pending.Count > 0 ? pending.Dequeue() : RandomVector(rng, n);
            double before = Math.Sqrt(Dot(q, q));
            Orthogonalise(q, basis);
            double norm = Math.Sqrt(Dot(q, q));
            // A vector already (numerically) inside the basis adds nothing: drop it.
            if (norm <= 1e-9 * Math.Max(before, 1e-300)) continue;
            for (int i = 0; i < n; i++) q[i] /= norm;
            basis.Add(q);
            var p = new double[n];
            multiply(q, p);
            products.Add(p);
            pending.Enqueue(p.ToArray());
        }
        int size = basis.Count;
        var t = new double[size * size];
        for (int a = 0; a < size; a++)
            for (int b = 0; b <= a; b++)
            {
                double v = 0.5 * (Dot(basis[a], products[b]) + Dot(basis[b], products[a]));
                t[a * size + b] = v; t[b * size + a] = v;
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

    /// <summary>(x, y) ← (c·x − s·y, s·x + c·y), elementwise; SIMD with the scalar loop's exact roundings (no fused multiply-add).</summary>
    private static void RotateRows(Span<double> x, Span<double> y, double c, double s)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vc = new Vector<double>(c);
            var vs = new Vector<double>(s);
            for (; i <= x.Length - Vector<double>.Count; i += Vector<double>.Count)
            {
                var vx = new Vector<double>(x[i..]);
                var vy = new Vector<double>(y[i..]);
                (vc * vx - vs * vy).CopyTo(x[i..]);
                (vs * vx + vc * vy).CopyTo(y[i..]);
            }
        }
        for (; i < x.Length; i++)
        {
            double xi = x[i], yi = y[i];
            x[i] = c * xi - s * yi;
            y[i] = s * xi + c * yi;
        }
    }

    private static double[] RandomVector(SeededRandom rng, int n)
    {
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = rng.NextDouble() - 0.5;
        return x;
    }

    private static void Orthogonalise(double[] x, List<double[]> basis)
    {
        // Twice is enough (Kahan–Parlett) to keep the basis orthonormal to working precision.
        for (int pass = 0; pass < 2; pass++)
            foreach (var b in basis)
            {
                double c = Dot(x, b);
                SubtractScaled(x, b, c);
            }
    }

    /// <summary>x ← x − c·b, elementwise; SIMD with the scalar loop's exact roundings (no fused multiply-add).</summary>
    private static void SubtractScaled(Span<double> x, ReadOnlySpan<double> b, double c)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vc = new Vector<double>(c);
            for (; i <= x.Length - Vector<double>.Count; i += Vector<double>.Count)
                (new Vector<double>(x[i..]) - vc * new Vector<double>(b[i..])).CopyTo(x[i..]);
        }
        for (; i < x.Length; i++) x[i] -= c * b[i];
    }

    private static double Dot(double[] a, double[] b) =>
        System.Numerics.Tensors.TensorPrimitives.Dot<double>(a, b);
}
