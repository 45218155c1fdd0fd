namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>The few dense routines the Hessian-aware sweep needs, in double: Cholesky, triangular inverse, chol(H⁻¹).</summary>
internal static class DenseCholesky
{
    /// <summary>Lower L with A = L·Lᵀ (n×n, row-major); throws when A is not positive definite.</summary>
    public static double[] Lower(double[] a, int n)
    {
        var l = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            double d = a[j * n + j];
            for (int k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
            if (!(d > 0)) throw new ArgumentException($"the damped Hessian is not positive definite (pivot {j} is {d})");
            double ljj = Math.Sqrt(d);
            l[j * n + j] = ljj;
            Parallel.For(j + 1, n, i =>
            {
                double s = a[i * n + j];
                for (int k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
                l[i * n + j] = s / ljj;
            });
        }
        return l;
    }

    /// <summary>Inverse of a lower triangular matrix (lower triangular).</summary>
    public static double[] InverseLower(double[] l, int n)
    {
        var inv = new double[n * n];
        Parallel.For(0, n, col =>
        {
            // Forward substitution for column col of L⁻¹.
            inv[col * n + col] = 1 / l[col * n + col];
            for (int i = col + 1; i < n; i++)
            {
                double s = 0;
                for (int k = col; k < i; k++) s -= l[i * n + k] * inv[k * n + col];
                inv[i * n + col] = s / l[i * n + i];
            }
        });
        return inv;
    }

    /// <summary>Upper U with H⁻¹ = Uᵀ·U (GPTQ's factor): H⁻¹ = L⁻ᵀL⁻¹, then U = chol(H⁻¹)ᵀ.</summary>
    public static double[] UpperOfInverse(double[] h, int n)
    {
        var linv = InverseLower(Lower(h, n), n);
        var hinv = new double[n * n];
        Parallel.For(0, n, i =>
        {
            for (int j = 0; j <= i; j++)
            {
                double s = 0;
                for (int k = i; k < n; k++) s += linv[k * n + i] * linv[k * n + j];
                hinv[i * n + j] = s; hinv[j * n + i] = s;
            }
        });
        var lc = Lower(hinv, n);
        var u = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j <= i; j++) u[j * n + i] = lc[i * n + j];
        return u;
    }
}
