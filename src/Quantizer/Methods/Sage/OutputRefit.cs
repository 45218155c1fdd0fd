using System.Numerics.Tensors;

namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>
/// Output-aware refit of the stored scalars (calibrated mode, DESIGN.md §5 "output-aware objectives"):
/// with every sign, group id and salient code fixed, the row factors a_i, group factors c_g and salient
/// scales t_i are refitted to minimise the layer's output error tr((W − Ŵ)H(W − Ŵ)ᵀ) against the original
/// W, where Ŵ_i = μ_i·m_i + a_i Σ_g c_g x_ig + t_i z_i (x_ig: signs of row i in group g, z_i: its salient codes
/// minus the code midpoint, m_i: its unsalient indicator). Each row is reduced to a (K+1)×(K+1) Gram
/// matrix of its basis vectors under H (one dense H product per row); block coordinate descent on that
/// small quadratic (rows given c; c given rows) is exact per block, so the objective never increases
/// before the final FP16 rounding.
/// </summary>
internal static class OutputRefit
{
    /// <summary>The fixed structure of one matrix's quantization and the scalars to refit in place.</summary>
    /// <param name="Signs">rows × ⌈cols/8⌉ sign bits (1 = +), as the layout stores them.</param>
    /// <param name="Codes">rows × cols unsigned salient codes (read at salient positions only).</param>
    /// <param name="Salient">rows × cols salient mask.</param>
    /// <param name="Group">group of (row, column) for unsalient weights.</param>
    /// <param name="Offsets">μ per row (zeros without offsets), held fixed.</param>
    public sealed record Structure(byte[] Signs, byte[] Codes, bool[] Salient, Func<int, int, int> Group, float[] Offsets, int SalientBits);

    /// <summary>
    /// Refits <paramref name="rowFactors"/>, <paramref name="table"/> and <paramref name="salientScales"/> (doubles,
    /// unrounded) for <paramref name="mode"/>; <paramref name="rounds"/> rounds of block coordinate descent.
    /// Rows with no salient weight keep their salient scale.
    /// </summary>
    public static void Refit(float[] weight, double[] hessian, int rows, int cols, int k, GroupScaleMode mode, Structure s,
        double[] rowFactors, double[] table, double[] salientScales, int rounds = 12)
    {
        int d = k + 1; // basis: k sign groups, then the salient codes
        var gram = new double[(long)rows * d * d];
        var rhs = new double[(long)rows * d];
        var hf = new float[(long)cols * cols];
        for (long t = 0; t < hf.Length; t++) hf[t] = (float)hessian[t];
        int stride = (cols + 7) / 8, half = 1 << (s.SalientBits - 1);

        Parallel.For(0, rows, () => (new float[d * cols], new float[d * cols], new float[cols]), (i, _, buf) =>
        {
            var (basis, product, target) = buf;
            Array.Clear(basis); Array.Clear(product);
            for (int j = 0; j < cols; j++)
            {
                long idx = (long)i * cols + j;
                if (s.Salient[idx]) { basis[k * cols + j] = s.Codes[idx] - half; target[j] = weight[idx]; continue; }
                bool positive = (s.Signs[i * stride + (j >> 3)] & (1 << (j & 7))) != 0;
                basis[s.Group(i, j) * cols + j] = positive ? 1 : -1;
                target[j] = weight[idx] - s.Offsets[i];
            }
            // product_x = H·basis_x, accumulated column by column over the basis' support (H symmetric).
            for (int j = 0; j < cols; j++)
                for (int x = 0; x < d; x++)
                {
                    float v = basis[x * cols + j];
                    if (v == 0) continue;
                    var p = product.AsSpan(x * cols, cols);
                    TensorPrimitives.MultiplyAdd(hf.AsSpan((int)((long)j * cols), cols), v, p, p);
                }
            for (int x = 0; x < d; x++)
            {
                var p = product.AsSpan(x * cols, cols);
                rhs[(long)i * d + x] = TensorPrimitives.Dot(p, target);
                for (int y = 0; y < d; y++) gram[((long)i * d + x) * d + y] = TensorPrimitives.Dot(p, basis.AsSpan(y * cols, cols));
            }
            return buf;
        }, _ => { });
        Solve(rows, k, mode, gram, rhs, rowFactors, table, salientScales, rounds);
    }

