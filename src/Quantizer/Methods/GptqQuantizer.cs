using SagePtq.Quantizer.Numerics;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Quantizer.Methods;

/// <summary>
/// Method <c>gptq</c> (Frantar et al., ICLR 2023): columns are quantized one at a time, left to
/// right (or by descending Hessian diagonal with act-order), and each column's rounding error is
/// compensated on the not-yet-quantized columns through the upper Cholesky factor of H⁻¹, with
/// lazy batch updates every <see cref="BlockSize"/> columns. Group grids are fitted when a group's
/// first column is reached, on the already-compensated values, as in the official code.
/// </summary>
public sealed class GptqQuantizer : ILinearQuantizer
{
    /// <summary>A GPTQ quantizer.</summary>
    /// <param name="bits">Code width, 2..8.</param>
    /// <param name="groupSize">Columns per group, or −1 for one group per row. Default 128.</param>
    /// <param name="actOrder">Process columns by descending diag H; stores a group index per column when groups are used.</param>
    /// <param name="percentDamp">Damping relative to mean(diag H).</param>
    /// <param name="blockSize">Columns per lazy batch.</param>
    /// <param name="range">How each group's range is chosen.</param>
    public GptqQuantizer(int bits, int groupSize = 128, bool actOrder = false, double percentDamp = 0.01, int blockSize = 128,
        GridRange range = GridRange.MinMaxWithZero)
    {
        QuantizationGrid.CheckBits(bits);
        UniformTarget.CheckGroupSize(groupSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        if (!(percentDamp > 0) || !double.IsFinite(percentDamp))
            throw new ArgumentOutOfRangeException(nameof(percentDamp), percentDamp, "percdamp must be positive and finite");
        if (!Enum.IsDefined(range)) throw new ArgumentOutOfRangeException(nameof(range), range, "unknown grid range");
        (Bits, GroupSize, ActOrder, PercentDamp, BlockSize, Range) = (bits, groupSize, actOrder, percentDamp, blockSize, range);
    }

    /// <inheritdoc />
    public string Method => "gptq";

    /// <inheritdoc />
    public bool NeedsHessian => true;

    /// <summary>Code width.</summary>
    public int Bits { get; }

    /// <summary>Columns per group; −1 = one group per row.</summary>
    public int GroupSize { get; }

    /// <summary>Whether columns are processed by descending diag H.</summary>
    public bool ActOrder { get; }

    /// <summary>Damping relative to mean(diag H).</summary>
    public double PercentDamp { get; }

    /// <summary>Columns per lazy batch.</summary>
    public int BlockSize { get; }

    /// <summary>How each group's range is chosen.</summary>
    public GridRange Range { get; }

    /// <inheritdoc />
    public QuantizedLinear Quantize(LinearTarget target)
    {
        TargetChecks.Validate(target, Method, needsHessian: true);
        int rows = target.Rows, cols = target.Cols;
        var factor = InverseHessianFactor.Compute(target.Hessian, cols, PercentDamp, ActOrder);
        int[] order = factor.Permutation ?? [.. Enumerable.Range(0, cols)];
        var work = Permuted(target.Weight, rows, cols, order, factor.DeadColumns);

        int groupSize = UniformTarget.EffectiveGroupSize(GroupSize, cols), groups = (cols + groupSize - 1) / groupSize;
        var loop = new GptqColumnLoop
        {
            Work = work, Rows = rows, Cols = cols, Upper = ToFloat(factor.Upper), Bits = Bits, GroupSize = groupSize,
            BlockSize = BlockSize, Range = Range, StaticGrids = false, Grids = new GroupGrid[(long)rows * groups],
            Codes = new byte[(long)rows * cols], Values = new float[(long)rows * cols],
        };
        loop.Run(target.Name);

        // Back to the original column order; the group of original column order[k] is k / groupSize.
        var codes = new byte[loop.Codes.Length];
        var values = new float[loop.Values.Length];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < cols; k++)
            {
                codes[r * cols + order[k]] = loop.Codes[r * cols + k];
                values[r * cols + order[k]] = loop.Values[r * cols + k];
            }
        int[]? groupIndex = null;
        if (factor.Permutation is not null && groups > 1)
        {
            groupIndex = new int[cols];
            for (int k = 0; k < cols; k++) groupIndex[order[k]] = k / groupSize;
        }
        var weights = new UniformWeights(rows, cols, Bits, groupSize, codes,
            [.. loop.Grids.Select(g => g.Scale)], [.. loop.Grids.Select(g => (byte)g.Zero)], groupIndex, [], []);
        return UniformTarget.Build(weights, values);
    }

    /// <summary>The weights with columns in processing order and dead columns zeroed.</summary>
    internal static float[] Permuted(float[] weight, int rows, int cols, int[] order, int[] deadColumns)
    {
        var work = new float[weight.Length];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < cols; k++) work[r * cols + k] = weight[r * cols + order[k]];
        if (deadColumns.Length > 0)
        {
            var position = new int[cols];
            for (int k = 0; k < cols; k++) position[order[k]] = k;
            foreach (int dead in deadColumns)
                for (int r = 0; r < rows; r++) work[r * cols + position[dead]] = 0;
        }
        return work;
    }

    internal static float[] ToFloat(double[] values)
    {
        var result = new float[values.Length];
        for (int k = 0; k < values.Length; k++) result[k] = (float)values[k];
        return result;
    }
}
