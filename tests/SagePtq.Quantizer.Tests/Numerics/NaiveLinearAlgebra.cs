namespace SagePtq.Quantizer.Tests.Numerics;

/// <summary>Obviously correct O(n³) oracles and seeded test matrices.</summary>
internal static class NaiveLinearAlgebra
{
    public static float[] RandomFloats(int count, int seed, float scale = 1)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int k = 0; k < count; k++) values[k] = (float)(random.NextDouble() * 2 - 1) * scale;
        return values;
    }

    /// <summary>Inputs with correlated features: rows × cols, x = z·M for a random mixing M.</summary>
    public static float[] CorrelatedInputs(int rows, int cols, int seed)
    {
        var z = RandomFloats(rows * cols, seed);
        var mix = RandomFloats(cols * cols, seed + 1);
        for (int i = 0; i < cols; i++) mix[i * cols + i] += 2;
        var x = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                double sum = 0;
                for (int k = 0; k < cols; k++) sum += z[r * cols + k] * mix[k * cols + c];
                x[r * cols + c] = (float)sum;
            }
        return x;
    }

    /// <summary>(2/n) Σ xᵀx in double, entry by entry.</summary>
    public static double[] Hessian(float[] x, int rows, int cols)
    {
        var h = new double[cols * cols];
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++)
            {
                double sum = 0;
                for (int r = 0; r < rows; r++) sum += (double)x[r * cols + i] * x[r * cols + j];
                h[i * cols + j] = 2 * sum / rows;
            }
        return h;
    }

    /// <summary>A random symmetric positive definite matrix BᵀB + n·I.</summary>
    public static double[] RandomSpd(int n, int seed)
    {
        var b = RandomFloats(n * n, seed);
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int k = 0; k < n; k++) sum += (double)b[k * n + i] * b[k * n + j];
                a[i * n + j] = sum + (i == j ? n : 0);
            }
        return a;
    }

    /// <summary>Cholesky–Banachiewicz, lower, straight from the definition.</summary>
    public static double[] CholeskyLower(double[] a, int n)
    {
        var l = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double sum = a[i * n + j];
                for (int k = 0; k < j; k++) sum -= l[i * n + k] * l[j * n + k];
                l[i * n + j] = i == j ? Math.Sqrt(sum) : sum / l[j * n + j];
            }
        return l;
    }

    /// <summary>Gauss–Jordan inverse with partial pivoting.</summary>
    public static double[] Inverse(double[] a, int n)
    {
        var m = (double[])a.Clone();
        var inv = new double[n * n];
        for (int i = 0; i < n; i++) inv[i * n + i] = 1;
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < n; r++) if (Math.Abs(m[r * n + col]) > Math.Abs(m[pivot * n + col])) pivot = r;
            for (int c = 0; c < n; c++)
            {
                (m[col * n + c], m[pivot * n + c]) = (m[pivot * n + c], m[col * n + c]);
                (inv[col * n + c], inv[pivot * n + c]) = (inv[pivot * n + c], inv[col * n + c]);
            }
            double d = m[col * n + col];
            for (int c = 0; c < n; c++) { m[col * n + c] /= d; inv[col * n + c] /= d; }
            for (int r = 0; r < n; r++)
            {
                if (r == col) continue;
                double f = m[r * n + col];
                for (int c = 0; c < n; c++) { m[r * n + c] -= f * m[col * n + c]; inv[r * n + c] -= f * inv[col * n + c]; }
            }
        }
        return inv;
    }

    public static void AssertClose(double[] expected, double[] actual, double relative)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = expected.Max(Math.Abs);
        for (int k = 0; k < expected.Length; k++)
            Assert.True(Math.Abs(expected[k] - actual[k]) <= relative * max, $"[{k}]: expected {expected[k]}, got {actual[k]}");
    }
}