    /// <summary>
    /// Block coordinate descent on Σ_i θ_iᵀ G_i θ_i − 2 θ_iᵀ r_i with θ_i = (α_i0 … α_i,k−1, t_i) per the scale mode.
    /// Exposed for tests.
    /// </summary>
    internal static void Solve(int rows, int k, GroupScaleMode mode, double[] gram, double[] rhs,
        double[] rowFactors, double[] table, double[] salientScales, int rounds)
    {
        int d = k + 1;
        double G(int i, int x, int y) => gram[((long)i * d + x) * d + y];
        if (mode == GroupScaleMode.PerRowGroup)
        {
            // Independent per row: the full (k+1)-variable least squares.
            Parallel.For(0, rows, i =>
            {
                var m = new double[d, d];
                var b = new double[d];
                for (int x = 0; x < d; x++) { b[x] = rhs[(long)i * d + x]; for (int y = 0; y < d; y++) m[x, y] = G(i, x, y); }
                var theta = new double[d];
                for (int g = 0; g < k; g++) theta[g] = table[i * k + g];
                theta[k] = salientScales[i];
                SolveSubset(m, b, theta);
                for (int g = 0; g < k; g++) table[i * k + g] = theta[g];
                salientScales[i] = theta[k];
            });
            return;
        }
        bool perRow = mode == GroupScaleMode.RowTimesGroup;
        for (int round = 0; round < rounds; round++)
        {
            // Rows, given c: the 2×2 least squares in (a_i, t_i) (a_i ≡ 1 in PerGroup mode).
            Parallel.For(0, rows, i =>
            {
                double uu = 0, uz = 0, ru = 0;
                for (int x = 0; x < k; x++)
                {
                    ru += table[x] * rhs[(long)i * d + x];
                    uz += table[x] * G(i, x, k);
                    for (int y = 0; y < k; y++) uu += table[x] * table[y] * G(i, x, y);
                }
                double zz = G(i, k, k), rz = rhs[(long)i * d + k];
                var m = new double[,] { { uu, uz }, { uz, zz } };
                var b = new[] { ru, rz };
                var theta = new[] { rowFactors[i], salientScales[i] };
                if (perRow) SolveSubset(m, b, theta);
                else if (zz > 0) theta[1] = (rz - uz * theta[0]) / zz;
                rowFactors[i] = theta[0]; salientScales[i] = theta[1];
            });
            // c, given the rows: Σ_i a_i² G_i,vv c = Σ_i a_i (r_i,v − t_i G_i,vz).
            var mc = new double[k, k];
            var bc = new double[k];
            for (int i = 0; i < rows; i++)
            {
                double a = rowFactors[i];
                for (int x = 0; x < k; x++)
                {
                    bc[x] += a * (rhs[(long)i * d + x] - salientScales[i] * G(i, x, k));
                    for (int y = 0; y < k; y++) mc[x, y] += a * a * G(i, x, y);
                }
            }
            var c = table[..k];
            SolveSubset(mc, bc, c);
            if (perRow)
            {
                // Keep max c = 1 (scale moved into a), as BinaryFit does, for FP16 precision in both.
                double cmax = c.Max();
                if (cmax > 0)
                {
                    for (int g = 0; g < k; g++) c[g] /= cmax;
                    for (int i = 0; i < rows; i++) rowFactors[i] *= cmax;
                }
            }
            Array.Copy(c, table, k);
        }
    }

    /// <summary>
    /// Solves m·θ = b over the variables with a positive diagonal (the others keep their value and are
    /// moved to the right-hand side); if the reduced system is numerically singular θ is left unchanged.
    /// </summary>
    internal static void SolveSubset(double[,] m, double[] b, double[] theta)
    {
        int n = b.Length;
        double maxDiag = 0;
        for (int x = 0; x < n; x++) maxDiag = Math.Max(maxDiag, m[x, x]);
        var free = Enumerable.Range(0, n).Where(x => m[x, x] > 1e-12 * maxDiag && m[x, x] > 0).ToArray();
        int f = free.Length;
        if (f == 0) return;
        var a = new double[f, f + 1];
        for (int p = 0; p < f; p++)
        {
            double r = b[free[p]];
            for (int x = 0; x < n; x++) if (!free.Contains(x)) r -= m[free[p], x] * theta[x];
            for (int q = 0; q < f; q++) a[p, q] = m[free[p], free[q]];
            a[p, f] = r;
        }
        // Gaussian elimination with partial pivoting.
        for (int col = 0; col < f; col++)
        {
            int piv = col;
            for (int r = col + 1; r < f; r++) if (Math.Abs(a[r, col]) > Math.Abs(a[piv, col])) piv = r;
            if (Math.Abs(a[piv, col]) <= 1e-12 * maxDiag) return;
            if (piv != col) for (int q = 0; q <= f; q++) (a[col, q], a[piv, q]) = (a[piv, q], a[col, q]);
            for (int r = col + 1; r < f; r++)
            {
                double factor = a[r, col] / a[col, col];
                for (int q = col; q <= f; q++) a[r, q] -= factor * a[col, q];
            }
        }
        var solution = new double[f];
        for (int p = f - 1; p >= 0; p--)
        {
            double r = a[p, f];
            for (int q = p + 1; q < f; q++) r -= a[p, q] * solution[q];
            solution[p] = r / a[p, p];
        }
        if (solution.Any(v => !double.IsFinite(v))) return;
        for (int p = 0; p < f; p++) theta[free[p]] = solution[p];
    }
}
