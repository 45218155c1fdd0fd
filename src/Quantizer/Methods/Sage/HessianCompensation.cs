using System.Numerics.Tensors;

namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>
/// Calibrated mode (DESIGN.md §5): GPTQ/OBC-style error compensation with SAGE's fixed structure. Groups,
/// scalars, offsets, salient positions and salient scales come from a fit on the original W; then,
/// left to right, each column's signs or codes are taken on the already updated weights and its error
/// pushed onto the later columns through the upper Cholesky factor U of the damped H⁻¹
/// (w_k −= (w_j − q_j)/U_jj · U_jk for k > j). Rows are independent, so the sweep runs per row in parallel.
/// </summary>
internal static class HessianCompensation
{
    /// <summary>
    /// Sweeps the columns of <paramref name="weight"/> (a copy is updated), calling <paramref name="quantize"/>
    /// (row, column, current value) → stored value for every weight in order.
    /// </summary>
    public static void Sweep(float[] weight, int rows, int cols, double[] upper, Func<int, int, float, float> quantize)
    {
        var u = new float[(long)cols * cols];
        for (long t = 0; t < u.Length; t++) u[t] = (float)upper[t];
        Parallel.For(0, rows, i =>
        {
            var row = weight.AsSpan(i * cols, cols).ToArray();
            for (int j = 0; j < cols; j++)
            {
                float q = quantize(i, j, row[j]);
                float e = (row[j] - q) / u[(long)j * cols + j];
                if (j + 1 < cols)
                {
                    var rest = row.AsSpan(j + 1);
                    TensorPrimitives.MultiplyAdd(u.AsSpan((int)((long)j * cols + j + 1), cols - j - 1), -e, rest, rest);
                }
                row[j] = q;
            }
        });
    }
}
